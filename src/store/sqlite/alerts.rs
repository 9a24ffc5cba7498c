//! SQL for alerts and their timelines.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{corrupt, AppliedEvent, StoreError, TimelineEntry};
use crate::lifecycle::{Alert, Event, Transition};
use crate::model::{Severity, Source, State};
use crate::store::stored;
use crate::time;

/// The columns an `Alert` is read from and written to, in `raw_alert`'s order. A macro, so the
/// statements below are string constants rather than strings built for every event.
macro_rules! alert_columns {
    () => {
        "integration, id, state, title, description, severity, tags, meta, \
         occurrences, episode, created_at, opened_at, acknowledged_at, acknowledged_by, \
         resolved_at, resolved_by, updated_at, last_occurred_at"
    };
}

pub(super) const ALERT_COLUMNS: &str = alert_columns!();

const LOAD: &str = concat!(
    "SELECT ",
    alert_columns!(),
    " FROM alerts WHERE integration = ?1 AND id = ?2"
);

const INSERT: &str = concat!(
    "INSERT INTO alerts (",
    alert_columns!(),
    ", change_seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, \
     ?17, ?18, ?19)"
);

pub(super) const UPDATE: &str =
    "UPDATE alerts SET state = ?3, title = ?4, description = ?5, severity = ?6, \
     tags = ?7, meta = ?8, occurrences = ?9, episode = ?10, created_at = ?11, opened_at = ?12, \
     acknowledged_at = ?13, acknowledged_by = ?14, resolved_at = ?15, resolved_by = ?16, \
     updated_at = ?17, last_occurred_at = ?18, change_seq = ?19 \
     WHERE integration = ?1 AND id = ?2";

const KEY: &str = "SELECT key FROM alerts WHERE integration = ?1 AND id = ?2";

/// The alert columns of `alerts a`, for queries that join it.
pub(super) fn prefixed_alert_columns() -> String {
    ALERT_COLUMNS
        .split(", ")
        .map(|column| format!("a.{column}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn load(
    connection: &Connection,
    integration: &str,
    id: &str,
) -> Result<Option<Alert>, StoreError> {
    let mut statement = connection.prepare_cached(LOAD)?;
    let row = statement
        .query_row(params![integration, id], raw_alert)
        .optional()?;
    row.map(RawAlert::into_alert).transpose()
}

/// Writes the alert as it now stands, marked with the seq of the event that changed it, and
/// keeps the tag and title indexes in step with it.
///
/// No `RETURNING`: SQLite buffers returned rows in a temporary b-tree, which cost more than the
/// rest of the statement. A new row's key is `last_insert_rowid`; an existing row's is looked up
/// only when its title or tags changed, which is rare.
pub(super) fn save(
    connection: &Connection,
    previous: Option<&Alert>,
    alert: &Alert,
    change_seq: i64,
) -> Result<(), StoreError> {
    let tags = serde_json::to_string(&alert.tags).expect("strings serialize");
    let meta = alert
        .meta
        .as_ref()
        .map(|meta| serde_json::to_string(meta).expect("JSON serializes"));
    let (created_at, opened_at, updated_at) = (
        time::format(alert.created_at),
        time::format(alert.opened_at),
        time::format(alert.updated_at),
    );
    let acknowledged_at = alert.acknowledged_at.map(time::format);
    let resolved_at = alert.resolved_at.map(time::format);
    let last_occurred_at = alert.last_occurred_at.map(time::format);
    let values = params![
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
        created_at,
        opened_at,
        acknowledged_at,
        alert.acknowledged_by,
        resolved_at,
        alert.resolved_by,
        updated_at,
        last_occurred_at,
        change_seq,
    ];
    let inserted = if previous.is_none() {
        connection.prepare_cached(INSERT)?.execute(values)?;
        Some(connection.last_insert_rowid())
    } else {
        let updated = connection.prepare_cached(UPDATE)?.execute(values)?;
        if updated != 1 {
            return Err(StoreError::Corrupt(format!(
                "alert {} of {} vanished while being updated",
                alert.id, alert.integration
            )));
        }
        None
    };
    reindex(connection, previous, alert, inserted)
}

/// Keeps the title and tag indexes in step with the alert just written; `inserted` is its key
/// when it is new.
fn reindex(
    connection: &Connection,
    previous: Option<&Alert>,
    alert: &Alert,
    inserted: Option<i64>,
) -> Result<(), StoreError> {
    let title_changed = previous.is_none_or(|old| old.title != alert.title);
    let tags_changed = previous.is_none_or(|old| old.tags != alert.tags);
    if !title_changed && !tags_changed {
        return Ok(());
    }
    let key = match inserted {
        Some(key) => key,
        None => connection
            .prepare_cached(KEY)?
            .query_row(params![alert.integration, alert.id], |row| row.get(0))?,
    };
    if title_changed {
        index_title(
            connection,
            key,
            previous.map(|old| old.title.as_str()),
            &alert.title,
        )?;
    }
    if tags_changed {
        index_tags(connection, key, previous.is_some(), &alert.tags)?;
    }
    Ok(())
}

/// Replaces the alert's entry in the trigram index of titles.
fn index_title(
    connection: &Connection,
    key: i64,
    old: Option<&str>,
    new: &str,
) -> Result<(), StoreError> {
    if let Some(old) = old {
        // An external-content FTS5 table forgets a row only when told its old text.
        connection
            .prepare_cached(
                "INSERT INTO alert_titles (alert_titles, rowid, title) VALUES ('delete', ?1, ?2)",
            )?
            .execute(params![key, old])?;
    }
    connection
        .prepare_cached("INSERT INTO alert_titles (rowid, title) VALUES (?1, ?2)")?
        .execute(params![key, new])?;
    Ok(())
}

fn index_tags(
    connection: &Connection,
    key: i64,
    had_tags: bool,
    tags: &[String],
) -> Result<(), StoreError> {
    if had_tags {
        connection
            .prepare_cached("DELETE FROM alert_tags WHERE alert_key = ?1")?
            .execute([key])?;
    }
    let mut insert = connection
        .prepare_cached("INSERT OR IGNORE INTO alert_tags (tag, alert_key) VALUES (?1, ?2)")?;
    for tag in tags {
        insert.execute(params![tag, key])?;
    }
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
        transition
            .outcome
            .reason()
            .map(crate::lifecycle::Reason::as_str),
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
            (
                row.get(8)?,
                row.get(9)?,
                row.get(10)?,
                row.get::<_, Option<String>>(11)?,
            ),
        ))
    })?;
    rows.map(|row| {
        let (seq, at, action, outcome, reason, from, to, source, (delivery, by, note, occurred_at)) = row?;
        Ok(TimelineEntry {
            seq,
            at: parse_time(&at)?,
            action: stored::action(&action)?,
            outcome: stored::outcome(&outcome, reason.as_deref())?,
            from_state: from.map(|from| stored::state(&from)).transpose()?,
            to_state: stored::state(&to)?,
            source: Source::parse(&source).ok_or_else(|| corrupt("source", &source))?,
            delivery,
            by,
            note,
            occurred_at: parse_optional_time(occurred_at.as_deref())?,
        })
    })
    .collect()
}

