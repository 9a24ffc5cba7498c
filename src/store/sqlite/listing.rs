//! SQL for `GET /v1/alerts`: filtered, newest change first, keyset-paginated on `change_seq`.
//!
//! Every filter has an index to search: state, integration and severity have one each on
//! `alerts` ending in `change_seq`; a rare tag drives the query from `alert_tags`; a title search
//! of three characters or more that few titles match drives it from the trigram index
//! `alert_titles`. A common tag or title search is served the other way round: alerts walked
//! newest first, each tested, stopping at a page. `change_seq` only grows, so a page boundary
//! stays put while new alerts arrive above it.

use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection};

use super::alerts::{prefixed_alert_columns, raw_alert};
use super::{AlertFilter, AlertPage, StoreError};
use crate::time;

/// The shortest `q` the trigram index can serve; shorter ones are matched row by row.
const TRIGRAM: usize = 3;
/// A tag on at least this many alerts is common enough that walking alerts newest first and
/// probing the tag index finds a page sooner than collecting every tagged alert and sorting.
const COMMON_TAG: i64 = 1000;

/// Below this, a title search always collects its matches: at most this many are sorted.
const COMMON_TITLE_FLOOR: i64 = 1000;
/// How many of the newest alerts a title search tests first, hoping for a page among them.
const GLANCE: i64 = 1000;
/// A title search with fewer matches than this is served from their keys.
const FEW_MATCHES: i64 = 1000;

/// How a tag filter is served; both are index searches on `alert_tags`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TagPlan {
    /// Collect the tagged alerts from the tag index, then sort them: best for rare tags.
    Collect,
    /// Walk alerts newest first and probe the tag index for each: best for common tags.
    Probe,
}

/// How a title search `q` is served.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TitlePlan {
    /// The alerts with these keys (a JSON array): every match of a rare text, read from the
    /// trigram index once.
    Keys(String),
    /// Collect the matching alerts from the trigram index, then sort them: best for rare text.
    Collect,
    /// Test each alert's title as alerts are walked newest first: for text too short for the
    /// trigram index, and for text so common that a page is found sooner this way.
    Test,
    /// Test the titles of the newest `GLANCE` alerts the other filters allow, and only those.
    Glance,
}

/// How each search of a filter is served.
#[derive(Debug, Clone)]
struct Plans {
    tag: TagPlan,
    title: TitlePlan,
}

/// A page of alerts. A title search of three ASCII characters or more tries two shortcuts
/// before its plan: a text with fewer than `FEW_MATCHES` matches is served from their keys, read
/// from the trigram index once; otherwise the newest alerts' titles are tested, which finds a
/// page at once when most titles match (a word in every title: under a millisecond at a million
/// alerts, where counting matches to choose a plan took 8). Only a text between the two is
/// planned by counting its matches (`title_plan`).
pub(super) fn list(connection: &Connection, filter: &AlertFilter) -> Result<AlertPage, StoreError> {
    let tag = tag_plan(connection, filter)?;
    let shortcuts = filter
        .title_contains
        .as_ref()
        .filter(|text| text.is_ascii() && text.len() >= TRIGRAM);
    if let Some(text) = shortcuts {
        if let Some(keys) = few_matches(connection, text)? {
            let title = TitlePlan::Keys(keys);
            return page(connection, filter, &Plans { tag, title });
        }
        let title = TitlePlan::Glance;
        let glance = page(connection, filter, &Plans { tag, title })?;
        if glance.next.is_some() {
            return Ok(glance);
        }
    }
    let title = title_plan(connection, filter)?;
    page(connection, filter, &Plans { tag, title })
}

/// The keys of the alerts whose title holds `text`, as a JSON array, when there are fewer than
/// `FEW_MATCHES`.
fn few_matches(connection: &Connection, text: &str) -> Result<Option<String>, StoreError> {
    let mut statement = connection
        .prepare_cached("SELECT rowid FROM alert_titles WHERE alert_titles MATCH ?1 LIMIT ?2")?;
    let keys = statement
        .query_map(rusqlite::params![phrase(text), FEW_MATCHES], |row| {
            row.get::<_, i64>(0)
        })?
        .collect::<Result<Vec<_>, _>>()?;
    if i64::try_from(keys.len()).unwrap_or(i64::MAX) >= FEW_MATCHES {
        return Ok(None);
    }
    Ok(Some(
        serde_json::to_string(&keys).expect("numbers serialize"),
    ))
}

