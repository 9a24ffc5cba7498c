//! The store: the only code that speaks SQL, behind a trait that speaks data.
//!
//! Everything above it speaks in domain types: the `Store` trait takes work (`work`) and answers
//! records (`records`), and knows nothing of HTTP. Writes go through the group committer
//! (`writer`), which queues jobs, applies each group in one transaction through a backend and
//! answers every job only after the commit; it knows no SQL, so a PostgreSQL store can reuse it.
//! `sqlite` is the SQLite store: the backend the writer drives, the read-only connections, the
//! migrations and the upkeep. `--db` is read into a `DbLocation`; the CLI and start-up use a
//! direct connection to it (`Database`). `migrate` copies a SQLite database into PostgreSQL.

mod counters;
mod database;
mod location;
pub mod migrate;
mod postgres;
mod records;
mod sqlite;
mod stored;
mod work;
mod writer;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use tokio::sync::broadcast;

use crate::integration::Integration;
use crate::lifecycle::Alert;

pub use database::Database;
pub use location::DbLocation;
pub use postgres::{PgDatabase, PgSettings, PgStore, PgUrl, SslMode};
pub use records::{
    AlertFilter, AlertPage, AppliedEvent, DeliveryCounts, DeliveryFilter, DeliveryPage,
    DeliveryRecord, LiveEvent, StateCounts, Stats, TimelineEntry,
};
pub use sqlite::{ServerLock, SqliteDatabase, SqliteStore};
pub use work::{
    IngestReply, IngestRequest, IntegrationChange, ManualAction, ManualReply, Receipt,
    RejectedDelivery, UnrecordedRejections,
};
pub use writer::WriterObserver;

/// Applied events kept for live subscribers that fall behind; one that falls further is dropped.
/// An event is let go as soon as every subscriber has taken it, and the stream's subscribers
/// take each one at once (a slow client is bounded in bytes further on), so this counts events
/// in flight, not what a slow client holds.
const LIVE_CAPACITY: usize = 4096;

/// How the store writes: the group committer's queue and group size, and the SQLite store's
/// delivery retention, size limit and log bound.
#[derive(Debug, Clone, Copy)]
pub struct WriterSettings {
    /// Requests that may wait for the writer before new ones get `503`.
    pub queue_capacity: usize,
    /// Requests applied in one transaction at most.
    pub max_group: usize,
    /// How long the delivery log keeps a row.
    pub keep_deliveries: chrono::Duration,
    /// The most bytes the database may take; past it, writes fail as on a full disk.
    pub max_db_bytes: Option<u64>,
    /// How large the write-ahead log may grow before the writer restarts it.
    pub wal_limit_bytes: u64,
    /// Rejected deliveries recorded in full per integration and second; the rest are counted.
    pub recorded_rejections_per_second: u32,
    /// Rejected deliveries the log keeps per integration; older ones are pruned to counts.
    pub kept_rejections: u32,
}

impl Default for WriterSettings {
    fn default() -> WriterSettings {
        WriterSettings {
            queue_capacity: 4096,
            max_group: 512,
            keep_deliveries: chrono::Duration::days(30),
            max_db_bytes: None,
            wal_limit_bytes: 1 << 30,
            recorded_rejections_per_second: 10,
            kept_rejections: 10_000,
        }
    }
}

/// Opens the store at `location` (migrating it) and starts its writer: what a server runs on.
/// `pg` says how a PostgreSQL store uses its server.
pub fn open(
    location: &DbLocation,
    settings: WriterSettings,
    pg: &PgSettings,
    clock: crate::time::Clock,
    observer: Arc<dyn WriterObserver>,
) -> Result<Arc<dyn Store>, StoreError> {
    match location {
        DbLocation::Sqlite(path) => Ok(Arc::new(SqliteStore::open(
            path, settings, clock, observer,
        )?)),
        DbLocation::Postgres(url) => {
            Ok(Arc::new(PgStore::open(url, pg, settings, clock, observer)?))
        }
    }
}

