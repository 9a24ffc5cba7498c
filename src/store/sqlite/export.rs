//! The SQLite side of `migrate`: every table read in one read transaction, so that the copy is
//! of one moment even while a server keeps writing (under WAL the writer goes on; the
//! checkpointer cannot pass this snapshot until it ends).

use std::path::Path;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, Row};

use super::alerts::parse_time;
use super::{schema, StoreError};
use crate::store::migrate::{Batch, Kind, Table, Values};
use crate::store::stored::corrupt;

/// A SQLite database held at one moment, for reading out whole.
pub struct SqliteExport {
    connection: Connection,
}

impl SqliteExport {
    /// Opens `path` (bringing an older file to this build's schema, as every command does) and
    /// starts the read transaction every later read shares.
    pub fn open(path: &Path) -> Result<SqliteExport, StoreError> {
        let connection = schema::open_for_writing(path)?;
        connection.execute_batch("BEGIN DEFERRED")?;
        // The first read takes the snapshot; everything after sees the same one.
        connection.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))?;
        Ok(SqliteExport { connection })
    }

    /// Rows of each of `tables`.
    pub fn counts(&self, tables: &[Table]) -> Result<Vec<u64>, StoreError> {
        tables
            .iter()
            .map(|table| {
                let count: i64 = self.connection.query_row(
                    &format!("SELECT count(*) FROM {}", table.name),
                    [],
                    |row| row.get(0),
                )?;
                Ok(count.unsigned_abs())
            })
            .collect()
    }

    /// The highest `seq` ever handed out: the log's newest, or higher when the newest events
    /// were deleted (AUTOINCREMENT remembers), so that no `seq` a client has seen is reused.
    pub fn last_seq(&self) -> Result<i64, StoreError> {
        Ok(self.connection.query_row(
            "SELECT max(coalesce((SELECT max(seq) FROM alert_events), 0), \
                        coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'alert_events'), 0), \
                        coalesce((SELECT max(change_seq) FROM alerts), 0))",
            [],
            |row| row.get(0),
        )?)
    }

    /// Reads `table` in key order, handing `each` batches of at most `rows` rows.
    pub fn read(
        &self,
        table: &Table,
        rows: usize,
        each: &mut dyn FnMut(Batch) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let columns: Vec<&str> = table.columns.iter().map(|column| column.name).collect();
        let sql = format!(
            "SELECT {} FROM {} ORDER BY {}",
            columns.join(", "),
            table.name,
            table.key.join(", ")
        );
        let mut statement = self.connection.prepare(&sql)?;
        let mut cursor = statement.query([])?;
        let mut batch = Batch::new(table, rows);
        while let Some(row) = cursor.next()? {
            for (at, column) in table.columns.iter().enumerate() {
                push(&mut batch.columns[at], column.kind, row, at)?;
            }
            batch.rows += 1;
            if batch.rows == rows {
                each(std::mem::replace(&mut batch, Batch::new(table, rows)))?;
            }
        }
        if batch.rows > 0 {
            each(batch)?;
        }
        Ok(())
    }
}

/// Adds column `at` of `row`, read as `kind` says, to `values`.
fn push(values: &mut Values, kind: Kind, row: &Row<'_>, at: usize) -> Result<(), StoreError> {
    match values {
        Values::Int(values) => values.push(row.get(at)?),
        Values::Bool(values) => values.push(row.get::<_, Option<i64>>(at)?.map(|flag| flag != 0)),
        Values::Text(values) => values.push(row.get(at)?),
        Values::Bytes(values) => values.push(match row.get_ref(at)? {
            ValueRef::Null => None,
            ValueRef::Blob(bytes) => Some(bytes.to_vec()),
            other => return Err(corrupt("blob", &format!("{other:?}"))),
        }),
        Values::Time(values) => {
            let text: Option<String> = row.get(at)?;
            values.push(match text {
                None => None,
                // A tally's minute, `2026-01-01T10:04`, is the time it starts.
                Some(minute) if kind == Kind::Minute => Some(parse_time(&format!("{minute}:00Z"))?),
                Some(time) => Some(parse_time(&time)?),
            });
        }
    }
    Ok(())
}