fn page(
    connection: &Connection,
    filter: &AlertFilter,
    plans: &Plans,
) -> Result<AlertPage, StoreError> {
    let (sql, values) = build(
        filter,
        plans,
        &format!("{}, a.change_seq", prefixed_alert_columns()),
    );
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

/// `EXPLAIN QUERY PLAN` of the query `filter` makes when neither shortcut of `list` serves it,
/// one line per step.
pub(super) fn plan(
    connection: &Connection,
    filter: &AlertFilter,
) -> Result<Vec<String>, StoreError> {
    let (sql, values) = build(
        filter,
        &plans(connection, filter)?,
        &prefixed_alert_columns(),
    );
    let mut statement = connection.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
    let lines = statement.query_map(params_from_iter(values), |row| row.get::<_, String>(3))?;
    Ok(lines.collect::<Result<_, _>>()?)
}

fn plans(connection: &Connection, filter: &AlertFilter) -> Result<Plans, StoreError> {
    Ok(Plans {
        tag: tag_plan(connection, filter)?,
        title: title_plan(connection, filter)?,
    })
}

/// Counts the titles that match, up to a threshold, to choose how to serve the filter.
///
/// Collecting costs about a microsecond per match (read from the index, then sorted); walking
/// costs about as much per alert walked, and finds a page of `limit` after about `limit × alerts
/// / matches` of them. The threshold where both cost the same is the square root of `limit ×
/// alerts`, so neither plan reads more than that many rows (7,000 for a page of 50 among a
/// million alerts) — where collecting every match of a word in every title read them all.
///
/// Only ASCII text is tested row by row: SQL's `lower` folds ASCII letters alone, where the
/// trigram index folds every script's, so other text is always collected.
fn title_plan(connection: &Connection, filter: &AlertFilter) -> Result<TitlePlan, StoreError> {
    let Some(text) = &filter.title_contains else {
        return Ok(TitlePlan::Test);
    };
    if text.chars().count() < TRIGRAM {
        return Ok(TitlePlan::Test);
    }
    if !text.is_ascii() {
        return Ok(TitlePlan::Collect);
    }
    let alerts: i64 = connection
        .prepare_cached("SELECT coalesce(sum(count), 0) FROM alert_counts")?
        .query_row([], |row| row.get(0))?;
    let page = i64::try_from(filter.limit)
        .unwrap_or(i64::MAX)
        .saturating_add(1);
    let threshold = isqrt(page.saturating_mul(alerts)).max(COMMON_TITLE_FLOOR);
    let mut statement = connection.prepare_cached(
        "SELECT count(*) FROM (SELECT 1 FROM alert_titles WHERE alert_titles MATCH ?1 LIMIT ?2)",
    )?;
    let matches: i64 =
        statement.query_row(rusqlite::params![phrase(text), threshold], |row| row.get(0))?;
    Ok(if matches >= threshold {
        TitlePlan::Test
    } else {
        TitlePlan::Collect
    })
}

/// The integer square root of a non-negative `n`.
fn isqrt(n: i64) -> i64 {
    u64::try_from(n).map_or(0, |n| i64::try_from(n.isqrt()).unwrap_or(i64::MAX))
}

/// Counts the tag's alerts, up to `COMMON_TAG`, to choose how to serve the filter.
fn tag_plan(connection: &Connection, filter: &AlertFilter) -> Result<TagPlan, StoreError> {
    let Some(tag) = &filter.tag else {
        return Ok(TagPlan::Collect);
    };
    let mut statement = connection.prepare_cached(
        "SELECT count(*) FROM (SELECT 1 FROM alert_tags WHERE tag = ?1 LIMIT ?2)",
    )?;
    let tagged: i64 = statement.query_row(rusqlite::params![tag, COMMON_TAG], |row| row.get(0))?;
    Ok(if tagged >= COMMON_TAG {
        TagPlan::Probe
    } else {
        TagPlan::Collect
    })
}

/// A query being built: what it reads from, its conditions, and their values in order.
struct Query {
    from: String,
    conditions: Vec<String>,
    values: Vec<Value>,
}

impl Query {
    fn and(&mut self, condition: &str, value: Value) {
        self.conditions.push(condition.to_string());
        self.values.push(value);
    }

    /// `column IN (…)` of `allowed`; no condition at all when it is empty.
    fn and_any_of<'a>(&mut self, column: &str, allowed: impl ExactSizeIterator<Item = &'a str>) {
        if allowed.len() == 0 {
            return;
        }
        let placeholders = vec!["?"; allowed.len()].join(", ");
        self.conditions
            .push(format!("{column} IN ({placeholders})"));
        self.values
            .extend(allowed.map(|text| Value::Text(text.to_string())));
    }
}

