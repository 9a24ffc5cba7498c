//! Opening connections: file creation, pragmas and schema migration, all in one place.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::StoreError;

/// The whole schema; `-- step N` sections migrate from version N-1 to N.
const SCHEMA: &str = include_str!("../../../schema.sql");

/// The page size of new databases. Every commit writes each page it touched to the WAL, and an
/// event touches pages all over the alerts table and its five indexes: with 1 KiB pages rather
/// than SQLite's 4 KiB, a commit writes a quarter of the bytes for the same rows, which took
/// ingest with 4-event batches from about 33,000 to about 42,000 events/s (bench/run --batch 4).
const PAGE_SIZE: i64 = 1024;

/// How long a connection waits for another one's lock (a CLI command, a checkpoint).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens `path` for writing, creating it readable by its owner only, and migrates it.
pub(super) fn open_for_writing(path: &Path) -> Result<Connection, StoreError> {
    create_private_file(path)?;
    let connection = Connection::open(path)?;
    // Only a new, empty file takes it; an existing database keeps the page size it was made with.
    connection.pragma_update(None, "page_size", PAGE_SIZE)?;
    // WAL lets readers work while the writer commits; FULL makes each commit durable on return.
    let mode: String = connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        log::warn!("SQLite refused WAL mode (journal_mode is {mode}); reads will wait for writes");
    }
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    // Foreign keys come on after migrating (the bundled SQLite turns them on by default): a step
    // that rebuilds a table must be able to drop the old one without its ON DELETE CASCADE
    // emptying the tables that point at it.
    connection.pragma_update(None, "foreign_keys", false)?;
    migrate(&connection)?;
    connection.pragma_update(None, "foreign_keys", true)?;
    Ok(connection)
}

/// The database's page size, which an existing file keeps from when it was made.
pub(super) fn page_size(connection: &Connection) -> Result<i64, StoreError> {
    Ok(connection.query_row("PRAGMA page_size", [], |row| row.get(0))?)
}

/// How much of the database file holds data, as one reader sees it.
pub(super) struct SpaceUsed {
    pub bytes: u64,
    pub page_size: u64,
}

/// The pages in use (all but the free list) and their size: what `--max-db-mb` bounds.
pub(super) fn space_used(connection: &Connection) -> Result<SpaceUsed, StoreError> {
    let pages: i64 = connection.query_row("PRAGMA page_count", [], |row| row.get(0))?;
    let free: i64 = connection.query_row("PRAGMA freelist_count", [], |row| row.get(0))?;
    let page_size = page_size(connection)?.unsigned_abs();
    Ok(SpaceUsed {
        bytes: (pages - free).unsigned_abs().saturating_mul(page_size),
        page_size,
    })
}

/// Opens `path` for the checkpointer: it writes the database file, never the tables.
pub(super) fn open_for_checkpoints(path: &Path) -> Result<Connection, StoreError> {
    let connection = Connection::open(path)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    Ok(connection)
}

/// Opens `path` read-only, for queries that must never take the write lock.
pub(super) fn open_for_reading(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let connection = Connection::open_with_flags(path, flags)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    Ok(connection)
}

/// Writes a consistent copy of the database behind `source` to `target`, a new file (mode 0600),
/// with `VACUUM INTO`: it reads one snapshot, so it is safe beside a running server and never
/// blocks its writer. Any existing `target` is refused, an empty file or a link included: the
/// copy is made only in a file this call created, so its permissions are the copy's own.
pub(super) fn backup(source: &Connection, target: &Path) -> Result<(), StoreError> {
    let exists = || {
        StoreError::File(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!("{} exists already; back up to a new file", target.display()),
        ))
    };
    if std::fs::symlink_metadata(target).is_ok() {
        return Err(exists());
    }
    match create_new_private_file(target) {
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => return Err(exists()),
        created => created?,
    }
    let name = target.to_str().ok_or_else(|| {
        StoreError::File(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the backup path is not valid UTF-8",
        ))
    })?;
    source.execute("VACUUM INTO ?1", [name])?;
    Ok(())
}

/// Makes `path` a new empty file only its owner can read, unless it exists.
pub(super) fn create_private_file(path: &Path) -> std::io::Result<()> {
    match create_new_private_file(path) {
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        created => created,
    }
}

/// Makes `path` a new empty file only its owner can read; an existing path, a link included, is
/// `AlreadyExists` (`O_CREAT | O_EXCL` follows no link).
#[cfg(unix)]
fn create_new_private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map(drop)
}

