//! SQL for alerts and their timelines.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;

use super::{corrupt, StoreError};
use crate::lifecycle::{Alert, Event, Outcome, Transition};
use crate::model::{Action, Severity, Source, State};
use crate::time;

const ALERT_COLUMNS: &str = "integration, id, state, title, description, severity, tags, meta, \
     occurrences, episode, created_at, opened_at, acknowledged_at, acknowledged_by, resolved_at, \
     resolved_by, updated_at, last_occurred_at";

pub(super) fn load(
    connection: &Connection,
    integration: &str,
    id: &str,
) -> Result<Option<Alert>, StoreError> {
    let sql = format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE integration = ?1 AND id = ?2");
    let mut statement = connection.prepare_cached(&sql)?;
    let row = statement
        .query_row(params![integration, id], raw_alert)
        .optional()?;
    row.map(RawAlert::into_alert).transpose()
}

/// Writes the alert as it now stands (insert or replace).
pub(super) fn save(connection: &Connection, alert: &Alert) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT OR REPLACE INTO alerts ({ALERT_COLUMNS}) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)"
    );
    let tags = serde_json::to_string(&alert.tags).expect("strings serialize");
    let meta = alert
        .meta
        .as_ref()
        .map(|meta| serde_json::Value::Object(meta.clone()).to_string());
    connection.prepare_cached(&sql)?.execute(params![
        alert.integration,
        alert.id,
        alert.state.as_str(),
        alert.title,
        alert.description,
        alert.severity.map(Severity::as_str),
        tags,
        meta,
        alert.occurrences,
        alert.episode,
        time::format(alert.created_at),
        time::format(alert.opened_at),
        alert.acknowledged_at.map(time::format),
        alert.acknowledged_by,
        alert.resolved_at.map(time::format),
        alert.resolved_by,
        time::format(alert.updated_at),
        alert.last_occurred_at.map(time::format),
    ])?;
    Ok(())
}

/// Appends one entry to the alert's timeline.
pub(super) fn append_event(
    connection: &Connection,
    event: &Event,
    transition: &Transition,
    to_state: State,
    delivery: Option<&str>,
    body: Option<&str>,
) -> Result<i64, StoreError> {
    let mut statement = connection.prepare_cached(
        "INSERT INTO alert_events (integration, alert_id, at, action, outcome, reason, from_state, \
         to_state, source, delivery, by_whom, note, occurred_at, body) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?;
    statement.execute(params![
        event.integration,
        event.id,
        time::format(event.at),
        event.action.as_str(),
        transition.outcome.as_str(),
        transition.outcome.reason().map(|reason| reason.as_str()),
        transition.from.map(State::as_str),
        to_state.as_str(),
        event.source.as_str(),
        delivery,
        event.by,
        event.note,
        event.occurred_at.map(time::format),
        body,
    ])?;
    Ok(connection.last_insert_rowid())
}

/// One entry of an alert's timeline, as SPEC §5 shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEntry {
    pub seq: i64,
    pub at: String,
    pub action: Action,
    pub outcome: String,
    pub reason: Option<String>,
    pub from_state: Option<State>,
    pub to_state: State,
    pub source: Source,
    pub delivery: Option<String>,
    pub by: Option<String>,
    pub note: Option<String>,
    pub occurred_at: Option<String>,
}

