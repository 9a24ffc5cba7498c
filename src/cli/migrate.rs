//! `alertgate migrate --to postgres://…` (SPEC §11): the SQLite database `--db` names, copied
//! whole into an empty PostgreSQL database, with a progress line on standard error and the
//! counts of both sides printed at the end.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use super::CliResult;
use crate::store::migrate::{self, MigrateError, Progress, Report};
use crate::store::{DbLocation, PgUrl};

#[derive(clap::Args)]
pub struct MigrateArgs {
    /// The PostgreSQL database to copy into (postgres://…): empty, or only just created by a
    /// first start.
    #[arg(long, value_name = "URL")]
    to: String,
}

/// How often the progress line is redrawn at most.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

pub(super) fn run(args: &MigrateArgs, location: &DbLocation) -> CliResult {
    let DbLocation::Sqlite(source) = location else {
        return Err(format!(
            "migrate copies a SQLite database into PostgreSQL, and --db names PostgreSQL \
             ({location}); give --db the SQLite file"
        ));
    };
    let target = match DbLocation::parse(&args.to) {
        Ok(DbLocation::Postgres(url)) => url,
        Ok(DbLocation::Sqlite(_)) => {
            return Err(format!(
                "--to takes a PostgreSQL URL (postgres://user:password@host/database), not `{}`",
                args.to
            ))
        }
        Err(why) => return Err(format!("--to: {why}")),
    };
    let started = Instant::now();
    let mut shown = Instant::now();
    let mut show = |progress: Progress<'_>| {
        let last = progress.done == progress.total;
        if last || shown.elapsed() >= PROGRESS_EVERY {
            shown = Instant::now();
            eprintln!(
                "migrate: {} {}/{}",
                progress.table, progress.done, progress.total
            );
        }
    };
    let report =
        migrate::sqlite_to_postgres(source, &target, &mut show).map_err(|error| match error {
            MigrateError::Store(error) => format!("migrate failed, nothing was copied: {error}"),
            refused => refused.to_string(),
        })?;
    print_report(source, &target, &report, started.elapsed().as_secs_f64())
        .map_err(|error| format!("cannot print the counts: {error}"))
}

/// The counts of both sides, table by table, and what to do next.
fn print_report(
    source: &Path,
    target: &PgUrl,
    report: &Report,
    seconds: f64,
) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Migrated {} to {target} in {seconds:.1} s; every count matches:",
        source.display()
    )?;
    writeln!(out, "{:<20} {:>12} {:>12}", "table", "SQLite", "PostgreSQL")?;
    for count in &report.counts {
        writeln!(
            out,
            "{:<20} {:>12} {:>12}",
            count.table, count.source, count.target
        )?;
    }
    writeln!(
        out,
        "The next event's seq follows {}. Start alertgate with --db '{target}'.",
        report.last_seq
    )?;
    if report.source_in_use {
        writeln!(
            out,
            "A server was running on {}: what it accepted after the copy began is not in \
             PostgreSQL. Stop it before moving senders over.",
            source.display()
        )?;
    }
    Ok(())
}