#[cfg(not(unix))]
fn create_new_private_file(path: &Path) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map(drop)
}

/// The migration steps of `schema.sql`, numbered from 1.
fn steps() -> Vec<(i64, String)> {
    let mut steps: Vec<(i64, String)> = Vec::new();
    for line in SCHEMA.lines() {
        if let Some(rest) = line.strip_prefix("-- step ") {
            let number = rest.split(':').next().and_then(|n| n.trim().parse().ok());
            let number = number.expect("schema.sql: a step header is `-- step N: what it does`");
            assert_eq!(
                number,
                i64::try_from(steps.len()).expect("a few steps") + 1,
                "schema.sql: steps are numbered 1, 2, …"
            );
            steps.push((number, String::new()));
        } else if let Some((_, sql)) = steps.last_mut() {
            sql.push_str(line);
            sql.push('\n');
        }
    }
    steps
}

/// Brings the database to the newest schema version, one step per transaction.
fn migrate(connection: &Connection) -> Result<(), StoreError> {
    let steps = steps();
    let known = i64::try_from(steps.len()).expect("a few steps");
    let current: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if current > known {
        return Err(StoreError::NewerSchema {
            found: current,
            known,
        });
    }
    if current == known {
        return Ok(());
    }
    // A step may remove secrets (step 4 replaces tokens by their hashes): zero what it frees,
    // rather than leave the text in free pages of the file.
    let secure_delete: i64 = connection.query_row("PRAGMA secure_delete", [], |row| row.get(0))?;
    connection.pragma_update(None, "secure_delete", true)?;
    for (number, sql) in steps.into_iter().filter(|(number, _)| *number > current) {
        let transaction = connection.unchecked_transaction()?;
        transaction.execute_batch(&sql)?;
        after_step(number, &transaction)?;
        // With foreign keys off during the step, check by hand that it left every reference whole.
        let broken: i64 =
            transaction.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |row| {
                row.get(0)
            })?;
        if broken > 0 {
            return Err(StoreError::Corrupt(format!(
                "schema step {number} would leave {broken} broken references"
            )));
        }
        transaction.pragma_update(None, "user_version", number)?;
        transaction.commit()?;
        log::info!("database schema migrated to version {number}");
    }
    let previous = match secure_delete {
        0 => "OFF",
        2 => "FAST",
        _ => "ON",
    };
    connection.pragma_update(None, "secure_delete", previous)?;
    empty_the_wal(connection)
}

/// Older versions of the pages the steps changed are still in the WAL: copies the new ones into
/// the database and empties the WAL, so that no secret a step removed outlives the upgrade there.
/// A reader in another process may hold the WAL; then the next checkpoint does it.
fn empty_the_wal(connection: &Connection) -> Result<(), StoreError> {
    let (busy, _, _): (i64, i64, i64) =
        connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?;
    if busy != 0 {
        log::warn!("after migrating, the WAL could not be emptied: another connection reads it");
    }
    Ok(())
}

/// Secrets an earlier version kept forever after `rotate-secret --keep-old` now expire 24 hours
/// after the upgrade (SPEC §6). A sender still using one would start failing a day later, so the
/// upgrade says which integrations have them and when, where an operator reading the log sees it.
fn warn_of_expiring_secrets(transaction: &Connection) -> Result<(), StoreError> {
    let mut statement = transaction.prepare(
        "SELECT integration, count(*), min(expires_at) FROM integration_secrets \
         WHERE expires_at IS NOT NULL GROUP BY integration ORDER BY integration",
    )?;
    let expiring = statement.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, i64>(1)?,
            row.get::<_, String>(2)?,
        ))
    })?;
    for row in expiring {
        let (integration, count, at) = row?;
        log::warn!(
            "integration `{integration}`: {count} old secret(s) kept by an earlier \
             `rotate-secret --keep-old` stop working at {at}; move its senders to the newest secret"
        );
    }
    Ok(())
}