/// The alert's timeline, oldest first, from `after_seq` on, at most `limit` entries.
pub(super) fn timeline(
    connection: &Connection,
    integration: &str,
    id: &str,
    after_seq: i64,
    limit: usize,
) -> Result<Vec<TimelineEntry>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT seq, at, action, outcome, reason, from_state, to_state, source, delivery, by_whom, \
         note, occurred_at FROM alert_events \
         WHERE integration = ?1 AND alert_id = ?2 AND seq > ?3 ORDER BY seq LIMIT ?4",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = statement.query_map(params![integration, id, after_seq, limit], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, String>(3)?,
            row.get::<_, Option<String>>(4)?,
            row.get::<_, Option<String>>(5)?,
            row.get::<_, String>(6)?,
            row.get::<_, String>(7)?,
            (row.get(8)?, row.get(9)?, row.get(10)?, row.get(11)?),
        ))
    })?;
    rows.map(|row| {
        let (seq, at, action, outcome, reason, from, to, source, (delivery, by, note, occurred_at)) = row?;
        Ok(TimelineEntry {
            seq,
            at,
            action: Action::parse(&action).ok_or_else(|| corrupt("action", &action))?,
            outcome,
            reason,
            from_state: from.map(|from| parse_state(&from)).transpose()?,
            to_state: parse_state(&to)?,
            source: Source::parse(&source).ok_or_else(|| corrupt("source", &source))?,
            delivery,
            by,
            note,
            occurred_at,
        })
    })
    .collect()
}

/// Whether an outcome changed the alert (and so must be saved).
pub(super) fn changes_alert(outcome: Outcome) -> bool {
    !matches!(outcome, Outcome::Ignored(_))
}

fn parse_state(text: &str) -> Result<State, StoreError> {
    State::parse(text).ok_or_else(|| corrupt("state", text))
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, StoreError> {
    time::parse(text).ok_or_else(|| corrupt("time", text))
}

fn parse_optional_time(text: Option<String>) -> Result<Option<DateTime<Utc>>, StoreError> {
    text.as_deref().map(parse_time).transpose()
}

/// A row of `alerts` as SQLite gives it, before its text is parsed into domain types.
struct RawAlert {
    integration: String,
    id: String,
    state: String,
    title: String,
    description: Option<String>,
    severity: Option<String>,
    tags: String,
    meta: Option<String>,
    occurrences: i64,
    episode: i64,
    created_at: String,
    opened_at: String,
    acknowledged_at: Option<String>,
    acknowledged_by: Option<String>,
    resolved_at: Option<String>,
    resolved_by: Option<String>,
    updated_at: String,
    last_occurred_at: Option<String>,
}

fn raw_alert(row: &Row<'_>) -> rusqlite::Result<RawAlert> {
    Ok(RawAlert {
        integration: row.get(0)?,
        id: row.get(1)?,
        state: row.get(2)?,
        title: row.get(3)?,
        description: row.get(4)?,
        severity: row.get(5)?,
        tags: row.get(6)?,
        meta: row.get(7)?,
        occurrences: row.get(8)?,
        episode: row.get(9)?,
        created_at: row.get(10)?,
        opened_at: row.get(11)?,
        acknowledged_at: row.get(12)?,
        acknowledged_by: row.get(13)?,
        resolved_at: row.get(14)?,
        resolved_by: row.get(15)?,
        updated_at: row.get(16)?,
        last_occurred_at: row.get(17)?,
    })
}

impl RawAlert {
    fn into_alert(self) -> Result<Alert, StoreError> {
        let meta = match self.meta {
            None => None,
            Some(text) => match serde_json::from_str(&text) {
                Ok(serde_json::Value::Object(meta)) => Some(meta),
                _ => return Err(corrupt("meta", &text)),
            },
        };
        Ok(Alert {
            state: parse_state(&self.state)?,
            severity: match self.severity {
                Some(text) => {
                    Some(Severity::parse(&text).ok_or_else(|| corrupt("severity", &text))?)
                }
                None => None,
            },
            tags: serde_json::from_str(&self.tags).map_err(|_| corrupt("tags", &self.tags))?,
            meta,
            created_at: parse_time(&self.created_at)?,
            opened_at: parse_time(&self.opened_at)?,
            acknowledged_at: parse_optional_time(self.acknowledged_at)?,
            resolved_at: parse_optional_time(self.resolved_at)?,
            updated_at: parse_time(&self.updated_at)?,
            last_occurred_at: parse_optional_time(self.last_occurred_at)?,
            integration: self.integration,
            id: self.id,
            title: self.title,
            description: self.description,
            occurrences: self.occurrences,
            episode: self.episode,
            acknowledged_by: self.acknowledged_by,
            resolved_by: self.resolved_by,
        })
    }
}