/// The SQL and its values. A rare tag or a long enough title search is the driving table (CROSS
/// JOIN fixes the order in SQLite); otherwise the planner picks among the indexes on `alerts`.
fn build(filter: &AlertFilter, plans: &Plans, columns: &str) -> (String, Vec<Value>) {
    let mut query = Query {
        from: "alerts a".to_string(),
        conditions: Vec::new(),
        values: Vec::new(),
    };
    searches(filter, plans, &mut query);
    query.and_any_of("a.state", filter.states.iter().map(|state| state.as_str()));
    if let Some(integration) = &filter.integration {
        query.and("a.integration = ?", Value::Text(integration.clone()));
    }
    let severities = filter.severities.iter().map(|severity| severity.as_str());
    query.and_any_of("a.severity", severities);
    if let Some(since) = filter.since {
        query.and("a.updated_at >= ?", Value::Text(time::format(since)));
    }
    if let Some(until) = filter.until {
        query.and("a.updated_at < ?", Value::Text(time::format(until)));
    }
    if let Some(before) = filter.changed_before {
        query.and("a.change_seq < ?", Value::Integer(before));
    }
    let Query {
        mut from,
        mut conditions,
        mut values,
    } = query;
    if plans.title == TitlePlan::Glance {
        // The newest alerts the other filters allow, then the title test on those alone.
        let filter_sql = where_clause(&conditions);
        from = format!(
            "(SELECT a.* FROM {from}{filter_sql} ORDER BY a.change_seq DESC LIMIT {GLANCE}) a"
        );
        conditions = vec!["instr(lower(a.title), lower(?)) > 0".into()];
        let text = filter.title_contains.clone().unwrap_or_default();
        values.push(Value::Text(text));
    }
    let filter_sql = where_clause(&conditions);
    // One row more than a page tells whether there is a next page.
    values.push(Value::Integer(
        i64::try_from(filter.limit).unwrap_or(i64::MAX) + 1,
    ));
    let sql =
        format!("SELECT {columns} FROM {from}{filter_sql} ORDER BY a.change_seq DESC LIMIT ?");
    (sql, values)
}

fn where_clause(conditions: &[String]) -> String {
    if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    }
}

/// The tag and title searches, either of which may drive the query from its own index.
fn searches(filter: &AlertFilter, plans: &Plans, query: &mut Query) {
    let tag_drives = filter.tag.is_some() && plans.tag == TagPlan::Collect;
    if let Some(tag) = &filter.tag {
        if tag_drives {
            query.from = "alert_tags t CROSS JOIN alerts a ON a.key = t.alert_key".into();
            query.and("t.tag = ?", Value::Text(tag.clone()));
        } else {
            query.and(
                "EXISTS (SELECT 1 FROM alert_tags t WHERE t.tag = ? AND t.alert_key = a.key)",
                Value::Text(tag.clone()),
            );
        }
    }
    let Some(text) = &filter.title_contains else {
        return;
    };
    match &plans.title {
        // `build` tests the title around the rest.
        TitlePlan::Glance => {}
        TitlePlan::Keys(keys) if tag_drives => query.and(
            "a.key IN (SELECT value FROM json_each(?))",
            Value::Text(keys.clone()),
        ),
        TitlePlan::Keys(keys) => {
            // The keys drive; their placeholder comes first in the SQL, so its value does too.
            query.from = "json_each(?) k CROSS JOIN alerts a ON a.key = k.value".into();
            query.values.insert(0, Value::Text(keys.clone()));
        }
        TitlePlan::Test => query.and(
            "instr(lower(a.title), lower(?)) > 0",
            Value::Text(text.clone()),
        ),
        TitlePlan::Collect if tag_drives => query.and(
            "a.key IN (SELECT rowid FROM alert_titles WHERE alert_titles MATCH ?)",
            Value::Text(phrase(text)),
        ),
        TitlePlan::Collect => {
            query.from = "alert_titles CROSS JOIN alerts a ON a.key = alert_titles.rowid".into();
            query.and("alert_titles MATCH ?", Value::Text(phrase(text)));
        }
    }
}

/// An FTS5 phrase matching `text` literally: with the trigram tokenizer, a substring match.
fn phrase(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

#[cfg(test)]
mod tests;