/// What the HTTP layer needs from a store.
pub trait Store: Send + Sync + 'static {
    /// Applies one delivery's events atomically; resolves only after a durable commit.
    /// Answers `StoreError::Busy` at once when no more work can be queued.
    fn ingest(&self, request: IngestRequest)
        -> BoxFuture<'static, Result<IngestReply, StoreError>>;

    /// Applies a person's acknowledge or resolve; resolves after the commit.
    fn act(&self, action: ManualAction) -> BoxFuture<'static, Result<ManualReply, StoreError>>;

    /// Applies a change to integrations (admin API); resolves after the commit.
    fn change_integration(
        &self,
        change: IntegrationChange,
    ) -> BoxFuture<'static, Result<(), StoreError>>;

    /// One integration with its secrets. Blocking.
    fn integration(&self, name: &str) -> Result<Option<Integration>, StoreError>;

    /// A page of an integration's delivery log, newest first. Blocking.
    fn deliveries(&self, filter: &DeliveryFilter) -> Result<DeliveryPage, StoreError>;

    /// Accepted and rejected deliveries of an integration since `since`. Blocking.
    fn delivery_counts(
        &self,
        integration: &str,
        since: DateTime<Utc>,
    ) -> Result<DeliveryCounts, StoreError>;

    /// Records a rejected delivery, best effort: dropped rather than slowing anyone down.
    fn record_rejected(&self, delivery: RejectedDelivery);

    /// Every event applied (not ignored) from now on, each after its commit.
    fn subscribe(&self) -> broadcast::Receiver<Arc<LiveEvent>>;

    /// Applied events with a `seq` above `after`, oldest first, at most `limit`, and no more
    /// once their alerts' stored text reaches `max_bytes` (but always one, when there is one).
    /// Blocking.
    fn applied_after(
        &self,
        after: i64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<AppliedEvent>, StoreError>;

    /// One alert. Blocking.
    fn alert(&self, integration: &str, id: &str) -> Result<Option<Alert>, StoreError>;

    /// A page of alerts. Blocking.
    fn alerts(&self, filter: &AlertFilter) -> Result<AlertPage, StoreError>;

    /// An alert's timeline after `after_seq`, oldest first, at most `limit` entries. Blocking.
    fn timeline(
        &self,
        integration: &str,
        id: &str,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<TimelineEntry>, StoreError>;

    /// How many alerts are in each state now. Blocking.
    fn alert_counts(&self) -> Result<StateCounts, StoreError>;

    /// Counts and response times over episodes opened since `since`. Blocking.
    fn stats(&self, since: DateTime<Utc>) -> Result<Stats, StoreError>;

    /// Every integration with its secrets. Blocking: call from a blocking context.
    fn integrations(&self) -> Result<Vec<Integration>, StoreError>;

    /// A number that changes whenever any integration does. Blocking.
    fn integrations_revision(&self) -> Result<i64, StoreError>;

    /// Whether the database answers and writes can be taken. Blocking.
    fn ping(&self) -> Result<(), StoreError>;

    /// Asks the store to ring `wake` whenever it hears that integrations changed, sooner than
    /// the registry's poll of `integrations_revision` would notice. A store with nothing to hear
    /// (one SQLite file, whose changes the poll sees) keeps the default.
    fn watch_integrations(&self, wake: Arc<crate::wake::Wake>) {
        let _ = wake;
    }

    /// Lets the writer commit what it holds, then stops it. Called once, at shutdown; work
    /// sent after it is refused.
    fn shutdown(&self);
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store cannot take more work right now")]
    Busy,
    #[error("the store has stopped")]
    Stopped,
    #[error("no integration named `{0}`")]
    NoSuchIntegration(String),
    #[error("an integration named `{0}` exists already")]
    IntegrationExists(String),
    #[error(
        "integration `{0}` already has 5 active secrets; rotate without --keep-old to replace them"
    )]
    TooManySecrets(String),
    #[error("the database was written by a newer alertgate (schema version {found}, this one knows {known})")]
    NewerSchema { found: i64, known: i64 },
    #[error("stored data is not readable: {0}")]
    Corrupt(String),
    #[error("cannot prepare the database file: {0}")]
    File(#[from] std::io::Error),
    #[error("the database is full (the disk, or --max-db-mb)")]
    Full,
    /// The database cannot be reached (a server store that is down, restarting or failing
    /// over): temporary, answered `503` with `Retry-After`, never a `2xx`.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// Another server holds the database (`ServerLock`).
    #[error(
        "another alertgate is already serving {database}{}; stop it first, or give this one another --db",
        holder.map(|pid| format!(" (process {pid})")).unwrap_or_default()
    )]
    InUse {
        database: String,
        holder: Option<u32>,
    },
    /// What only a SQLite file has (a file copy, its integrity check) asked of PostgreSQL.
    #[error("{0}")]
    NotOnPostgres(&'static str),
    /// Any other failure of the database itself; its cause is for the log.
    #[error("database error: {0}")]
    Database(Box<dyn std::error::Error + Send + Sync>),
}