/// Applied events after `after`, with each alert as it is now, for replaying the live stream:
/// at most `limit`, and none more once their alerts' text reaches `max_bytes`, so a page of
/// large alerts is a few of them, never hundreds (rows are read one at a time, and reading stops
/// there).
pub(super) fn applied_after(
    connection: &Connection,
    after: i64,
    limit: usize,
    max_bytes: usize,
) -> Result<Vec<AppliedEvent>, StoreError> {
    let sql = format!(
        "SELECT e.seq, e.action, e.outcome, {} FROM alert_events e \
         JOIN alerts a ON a.integration = e.integration AND a.id = e.alert_id \
         WHERE e.seq > ?1 AND e.outcome != 'ignored' ORDER BY e.seq LIMIT ?2",
        prefixed_alert_columns()
    );
    let mut statement = connection.prepare_cached(&sql)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = statement.query_map(params![after, limit], |row| {
        let offset = |index: usize| index + 3;
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            raw_alert_at(row, offset)?,
        ))
    })?;
    let mut page = Vec::new();
    let mut bytes = 0usize;
    for row in rows {
        if bytes >= max_bytes {
            break;
        }
        let (seq, action, outcome, raw) = row?;
        bytes = bytes.saturating_add(raw.text_len());
        page.push(AppliedEvent {
            seq,
            action: stored::action(&action)?,
            outcome: stored::outcome(&outcome, None)?,
            alert: raw.into_alert()?,
        });
    }
    Ok(page)
}

pub(super) fn parse_time(text: &str) -> Result<DateTime<Utc>, StoreError> {
    time::parse(text).ok_or_else(|| corrupt("time", text))
}

pub(super) fn parse_optional_time(text: Option<&str>) -> Result<Option<DateTime<Utc>>, StoreError> {
    text.map(parse_time).transpose()
}

/// A row of `alerts` as SQLite gives it, before its text is parsed into domain types.
pub(super) struct RawAlert {
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

pub(super) fn raw_alert(row: &Row<'_>) -> rusqlite::Result<RawAlert> {
    raw_alert_at(row, |index| index)
}

/// Reads the alert columns from wherever they start in `row`: `at` maps a column's place in
/// `ALERT_COLUMNS` to its index in the row.
fn raw_alert_at(row: &Row<'_>, at: impl Fn(usize) -> usize) -> rusqlite::Result<RawAlert> {
    Ok(RawAlert {
        integration: row.get(at(0))?,
        id: row.get(at(1))?,
        state: row.get(at(2))?,
        title: row.get(at(3))?,
        description: row.get(at(4))?,
        severity: row.get(at(5))?,
        tags: row.get(at(6))?,
        meta: row.get(at(7))?,
        occurrences: row.get(at(8))?,
        episode: row.get(at(9))?,
        created_at: row.get(at(10))?,
        opened_at: row.get(at(11))?,
        acknowledged_at: row.get(at(12))?,
        acknowledged_by: row.get(at(13))?,
        resolved_at: row.get(at(14))?,
        resolved_by: row.get(at(15))?,
        updated_at: row.get(at(16))?,
        last_occurred_at: row.get(at(17))?,
    })
}

impl RawAlert {
    /// The bytes of its text as stored: about what the alert takes as JSON.
    fn text_len(&self) -> usize {
        let optional = |text: &Option<String>| text.as_ref().map_or(0, String::len);
        [&self.integration, &self.id, &self.title, &self.tags]
            .iter()
            .map(|text| text.len())
            .sum::<usize>()
            + optional(&self.description)
            + optional(&self.meta)
    }

    pub(super) fn into_alert(self) -> Result<Alert, StoreError> {
        let meta = match self.meta {
            None => None,
            Some(text) => match serde_json::from_str(&text) {
                Ok(serde_json::Value::Object(meta)) => Some(meta),
                _ => return Err(corrupt("meta", &text)),
            },
        };
        Ok(Alert {
            state: stored::state(&self.state)?,
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
            acknowledged_at: parse_optional_time(self.acknowledged_at.as_deref())?,
            resolved_at: parse_optional_time(self.resolved_at.as_deref())?,
            updated_at: parse_time(&self.updated_at)?,
            last_occurred_at: parse_optional_time(self.last_occurred_at.as_deref())?,
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
