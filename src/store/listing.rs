//! SQL for `GET /v1/alerts`: filtered, newest change first, keyset-paginated on `change_seq`.
//!
//! Every filter has an index to search: state, integration and severity have one each on
//! `alerts` ending in `change_seq`; a tag drives the query from `alert_tags`; a title search of
//! three characters or more drives it from the trigram index `alert_titles`. `change_seq` only
//! grows, so a page boundary stays put while new alerts arrive above it.

use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection};

use super::alerts::{raw_alert, ALERT_COLUMNS};
use super::StoreError;
use crate::lifecycle::Alert;
use crate::model::{Severity, State};
use crate::time;

/// The shortest `q` the trigram index can serve; shorter ones are matched row by row.
const TRIGRAM: usize = 3;

/// What `GET /v1/alerts` asks for, already validated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertFilter {
    /// Any of these states; empty means all.
    pub states: Vec<State>,
    pub integration: Option<String>,
    /// Any of these severities; empty means all.
    pub severities: Vec<Severity>,
    pub tag: Option<String>,
    /// A case-insensitive substring of the title.
    pub title_contains: Option<String>,
    /// `since <= updated_at`.
    pub since: Option<DateTime<Utc>>,
    /// `updated_at < until`.
    pub until: Option<DateTime<Utc>>,
    /// Only alerts whose last change came before this one (the cursor).
    pub changed_before: Option<i64>,
    pub limit: usize,
}

/// One page of alerts and where the next one starts.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertPage {
    pub alerts: Vec<Alert>,
    /// The `change_seq` to continue before, when there are more.
    pub next: Option<i64>,
}

pub(super) fn list(connection: &Connection, filter: &AlertFilter) -> Result<AlertPage, StoreError> {
    let (sql, values) = build(filter, &format!("{}, a.change_seq", prefixed_columns()));
    let mut statement = connection.prepare_cached(&sql)?;
    let rows = statement.query_map(params_from_iter(values), |row| {
        Ok((raw_alert(row)?, row.get::<_, i64>(18)?))
    })?;
    let mut alerts = Vec::with_capacity(filter.limit + 1);
    let mut last_seq = None;
    for row in rows {
        let (raw, change_seq) = row?;
        if alerts.len() == filter.limit {
            return Ok(AlertPage {
                alerts,
                next: last_seq,
            });
        }
        alerts.push(raw.into_alert()?);
        last_seq = Some(change_seq);
    }
    Ok(AlertPage { alerts, next: None })
}

/// `EXPLAIN QUERY PLAN` of the query `filter` makes, one line per step.
pub(super) fn plan(
    connection: &Connection,
    filter: &AlertFilter,
) -> Result<Vec<String>, StoreError> {
    let (sql, values) = build(filter, &prefixed_columns());
    let mut statement = connection.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
    let lines = statement.query_map(params_from_iter(values), |row| row.get::<_, String>(3))?;
    Ok(lines.collect::<Result<_, _>>()?)
}

fn prefixed_columns() -> String {
    ALERT_COLUMNS
        .split(", ")
        .map(|column| format!("a.{column}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The SQL and its values. A tag or a long enough title search is the driving table (CROSS JOIN
/// fixes the order in SQLite); otherwise the planner picks among the indexes on `alerts`.
fn build(filter: &AlertFilter, columns: &str) -> (String, Vec<Value>) {
    let mut from = "alerts a".to_string();
    let mut conditions: Vec<String> = Vec::new();
    let mut values: Vec<Value> = Vec::new();

    if let Some(tag) = &filter.tag {
        from = "alert_tags t CROSS JOIN alerts a ON a.key = t.alert_key".into();
        conditions.push("t.tag = ?".into());
        values.push(Value::Text(tag.clone()));
    }
    if let Some(text) = &filter.title_contains {
        if text.chars().count() < TRIGRAM {
            conditions.push("instr(lower(a.title), lower(?)) > 0".into());
            values.push(Value::Text(text.clone()));
        } else {
            if filter.tag.is_none() {
                from = "alert_titles CROSS JOIN alerts a ON a.key = alert_titles.rowid".into();
                conditions.push("alert_titles MATCH ?".into());
            } else {
                conditions.push(
                    "a.key IN (SELECT rowid FROM alert_titles WHERE alert_titles MATCH ?)".into(),
                );
            }
            values.push(Value::Text(phrase(text)));
        }
    }
    let states = filter.states.iter().map(|state| state.as_str());
    push_any_of(&mut conditions, &mut values, "a.state", states);
    if let Some(integration) = &filter.integration {
        conditions.push("a.integration = ?".into());
        values.push(Value::Text(integration.clone()));
    }
    let severities = filter.severities.iter().map(|severity| severity.as_str());
    push_any_of(&mut conditions, &mut values, "a.severity", severities);
    if let Some(since) = filter.since {
        conditions.push("a.updated_at >= ?".into());
        values.push(Value::Text(time::format(since)));
    }
    if let Some(until) = filter.until {
        conditions.push("a.updated_at < ?".into());
        values.push(Value::Text(time::format(until)));
    }
    if let Some(before) = filter.changed_before {
        conditions.push("a.change_seq < ?".into());
        values.push(Value::Integer(before));
    }
    let filter_sql = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    // One row more than a page tells whether there is a next page.
    values.push(Value::Integer(
        i64::try_from(filter.limit).unwrap_or(i64::MAX) + 1,
    ));
    let sql =
        format!("SELECT {columns} FROM {from}{filter_sql} ORDER BY a.change_seq DESC LIMIT ?");
    (sql, values)
}

fn push_any_of<'a>(
    conditions: &mut Vec<String>,
    values: &mut Vec<Value>,
    column: &str,
    texts: impl ExactSizeIterator<Item = &'a str>,
) {
    if texts.len() == 0 {
        return;
    }
    let placeholders = vec!["?"; texts.len()].join(", ");
    conditions.push(format!("{column} IN ({placeholders})"));
    values.extend(texts.map(|text| Value::Text(text.to_string())));
}

/// An FTS5 phrase matching `text` literally: with the trigram tokenizer, a substring match.
fn phrase(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}
