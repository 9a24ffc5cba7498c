//! SQL for `GET /v1/alerts`: filtered, newest change first, keyset-paginated on `change_seq`.
//!
//! State, integration and severity have an index each ending in `change_seq`, as on SQLite; a
//! tag is a GIN search of the `tags` array and a title search a trigram search of
//! `lower(title)` (when `pg_trgm` could be installed). PostgreSQL's planner chooses between
//! those and walking `alerts_by_change` from its statistics, which is the choice SQLite's store
//! makes by counting (`sqlite::listing`).

use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;

use super::rows::{alert_at, prefixed_alert_columns};
use crate::store::{AlertFilter, AlertPage, StoreError};

pub(super) async fn list(
    client: &impl GenericClient,
    filter: &AlertFilter,
) -> Result<AlertPage, StoreError> {
    let states: Vec<&str> = filter.states.iter().map(|state| state.as_str()).collect();
    let severities: Vec<&str> = filter
        .severities
        .iter()
        .map(|severity| severity.as_str())
        .collect();
    let pattern = filter.title_contains.as_deref().map(like_pattern);
    // One row more than a page tells whether there is a next page.
    let limit = i64::try_from(filter.limit)
        .unwrap_or(i64::MAX)
        .saturating_add(1);
    let mut query = Query::default();
    if !states.is_empty() {
        query.and("a.state = ANY({}::text[])", &states);
    }
    if let Some(integration) = &filter.integration {
        query.and("a.integration = {}", integration);
    }
    if !severities.is_empty() {
        query.and("a.severity = ANY({}::text[])", &severities);
    }
    if let Some(tag) = &filter.tag {
        query.and("a.tags @> ARRAY[{}::text]", tag);
    }
    if let Some(pattern) = &pattern {
        query.and("lower(a.title) LIKE lower({}) ESCAPE '\\'", pattern);
    }
    if let Some(since) = &filter.since {
        query.and("a.updated_at >= {}", since);
    }
    if let Some(until) = &filter.until {
        query.and("a.updated_at < {}", until);
    }
    if let Some(before) = &filter.changed_before {
        query.and("a.change_seq < {}", before);
    }
    query.values.push(&limit);
    let sql = format!(
        "SELECT {}, a.change_seq FROM alerts a{} ORDER BY a.change_seq DESC LIMIT ${}",
        prefixed_alert_columns(),
        query.where_clause(),
        query.values.len()
    );
    let statement = client.prepare_cached(&sql).await?;
    let rows = client.query(&statement, &query.values).await?;
    let mut alerts = Vec::with_capacity(rows.len().min(filter.limit));
    let mut last_seq = None;
    for row in &rows {
        if alerts.len() == filter.limit {
            return Ok(AlertPage {
                alerts,
                next: last_seq,
            });
        }
        alerts.push(alert_at(row, 0)?);
        last_seq = Some(row.try_get::<_, i64>(18)?);
    }
    Ok(AlertPage { alerts, next: None })
}

/// A query being built: its conditions, each with one `{}` for its parameter, and the values.
#[derive(Default)]
struct Query<'a> {
    conditions: Vec<String>,
    values: Vec<&'a (dyn ToSql + Sync)>,
}

impl<'a> Query<'a> {
    fn and(&mut self, condition: &str, value: &'a (dyn ToSql + Sync)) {
        self.values.push(value);
        let placeholder = format!("${}", self.values.len());
        self.conditions.push(condition.replace("{}", &placeholder));
    }

    fn where_clause(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conditions.join(" AND "))
        }
    }
}

/// A `LIKE` pattern matching `text` anywhere, its own `%`, `_` and `\` taken literally.
fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for character in text.chars() {
        if matches!(character, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(character);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn a_title_search_takes_like_wildcards_literally() {
        assert_eq!(like_pattern("disk"), "%disk%");
        assert_eq!(like_pattern("100%_\\x"), "%100\\%\\_\\\\x%");
    }
}
