//! The SQLite store: the embedded default. One writer connection driven by the group committer
//! (`backend`, applying each job with `apply`), pooled read-only connections (`readers`), a
//! checkpointer and the writer's upkeep keeping the log in bounds (`checkpointer`, `upkeep`),
//! the schema's migrations (`schema`), and one module of SQL per table family.

mod alert_cache;
mod alerts;
mod apply;
mod backend;
mod checkpointer;
mod counters;
mod database;
mod deliveries;
mod export;
mod integrations;
mod listing;
mod lock;
mod readers;
#[cfg(test)]
mod recount;
mod rejections;
mod schema;
mod stats;
mod upkeep;

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use tokio::sync::broadcast;

use super::writer::Writer;
use super::{
    AlertFilter, AlertPage, AppliedEvent, DeliveryCounts, DeliveryFilter, DeliveryPage,
    DeliveryRecord, IngestReply, IngestRequest, IntegrationChange, LiveEvent, ManualAction,
    ManualReply, RejectedDelivery, StateCounts, Stats, Store, StoreError, TimelineEntry,
    WriterObserver, WriterSettings,
};
use crate::integration::Integration;
use crate::lifecycle::Alert;
use crate::time::Clock;

pub use database::SqliteDatabase;
pub(super) use export::SqliteExport;
pub use lock::ServerLock;
use readers::Readers;

impl From<rusqlite::Error> for StoreError {
    /// A full disk is its own error: it is temporary and answered `503`, not `500`.
    fn from(error: rusqlite::Error) -> StoreError {
        match error.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => StoreError::Full,
            _ => StoreError::Database(Box::new(error)),
        }
    }
}

use super::stored::corrupt;

/// Below this many free pages under `--max-db-mb`, a store whose last write failed for want of
/// space still counts as full: one delivery touches a few dozen pages.
const FULL_MARGIN_PAGES: u64 = 256;

/// The SQLite store: the writer thread plus a pool of readers.
pub struct SqliteStore {
    writer: Writer,
    /// The live stream: the writer sends each committed group's events here.
    live: broadcast::Sender<Arc<LiveEvent>>,
    readers: Readers,
    checkpointer: checkpointer::Checkpointer,
    max_db_bytes: Option<u64>,
}

impl SqliteStore {
    /// Opens the database at `path` (migrating it), starts the writer and prepares readers.
    pub fn open(
        path: &Path,
        settings: WriterSettings,
        clock: Clock,
        observer: Arc<dyn WriterObserver>,
    ) -> Result<SqliteStore, StoreError> {
        let connection = schema::open_for_writing(path)?;
        // The server's writer leaves checkpoints to the checkpointer thread.
        connection.pragma_update(None, "wal_autocheckpoint", 0)?;
        if let Some(bytes) = settings.max_db_bytes {
            let page_size = schema::page_size(&connection)?;
            let pages = (bytes / page_size.max(1).unsigned_abs()).max(1);
            connection.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))?;
        }
        let backend = backend::SqliteBackend::new(connection, &settings, clock);
        let (live, _) = broadcast::channel(super::LIVE_CAPACITY);
        Ok(SqliteStore {
            writer: Writer::start(backend, &settings, Box::new(live.clone()), observer)?,
            live,
            readers: Readers::new(path),
            checkpointer: checkpointer::Checkpointer::start(path)?,
            max_db_bytes: settings.max_db_bytes,
        })
    }
}

impl Store for SqliteStore {
    fn ingest(
        &self,
        request: IngestRequest,
    ) -> BoxFuture<'static, Result<IngestReply, StoreError>> {
        self.writer.ingest(request)
    }

    fn act(&self, action: ManualAction) -> BoxFuture<'static, Result<ManualReply, StoreError>> {
        self.writer.act(action)
    }

    fn record_rejected(&self, delivery: RejectedDelivery) {
        self.writer.record_rejected(delivery);
    }

    fn change_integration(
        &self,
        change: IntegrationChange,
    ) -> BoxFuture<'static, Result<(), StoreError>> {
        self.writer.change_integration(change)
    }

    fn integration(&self, name: &str) -> Result<Option<Integration>, StoreError> {
        self.readers
            .with(|connection| integrations::get(connection, name))
    }

    fn deliveries(&self, filter: &DeliveryFilter) -> Result<DeliveryPage, StoreError> {
        self.readers
            .with(|connection| deliveries::list(connection, filter))
    }

    fn delivery_counts(
        &self,
        integration: &str,
        since: DateTime<Utc>,
    ) -> Result<DeliveryCounts, StoreError> {
        self.readers
            .with(|connection| deliveries::counts(connection, integration, since))
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<LiveEvent>> {
        self.live.subscribe()
    }

    fn applied_after(
        &self,
        after: i64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<AppliedEvent>, StoreError> {
        self.readers
            .with(|connection| alerts::applied_after(connection, after, limit, max_bytes))
    }

    fn alert(&self, integration: &str, id: &str) -> Result<Option<Alert>, StoreError> {
        self.readers
            .with(|connection| alerts::load(connection, integration, id))
    }

    fn alerts(&self, filter: &AlertFilter) -> Result<AlertPage, StoreError> {
        self.readers
            .with(|connection| listing::list(connection, filter))
    }

    fn timeline(
        &self,
        integration: &str,
        id: &str,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<TimelineEntry>, StoreError> {
        self.readers
            .with(|connection| alerts::timeline(connection, integration, id, after_seq, limit))
    }

    fn alert_counts(&self) -> Result<StateCounts, StoreError> {
        self.readers.with(stats::alert_counts)
    }

    fn stats(&self, since: DateTime<Utc>) -> Result<Stats, StoreError> {
        self.readers
            .with(|connection| stats::stats(connection, since))
    }

    fn integrations(&self) -> Result<Vec<Integration>, StoreError> {
        self.readers.with(integrations::all)
    }

    fn integrations_revision(&self) -> Result<i64, StoreError> {
        self.readers.with(integrations::revision)
    }

    /// Lets the writer commit what it holds, then stops it and checkpoints.
    fn shutdown(&self) {
        self.writer.shutdown();
        self.checkpointer.shutdown();
    }

    fn ping(&self) -> Result<(), StoreError> {
        if !self.writer.is_running() {
            return Err(StoreError::Stopped);
        }
        let used = self.readers.with(schema::space_used)?;
        // The last write failed for want of space. Under `--max-db-mb` the pages in use tell
        // whether pruning has made room since; on a full disk only the next write can tell.
        if self.writer.is_full() {
            let limit = self.max_db_bytes.unwrap_or(0);
            if limit.saturating_sub(used.bytes) < used.page_size.saturating_mul(FULL_MARGIN_PAGES) {
                return Err(StoreError::Full);
            }
        }
        Ok(())
    }
}
