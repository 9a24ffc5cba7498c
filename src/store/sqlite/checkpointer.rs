//! Moves WAL checkpoints off the writer thread.
//!
//! SQLite checkpoints on the committing connection by default: every thousand pages the writer
//! would stop to copy the log into the database file and fsync it, while requests wait. Here the
//! writer's connection does not checkpoint; this thread runs passive checkpoints on a connection
//! of its own, which never block the writer or readers.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::{schema, StoreError};

/// How often the log is copied into the database file.
const EVERY: Duration = Duration::from_millis(250);

pub struct Checkpointer {
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Checkpointer {
    pub(super) fn start(path: &Path) -> Result<Checkpointer, StoreError> {
        let path: PathBuf = path.to_path_buf();
        let connection = schema::open_for_checkpoints(&path)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("alertgate-checkpoint".into())
            .spawn(move || {
                while !stopping.load(Ordering::Acquire) {
                    std::thread::sleep(EVERY);
                    let done =
                        connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                    if let Err(error) = done {
                        log::warn!("checkpoint failed: {error}");
                    }
                }
                // A last full pass once the writer has stopped, so the log is empty at exit.
                let _ = connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
            })?;
        Ok(Checkpointer {
            stop,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Stops the thread after a final checkpoint; call after the writer has stopped.
    pub(super) fn shutdown(&self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.lock().expect("checkpointer lock").take() {
            let _ = thread.join();
        }
    }
}
