//! `alertgate alerts` and `alertgate alert INTEGRATION ID`: read the database, print for people.

use super::CliResult;
use crate::lifecycle::Alert;
use crate::model::State;
use crate::store::{AlertFilter, Database, DbLocation, TimelineEntry};
use crate::time;

#[derive(clap::Args)]
pub struct AlertsArgs {
    /// Only these states, as a comma list: open,acknowledged,resolved.
    #[arg(long, value_delimiter = ',', value_parser = parse_state)]
    state: Vec<State>,
    /// Only this integration.
    #[arg(long)]
    integration: Option<String>,
    /// At most this many, newest change first.
    #[arg(long, default_value_t = 50)]
    limit: usize,
}

#[derive(clap::Args)]
pub struct AlertArgs {
    integration: String,
    id: String,
}

fn parse_state(text: &str) -> Result<State, String> {
    State::parse(text).ok_or_else(|| format!("`{text}` is not one of {}", State::expected()))
}

pub(super) fn list(args: AlertsArgs, db: &DbLocation) -> CliResult {
    let database = Database::open(db).map_err(|error| error.to_string())?;
    let filter = AlertFilter {
        states: args.state,
        integration: args.integration,
        limit: args.limit.max(1),
        ..AlertFilter::default()
    };
    let page = database
        .alerts(&filter)
        .map_err(|error| error.to_string())?;
    if page.alerts.is_empty() {
        println!("no alerts");
        return Ok(());
    }
    let rows: Vec<[String; 7]> = page.alerts.iter().map(row).collect();
    print_table(
        &[
            "STATE",
            "SEVERITY",
            "INTEGRATION",
            "ID",
            "TITLE",
            "SEEN",
            "UPDATED",
        ],
        &rows,
    );
    if page.next.is_some() {
        println!("(more: raise --limit or narrow with --state / --integration)");
    }
    Ok(())
}

pub(super) fn show(args: &AlertArgs, db: &DbLocation) -> CliResult {
    let database = Database::open(db).map_err(|error| error.to_string())?;
    let alert = database
        .alert(&args.integration, &args.id)
        .map_err(|error| error.to_string())?
        .ok_or_else(|| {
            format!(
                "no alert `{}` in integration `{}`",
                args.id, args.integration
            )
        })?;
    print_alert(&alert);
    let timeline = database
        .timeline(&args.integration, &args.id)
        .map_err(|error| error.to_string())?;
    println!();
    let rows: Vec<[String; 7]> = timeline.iter().map(timeline_row).collect();
    print_table(
        &[
            "SEQ",
            "AT",
            "ACTION",
            "OUTCOME",
            "STATE",
            "SOURCE",
            "BY / NOTE",
        ],
        &rows,
    );
    Ok(())
}

fn row(alert: &Alert) -> [String; 7] {
    [
        alert.state.to_string(),
        alert
            .severity
            .map_or("-".into(), |severity| severity.to_string()),
        alert.integration.clone(),
        alert.id.clone(),
        shorten(&alert.title, 48),
        format!("{}×", alert.occurrences),
        time::format(alert.updated_at),
    ]
}

fn print_alert(alert: &Alert) {
    let optional = |text: &Option<String>| text.clone().unwrap_or_else(|| "-".into());
    let when = |at: Option<chrono::DateTime<chrono::Utc>>, by: &Option<String>| match at {
        None => "-".to_string(),
        Some(at) => format!(
            "{}{}",
            time::format(at),
            by.as_ref()
                .map(|by| format!(" by {by}"))
                .unwrap_or_default()
        ),
    };
    let fields = [
        ("alert", format!("{} / {}", alert.integration, alert.id)),
        ("state", alert.state.to_string()),
        ("title", alert.title.clone()),
        ("description", optional(&alert.description)),
        (
            "severity",
            alert
                .severity
                .map_or("-".into(), |severity| severity.to_string()),
        ),
        (
            "tags",
            if alert.tags.is_empty() {
                "-".into()
            } else {
                alert.tags.join(", ")
            },
        ),
        (
            "occurrences",
            format!("{} in episode {}", alert.occurrences, alert.episode),
        ),
        ("created", time::format(alert.created_at)),
        ("opened", time::format(alert.opened_at)),
        (
            "acknowledged",
            when(alert.acknowledged_at, &alert.acknowledged_by),
        ),
        ("resolved", when(alert.resolved_at, &alert.resolved_by)),
        ("updated", time::format(alert.updated_at)),
    ];
    for (name, value) in fields {
        println!("{name:>13}  {}", terminal_safe(&value));
    }
    if let Some(meta) = &alert.meta {
        let meta = serde_json::Value::Object(meta.clone()).to_string();
        println!("{:>13}  {}", "meta", terminal_safe(&meta));
    }
}

fn timeline_row(entry: &TimelineEntry) -> [String; 7] {
    let outcome = match entry.outcome.reason() {
        Some(reason) => format!("{} ({})", entry.outcome.as_str(), reason.as_str()),
        None => entry.outcome.as_str().to_string(),
    };
    let who = [entry.by.as_deref(), entry.note.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(": ");
    [
        entry.seq.to_string(),
        crate::time::format(entry.at),
        entry.action.to_string(),
        outcome,
        entry.to_state.to_string(),
        entry.source.to_string(),
        shorten(&who, 60),
    ]
}

/// Prints rows under headers, each column as wide as its widest cell; what senders wrote is
/// shown terminal-safe.
fn print_table<const N: usize>(headers: &[&str; N], rows: &[[String; N]]) {
    let rows: Vec<[String; N]> = rows
        .iter()
        .map(|row| row.clone().map(|cell| terminal_safe(&cell)))
        .collect();
    let rows = rows.as_slice();
    let mut widths = headers.map(|header| header.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// `text` with every character a terminal would act on or reorder by (control characters,
/// bidirectional overrides and isolates, other invisible format characters) written as
/// `\u{…}`, so an alert's text can neither move the cursor nor make a line read otherwise
/// than it is. What Rust's `escape_debug` would escape is what counts as such.
fn terminal_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if matches!(c, '\\' | '"' | '\'') || c.escape_debug().len() == 1 {
                c.to_string()
            } else {
                c.escape_unicode().to_string()
            }
        })
        .collect()
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let kept: String = text.chars().take(max - 1).collect();
    format!("{kept}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_output_escapes_controls_and_bidirectional_overrides_only() {
        assert_eq!(
            terminal_safe("disk \u{202e}lluf\u{202c} on db-1"),
            "disk \\u{202e}lluf\\u{202c} on db-1"
        );
        assert_eq!(terminal_safe("a\u{1b}[2Jb\r\n"), "a\\u{1b}[2Jb\\u{d}\\u{a}");
        assert_eq!(
            terminal_safe("\u{2066}x\u{2069}\u{200f}"),
            "\\u{2066}x\\u{2069}\\u{200f}"
        );
        let plain = r#"Ünïcödé "quoted" 'single' back\slash 🔥 日本語"#;
        assert_eq!(terminal_safe(plain), plain);
    }
}
