//! The PostgreSQL side of `migrate`: one transaction, under the schema's advisory lock, that
//! checks the database is empty as SPEC §11 says, takes the batches and counts what it wrote.
//!
//! Rows keep every key they had: `seq` (so `Last-Event-ID` resumes), alert keys and secret ids
//! (identity columns, written with `OVERRIDING SYSTEM VALUE`, their sequences moved past them
//! after), and `event_seq` starts after the highest `seq` the source handed out.

use std::time::Duration;

use tokio_postgres::types::ToSql;
use tokio_postgres::Client;

use super::connect::{self, PgSettings};
use super::integrations::CHANNEL;
use super::schema::{self, MIGRATE_LOCK};
use super::url::PgUrl;
use crate::store::migrate::{Batch, Kind, Table, Values, ALERT_KEYS};
use crate::store::StoreError;

/// Tables that must hold no row for a database to count as empty, beyond SPEC §11's alerts and
/// deliveries: each one's rows would collide with the copy, or are left by earlier use.
const MUST_BE_EMPTY: &[&str] = &[
    "alerts",
    "deliveries",
    "alert_keys",
    "alert_events",
    "idempotency_keys",
    "rejection_tallies",
];

/// A migration's open transaction on the target.
pub struct PgImport {
    client: Client,
    /// Last, so that it outlives the connection whose IO it runs.
    runtime: tokio::runtime::Runtime,
}

impl PgImport {
    /// Connects and brings the schema to this build's version (refusing a newer one).
    pub fn open(url: &PgUrl) -> Result<PgImport, StoreError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| StoreError::Database(Box::new(error)))?;
        // A batch or a count of a large table may take longer than a request's statement.
        let settings = PgSettings {
            pool_size: 1,
            statement_timeout: Duration::from_mins(5),
        };
        let config = connect::session_config(url, &settings);
        let tls = connect::tls(url)?;
        let client = runtime.block_on(async {
            let mut client = connect::connect(&config, tls)
                .await
                .map_err(|error| match error {
                    StoreError::Unavailable(why) => {
                        StoreError::Unavailable(format!("{url}: {why}"))
                    }
                    other => other,
                })?;
            schema::migrate(&mut client).await?;
            Ok::<_, StoreError>(client)
        })?;
        Ok(PgImport { client, runtime })
    }

    /// Begins the transaction and takes the lock; answers what the database holds when it is
    /// not empty (the transaction is then rolled back). An untouched first-run `default`
    /// (never changed since it was made, no deliveries) does not count, and goes.
    pub fn begin(&mut self) -> Result<Option<String>, StoreError> {
        self.runtime.block_on(async {
            let client = &self.client;
            client.batch_execute("BEGIN").await?;
            client
                .execute(
                    "SELECT pg_advisory_xact_lock($1, $2)",
                    &[&MIGRATE_LOCK.0, &MIGRATE_LOCK.1],
                )
                .await?;
            let mut holds = Vec::new();
            for table in MUST_BE_EMPTY {
                let sql = format!("SELECT count(*) FROM {table}");
                let rows: i64 = client.query_one(&sql, &[]).await?.try_get(0)?;
                if rows > 0 {
                    holds.push(format!("{rows} rows of {table}"));
                }
            }
            let used: Vec<String> = client
                .query(
                    "SELECT name FROM integrations \
                     WHERE NOT (name = 'default' AND created_at = updated_at) ORDER BY name",
                    &[],
                )
                .await?
                .iter()
                .map(|row| {
                    row.try_get::<_, String>(0)
                        .map(|name| format!("integration `{name}`"))
                })
                .collect::<Result<_, _>>()?;
            holds.extend(used);
            if !holds.is_empty() {
                client.batch_execute("ROLLBACK").await?;
                return Ok(Some(holds.join(", ")));
            }
            // The counters of an empty database add up to nothing; rows left by earlier use
            // would collide with the copy's.
            client
                .batch_execute(
                    "DELETE FROM integrations; DELETE FROM alert_counts; \
                     DELETE FROM response_times;",
                )
                .await?;
            Ok(None)
        })
    }

    /// Writes one batch of `table`; an alert's `alert_keys` row goes first, with its key.
    pub fn write(&mut self, table: &Table, batch: &Batch) -> Result<(), StoreError> {
        self.runtime.block_on(async {
            if table.name == "alerts" {
                let keys = &batch.columns[..3];
                let sql = insert_sql(ALERT_KEYS, table, 3, true);
                self.client.execute(&sql, &params(keys)).await?;
            }
            let sql = insert_sql(
                table.name,
                table,
                table.columns.len(),
                table.identity.is_some(),
            );
            self.client.execute(&sql, &params(&batch.columns)).await?;
            Ok(())
        })
    }

    /// Moves the identities past the copied keys and `event_seq` past `last_seq`, tells running
    /// nodes that integrations changed, and answers the rows of each of `tables`, then of
    /// `alert_keys`, as this transaction sees them.
    pub fn finish(&mut self, tables: &[Table], last_seq: i64) -> Result<Vec<u64>, StoreError> {
        self.runtime.block_on(async {
            let client = &self.client;
            let identities = tables
                .iter()
                .filter_map(|table| table.identity.map(|column| (table.name, column)))
                .chain([(ALERT_KEYS, "key")]);
            for (table, column) in identities {
                let sql = format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), \
                     coalesce(max({column}), 1), max({column}) IS NOT NULL) FROM {table}"
                );
                client.execute(&sql, &[]).await?;
            }
            client
                .execute(
                    "UPDATE event_seq SET last = greatest(last, $1, \
                     (SELECT coalesce(max(seq), 0) FROM alert_events))",
                    &[&last_seq],
                )
                .await?;
            client
                .execute(
                    "WITH bumped AS (UPDATE integrations_revision SET revision = revision + 1 \
                                     RETURNING revision) \
                     SELECT pg_notify($1, revision::text) FROM bumped",
                    &[&CHANNEL],
                )
                .await?;
            let mut counts = Vec::with_capacity(tables.len() + 1);
            for name in tables.iter().map(|table| table.name).chain([ALERT_KEYS]) {
                let sql = format!("SELECT count(*) FROM {name}");
                let rows: i64 = client.query_one(&sql, &[]).await?.try_get(0)?;
                counts.push(rows.unsigned_abs());
            }
            Ok(counts)
        })
    }

    pub fn commit(&mut self) -> Result<(), StoreError> {
        self.runtime
            .block_on(self.client.batch_execute("COMMIT"))
            .map_err(StoreError::from)
    }
}