/// What a step needs that SQL cannot do, in the step's own transaction, before it commits.
fn after_step(number: i64, transaction: &Connection) -> Result<(), StoreError> {
    if number == 4 {
        let hashed = super::integrations::hash_compared_secrets(transaction)?;
        if hashed > 0 {
            log::info!("{hashed} token, bearer and basic secrets are now kept as hashes only");
        }
        warn_of_expiring_secrets(transaction)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_file_is_migrated_to_the_last_step_and_reopening_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.db");
        let connection = open_for_writing(&path).unwrap();
        let version: i64 = connection
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, i64::try_from(steps().len()).unwrap());
        assert_eq!(page_size(&connection).unwrap(), PAGE_SIZE);
        drop(connection);
        assert!(
            open_for_writing(&path).is_ok(),
            "a second open applies nothing twice"
        );
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.db");
        let connection = open_for_writing(&path).unwrap();
        connection.pragma_update(None, "user_version", 99).unwrap();
        drop(connection);
        assert!(matches!(
            open_for_writing(&path),
            Err(StoreError::NewerSchema { found: 99, .. })
        ));
    }

    /// Step 2 rebuilds `alerts`: every row, key, tag and title-index entry of a version-1
    /// database survives it, and the checks still refuse what they refused.
    // Building a version-1 database by hand, then checking it whole, reads best in one piece.
    #[allow(clippy::too_many_lines)]
    #[test]
    fn step_2_keeps_every_alert_its_tags_and_its_title_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.db");
        let old = Connection::open(&path).unwrap();
        old.pragma_update(None, "foreign_keys", true).unwrap();
        old.execute_batch(&steps()[0].1).unwrap();
        old.pragma_update(None, "user_version", 1).unwrap();
        old.execute_batch(
            "INSERT INTO alerts (key, integration, id, state, title, severity, tags, occurrences,
                 episode, created_at, opened_at, updated_at, change_seq)
             VALUES (7, 'web', 'disk', 'acknowledged', 'Disk almost full', 'critical',
                 '[\"storage\"]', 3, 2, 't0', 't1', 't2', 41),
                    (9, 'web', 'cert', 'open', 'Certificate expiring', NULL, '[]', 1, 1,
                 't0', 't0', 't0', 42);
             INSERT INTO alert_tags (tag, alert_key) VALUES ('storage', 7);
             INSERT INTO alert_titles (rowid, title) VALUES (7, 'Disk almost full'),
                 (9, 'Certificate expiring');",
        )
        .unwrap();
        drop(old);

        let connection = open_for_writing(&path).unwrap();
        let row: (i64, String, Option<String>, i64, i64) = connection
            .query_row(
                "SELECT key, state, severity, occurrences, change_seq FROM alerts WHERE id = 'disk'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .unwrap();
        assert_eq!(
            row,
            (7, "acknowledged".into(), Some("critical".into()), 3, 41)
        );
        let tagged: String = connection
            .query_row(
                "SELECT a.id FROM alert_tags t JOIN alerts a ON a.key = t.alert_key WHERE t.tag = 'storage'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tagged, "disk");
        let found: i64 = connection
            .query_row(
                "SELECT rowid FROM alert_titles WHERE alert_titles MATCH '\"expiring\"'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(found, 9);
        for bad in [
            "UPDATE alerts SET state = 'closed' WHERE key = 9",
            "UPDATE alerts SET severity = 'fatal' WHERE key = 9",
        ] {
            assert!(connection.execute(bad, []).is_err(), "{bad}");
        }
        assert!(connection
            .execute("UPDATE alerts SET severity = NULL WHERE key = 7", [])
            .is_ok());
        // Foreign keys are on again: removing an alert still takes its tags along.
        connection
            .execute("DELETE FROM alerts WHERE key = 7", [])
            .unwrap();
        let tags: i64 = connection
            .query_row("SELECT count(*) FROM alert_tags", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tags, 0);
    }

    /// What step 2 is for: writing an alert builds no temporary b-tree (SQLite does for an IN
    /// list of three or more in a CHECK), so the writer's busiest statement stays cheap.
    #[test]
    fn updating_an_alert_needs_no_temporary_btree() {
        let dir = tempfile::tempdir().unwrap();
        let connection = open_for_writing(&dir.path().join("test.db")).unwrap();
        let opcodes: Vec<String> = connection
            .prepare(&format!("EXPLAIN {}", super::super::alerts::UPDATE))
            .unwrap()
            .query_map(
                rusqlite::params_from_iter(std::iter::repeat_n(rusqlite::types::Null, 19)),
                |r| r.get(1),
            )
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(opcodes.iter().any(|op| op == "Update" || op == "Insert"));
        assert!(
            !opcodes.iter().any(|op| op.contains("Ephemeral")),
            "{opcodes:?}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_database_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.db");
        open_for_writing(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
