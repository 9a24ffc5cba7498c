//! One server per database file. `serve` holds an exclusive lock on `<database>.lock` for as long
//! as it runs: a second server on the same file would apply events from an alert cache that the
//! first one's writes have made stale, and corrupt lifecycles, so it refuses to start instead,
//! naming the file and the process that holds it. The CLI's commands take no lock: SQLite's own
//! locking keeps them safe beside a running server, and the server notices what they change.
//! The kernel drops the lock with the process, however it ends.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use super::schema::create_private_file;
use super::StoreError;

/// Held while a server runs on a database; dropping it lets another start.
pub struct ServerLock {
    _file: File,
}

impl ServerLock {
    /// Takes the lock of the database at `database`, or says who holds it.
    pub fn acquire(database: &Path) -> Result<ServerLock, StoreError> {
        let path = lock_path(database);
        create_private_file(&path)?;
        let mut file = OpenOptions::new().read(true).write(true).open(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                // The holder wrote its pid when it took the lock; a lock without one still holds.
                let _ = file.read_to_string(&mut holder);
                return Err(StoreError::InUse {
                    database: database.display().to_string(),
                    holder: holder.trim().parse().ok(),
                });
            }
            Err(TryLockError::Error(error)) => return Err(error.into()),
        }
        file.set_len(0)?;
        file.rewind()?;
        writeln!(file, "{}", std::process::id())?;
        Ok(ServerLock { _file: file })
    }
}

/// `alertgate.db` → `alertgate.db.lock`, beside it.
fn lock_path(database: &Path) -> PathBuf {
    let mut path = database.as_os_str().to_owned();
    path.push(".lock");
    PathBuf::from(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_database_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("a.db");
        let held = ServerLock::acquire(&database).unwrap();
        match ServerLock::acquire(&database) {
            Err(StoreError::InUse { holder, .. }) => assert_eq!(holder, Some(std::process::id())),
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("two locks on one database"),
        }
        drop(held);
        assert!(ServerLock::acquire(&database).is_ok(), "released on drop");
    }
}
