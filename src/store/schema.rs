//! Opening connections: file creation, pragmas and schema migration, all in one place.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::StoreError;

/// The whole schema; `-- step N` sections migrate from version N-1 to N.
const SCHEMA: &str = include_str!("../../schema.sql");

/// How long a connection waits for another one's lock (a CLI command, a checkpoint).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens `path` for writing, creating it readable by its owner only, and migrates it.
pub(super) fn open_for_writing(path: &Path) -> Result<Connection, StoreError> {
    create_private_file(path)?;
    let connection = Connection::open(path)?;
    // WAL lets readers work while the writer commits; FULL makes each commit durable on return.
    let mode: String = connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        log::warn!("SQLite refused WAL mode (journal_mode is {mode}); reads will wait for writes");
    }
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.pragma_update(None, "foreign_keys", true)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    migrate(&connection)?;
    Ok(connection)
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
/// blocks its writer. An existing non-empty `target` is refused, never overwritten.
pub(super) fn backup(source: &Connection, target: &Path) -> Result<(), StoreError> {
    if std::fs::metadata(target).is_ok_and(|meta| meta.len() > 0) {
        return Err(StoreError::File(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!("{} exists already; back up to a new file", target.display()),
        )));
    }
    create_private_file(target)?;
    let name = target.to_str().ok_or_else(|| {
        StoreError::File(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the backup path is not valid UTF-8",
        ))
    })?;
    source.execute("VACUUM INTO ?1", [name])?;
    Ok(())
}

#[cfg(unix)]
fn create_private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
    }
}

#[cfg(not(unix))]
fn create_private_file(_path: &Path) -> std::io::Result<()> {
    Ok(())
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
                steps.len() as i64 + 1,
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
    let known = steps.len() as i64;
    let current: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if current > known {
        return Err(StoreError::NewerSchema {
            found: current,
            known,
        });
    }
    for (number, sql) in steps.into_iter().filter(|(number, _)| *number > current) {
        let transaction = connection.unchecked_transaction()?;
        transaction.execute_batch(&sql)?;
        transaction.pragma_update(None, "user_version", number)?;
        transaction.commit()?;
        log::info!("database schema migrated to version {number}");
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
        assert_eq!(version, steps().len() as i64);
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
