//! `alertgate migrate --to postgres://…` (SPEC §11): a SQLite database copied into an empty
//! PostgreSQL one, everything in one transaction on the target.
//!
//! The source is read in one read transaction, so a server still running on it does not tear
//! the copy: what it accepts later stays behind. The target is migrated, then locked with the
//! schema's advisory lock (nodes starting on it wait) and checked empty in that transaction; each
//! table goes across in batches of `BATCH_ROWS`, the counts of both sides are compared before the
//! commit, and a difference rolls everything back. This module knows no SQL: `sqlite::SqliteExport`
//! reads, `postgres::PgImport` writes, `tables` is the list both follow.

mod batch;
mod tables;

use std::path::{Path, PathBuf};

pub use batch::{Batch, Values};
pub use tables::{Column, Kind, Table, ALERT_KEYS, TABLES};

use super::sqlite::SqliteExport;
use super::{PgUrl, StoreError};

/// Rows per batch: one statement each on the target.
pub const BATCH_ROWS: usize = 1000;

/// Why a migration did not happen; nothing was written to the target.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("there is no SQLite database at {0}")]
    NoSource(PathBuf),
    #[error(
        "{target} is not empty: it holds {holds}. migrate copies into a database with no \
         alerts, deliveries or integrations but an untouched first-run `default`; give it a new \
         database (CREATE DATABASE …)"
    )]
    NotEmpty { target: String, holds: String },
    #[error("the counts differ after copying ({0}); nothing was committed")]
    CountsDiffer(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where a migration is: `table` has `done` of its `total` rows copied.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    pub table: &'a str,
    pub done: u64,
    pub total: u64,
}

/// Rows of one table on either side, once committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCount {
    pub table: &'static str,
    pub source: u64,
    pub target: u64,
}

/// What a migration did.
#[derive(Debug)]
pub struct Report {
    pub counts: Vec<TableCount>,
    /// The highest `seq` the source ever handed out: the target's next one follows it.
    pub last_seq: i64,
    /// Whether a server held the source while it was read (what it took later is not copied).
    pub source_in_use: bool,
}

/// Copies the SQLite database at `source` into the PostgreSQL database at `target`, which must
/// be empty (SPEC §11), calling `progress` as batches go.
pub fn sqlite_to_postgres(
    source: &Path,
    target: &PgUrl,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Report, MigrateError> {
    if !source.is_file() {
        return Err(MigrateError::NoSource(source.to_path_buf()));
    }
    // Held to the end when free, so that no server starts on the source mid-copy.
    let (_lock, source_in_use) = match super::ServerLock::acquire(source) {
        Ok(lock) => (Some(lock), false),
        Err(StoreError::InUse { .. }) => (None, true),
        Err(_) => (None, false),
    };
    let mut import = super::postgres::PgImport::open(target)?;
    let export = SqliteExport::open(source)?;
    if let Some(holds) = import.begin()? {
        return Err(MigrateError::NotEmpty {
            target: target.to_string(),
            holds,
        });
    }
    let totals = export.counts(TABLES)?;
    for (table, &total) in TABLES.iter().zip(&totals) {
        let mut done = 0;
        progress(Progress {
            table: table.name,
            done,
            total,
        });
        export.read(table, BATCH_ROWS, &mut |batch| {
            import.write(table, &batch)?;
            done += batch.rows as u64;
            progress(Progress {
                table: table.name,
                done,
                total,
            });
            Ok(())
        })?;
    }
    let last_seq = export.last_seq()?;
    let written = import.finish(TABLES, last_seq)?;
    let counts = compare(&totals, &written)?;
    import.commit()?;
    Ok(Report {
        counts,
        last_seq,
        source_in_use,
    })
}

/// Each table's rows on both sides, `alert_keys` against `alerts`; an error names every
/// difference.
fn compare(source: &[u64], target: &[u64]) -> Result<Vec<TableCount>, MigrateError> {
    let alerts = TABLES
        .iter()
        .position(|table| table.name == "alerts")
        .map_or(0, |at| source[at]);
    let names = TABLES.iter().map(|table| table.name).chain([ALERT_KEYS]);
    let expected = source.iter().copied().chain([alerts]);
    let counts: Vec<TableCount> = names
        .zip(expected)
        .zip(target.iter().copied())
        .map(|((table, source), target)| TableCount {
            table,
            source,
            target,
        })
        .collect();
    let differing: Vec<String> = counts
        .iter()
        .filter(|count| count.source != count.target)
        .map(|count| {
            format!(
                "{}: {} read, {} written",
                count.table, count.source, count.target
            )
        })
        .collect();
    if differing.is_empty() && counts.len() == TABLES.len() + 1 {
        Ok(counts)
    } else {
        Err(MigrateError::CountsDiffer(differing.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_keys_are_held_to_the_alerts_count() {
        let mut source = vec![1; TABLES.len()];
        let alerts = TABLES.iter().position(|t| t.name == "alerts").unwrap();
        source[alerts] = 7;
        let mut target = source.clone();
        target.push(7);
        assert_eq!(compare(&source, &target).unwrap().len(), TABLES.len() + 1);
        *target.last_mut().unwrap() = 6;
        let error = compare(&source, &target).unwrap_err().to_string();
        assert!(error.contains("alert_keys: 7 read, 6 written"), "{error}");
    }

    #[test]
    fn every_table_keys_its_rows_by_columns_it_has() {
        for table in TABLES {
            for key in table.key.iter().chain(table.identity.iter()) {
                assert!(
                    table.columns.iter().any(|column| column.name == *key),
                    "{}.{key}",
                    table.name
                );
            }
        }
    }
}