/// `INSERT INTO name (…) SELECT … FROM unnest(…)` of the first `count` columns of `table`, one
/// array parameter each. Tags travel as JSON text (an array of arrays cannot be ragged) and JSON
/// as text, cast on the server so that the text is kept byte for byte.
fn insert_sql(name: &str, table: &Table, count: usize, overriding: bool) -> String {
    let columns = &table.columns[..count];
    let names: Vec<&str> = columns.iter().map(|column| column.name).collect();
    let arrays: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(at, column)| format!("${}::{}[]", at + 1, sql_type(column.kind)))
        .collect();
    let aliases: Vec<String> = (0..count).map(|at| format!("c{at}")).collect();
    let values: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(at, column)| match column.kind {
            Kind::Json => format!("c{at}::json"),
            Kind::Tags => format!("ARRAY(SELECT json_array_elements_text(c{at}::json))"),
            _ => format!("c{at}"),
        })
        .collect();
    format!(
        "INSERT INTO {name} ({}) {}SELECT {} FROM unnest({}) AS u ({})",
        names.join(", "),
        if overriding {
            "OVERRIDING SYSTEM VALUE "
        } else {
            ""
        },
        values.join(", "),
        arrays.join(", "),
        aliases.join(", ")
    )
}

/// The array type a column travels as; integers go as `bigint` and are narrowed to `int`
/// columns by the insert itself.
fn sql_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Int => "bigint",
        Kind::Bool => "boolean",
        Kind::Text | Kind::Json | Kind::Tags => "text",
        Kind::Time | Kind::Minute => "timestamptz",
        Kind::Bytes => "bytea",
    }
}

fn params(columns: &[Values]) -> Vec<&(dyn ToSql + Sync)> {
    columns
        .iter()
        .map(|values| -> &(dyn ToSql + Sync) {
            match values {
                Values::Int(values) => values,
                Values::Bool(values) => values,
                Values::Text(values) => values,
                Values::Time(values) => values,
                Values::Bytes(values) => values,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::migrate::TABLES;

    #[test]
    fn alerts_go_in_with_their_tags_as_an_array_and_meta_as_json() {
        let alerts = TABLES.iter().find(|table| table.name == "alerts").unwrap();
        let sql = insert_sql("alerts", alerts, alerts.columns.len(), false);
        assert!(
            sql.starts_with("INSERT INTO alerts (key, integration, id, state,"),
            "{sql}"
        );
        assert!(sql.contains("ARRAY(SELECT json_array_elements_text(c7::json)), c8::json"));
        assert!(sql.contains("unnest($1::bigint[], $2::text[]"), "{sql}");
        let keys = insert_sql(ALERT_KEYS, alerts, 3, true);
        assert_eq!(
            keys,
            "INSERT INTO alert_keys (key, integration, id) OVERRIDING SYSTEM VALUE \
             SELECT c0, c1, c2 FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u (c0, c1, c2)"
        );
    }
}
