//! The PostgreSQL schema: numbered files in `migrations/postgres/`, embedded in the binary and
//! applied at start.
//!
//! All missing versions go in one transaction (PostgreSQL's DDL is transactional: a failed
//! migration leaves nothing behind), under an advisory lock, so that nodes started together queue
//! instead of racing on the same `CREATE TABLE`. Each applied version is a row of
//! `schema_migrations` with the file's SHA-256. A database a newer alertgate has migrated is
//! refused: this one would not know its tables.

use tokio_postgres::Client;

use crate::store::StoreError;

/// One shipped migration. A shipped file is never edited: a change is a new file after it.
struct Migration {
    version: i32,
    name: &'static str,
    sql: &'static str,
    /// SHA-256 of `sql` as shipped, hex; a unit test holds the file to it.
    sha256: &'static str,
}

/// Every migration, in order, numbered from 1 without gaps.
const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "initial",
    sql: include_str!("../../../migrations/postgres/0001_initial.sql"),
    sha256: "7bf43462e1a76fe24f2b76d0466c5d4c9a80d4f604c4bfbc33b9a76a073bcf33",
}];

/// The advisory lock key of schema changes: the namespace `'alrt'` as an integer, and 1.
/// `create_default_if_empty` takes the same lock, so exactly one node creates `default`.
pub const MIGRATE_LOCK: (i32, i32) = (0x616c_7274, 1);

/// The schema version this build knows.
pub fn known_version() -> i32 {
    MIGRATIONS.last().map_or(0, |migration| migration.version)
}

/// Brings the database to the version this build knows; answers the versions it applied (none
/// when another node, or an earlier start, did it already).
pub async fn migrate(client: &mut Client) -> Result<Vec<i32>, StoreError> {
    let transaction = client.transaction().await?;
    transaction
        .execute(
            "SELECT pg_advisory_xact_lock($1, $2)",
            &[&MIGRATE_LOCK.0, &MIGRATE_LOCK.1],
        )
        .await?;
    transaction
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (\
                 version int PRIMARY KEY, \
                 name text NOT NULL, \
                 checksum text NOT NULL, \
                 applied_at timestamptz NOT NULL DEFAULT now())",
        )
        .await?;
    let current: i32 = transaction
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )
        .await?
        .get(0);
    if current > known_version() {
        return Err(StoreError::NewerSchema {
            found: current.into(),
            known: known_version().into(),
        });
    }
    let mut applied = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| m.version > current) {
        transaction.batch_execute(migration.sql).await?;
        transaction
            .execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                &[&migration.version, &migration.name, &migration.sha256],
            )
            .await?;
        applied.push(migration.version);
    }
    transaction.commit().await?;
    if !applied.is_empty() {
        log::info!(
            "PostgreSQL schema migrated from version {current} to {}",
            known_version()
        );
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;

    /// SHA-256 of `text`, in lower-case hex.
    fn sha256_hex(text: &str) -> String {
        crate::ids::hex(&Sha256::digest(text.as_bytes()))
    }

    /// Every file in `migrations/postgres/` is listed, in order, numbered 1..n, and unchanged
    /// since it shipped: editing a shipped migration would leave databases that ran the old text
    /// apart from new ones, with nothing to tell them apart.
    #[test]
    fn every_migration_file_is_listed_in_order_and_unchanged() {
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
        let mut files: Vec<String> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        let listed: Vec<String> = MIGRATIONS
            .iter()
            .map(|m| format!("{:04}_{}.sql", m.version, m.name))
            .collect();
        assert_eq!(files, listed, "migrations/postgres/ and MIGRATIONS differ");
        for (at, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(
                usize::try_from(migration.version).unwrap(),
                at + 1,
                "versions are 1..n"
            );
            let text = std::fs::read_to_string(folder.join(&listed[at])).unwrap();
            assert_eq!(text, migration.sql);
            assert_eq!(
                sha256_hex(migration.sql),
                migration.sha256,
                "{} changed after it shipped: add a new migration instead",
                listed[at]
            );
        }
    }

    #[test]
    fn the_lock_namespace_spells_alrt() {
        assert_eq!(MIGRATE_LOCK.0.to_be_bytes(), *b"alrt");
    }
}
