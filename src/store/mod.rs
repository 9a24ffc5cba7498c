//! The store: the only code that speaks SQL.
//!
//! Everything above it speaks in domain types. Writes go through one writer thread that owns the
//! only write connection and commits in groups (`writer`); reads use separate read-only
//! connections (`readers`); the CLI and start-up use a direct connection (`Database`). The
//! `Store` trait is what the HTTP layer holds, so a PostgreSQL store for several nodes can be a
//! second implementation of it rather than a rewrite.

mod alert_cache;
mod alerts;
mod checkpointer;
mod database;
mod deliveries;
mod integrations;
mod listing;
mod readers;
mod schema;
mod stats;
mod writer;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::auth::Secret;
use crate::formats::ParsedEvent;
use crate::integration::{Integration, NewIntegration};
use crate::lifecycle::{Alert, Outcome};
use crate::model::{Action, State};

pub use alerts::TimelineEntry;
pub use database::Database;
pub use deliveries::{DeliveryCounts, DeliveryFilter, DeliveryPage, DeliveryRecord};
pub use listing::{AlertFilter, AlertPage};
pub use readers::Readers;
pub use stats::{StateCounts, Stats};
pub use writer::{Writer, WriterSettings};

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
    fn subscribe(&self) -> broadcast::Receiver<Arc<AppliedEvent>>;

    /// Applied events with a `seq` above `after`, oldest first, at most `limit`. Blocking.
    fn applied_after(&self, after: i64, limit: usize) -> Result<Vec<AppliedEvent>, StoreError>;

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
}

/// One accepted request's events, ready to apply.
#[derive(Debug)]
pub struct IngestRequest {
    pub integration: String,
    pub delivery_id: String,
    pub events: Vec<ParsedEvent>,
    pub received_at: DateTime<Utc>,
    /// `Idempotency-Key`, `webhook-id` or `svix-id`, whichever came first.
    pub idempotency_key: Option<String>,
    /// The raw body, only when the integration captures payloads.
    pub captured_body: Option<String>,
    pub remote_addr: Option<String>,
}

/// What one event did, as the `202` body lists it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EventResult {
    pub id: String,
    pub action: Action,
    /// created, deduplicated, updated, acknowledged, resolved, reopened or ignored.
    #[serde(serialize_with = "serialize_outcome")]
    #[schema(value_type = String)]
    pub outcome: Outcome,
    /// The alert's state afterwards; null when no alert exists.
    pub state: Option<State>,
    pub reason: Option<&'static str>,
}

fn serialize_outcome<S: serde::Serializer>(
    outcome: &Outcome,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(outcome.as_str())
}

/// The answer to an accepted delivery.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Receipt {
    pub delivery: String,
    pub results: Vec<EventResult>,
}

/// What the store answers to an ingest.
#[derive(Debug, Clone, PartialEq)]
pub enum IngestReply {
    /// Applied and committed now; `body` is the receipt as JSON.
    Applied { receipt: Receipt, body: String },
    /// The idempotency key was seen within 24 hours: the first answer, byte for byte.
    Replayed { status: u16, body: String },
}

/// A change to integrations made over the admin API, applied by the writer like any write.
pub enum IntegrationChange {
    Add(NewIntegration),
    /// New settings for an existing integration; `secret`, when given, replaces all of its secrets.
    Update {
        integration: Box<Integration>,
        secret: Option<Secret>,
    },
    Remove {
        name: String,
        purge: bool,
    },
    RotateSecret {
        name: String,
        secret: Secret,
        keep_old: bool,
    },
}

/// A person acknowledging or resolving an alert through the API.
#[derive(Debug, Clone)]
pub struct ManualAction {
    pub integration: String,
    pub id: String,
    /// `Acknowledge` or `Resolve`.
    pub action: Action,
    pub by: Option<String>,
    pub note: Option<String>,
}

/// What a manual action did.
#[derive(Debug, Clone, PartialEq)]
pub enum ManualReply {
    /// There is no such alert; nothing was stored.
    UnknownAlert,
    /// The alert afterwards and the outcome, which may be `Ignored` (already resolved …).
    Done { alert: Box<Alert>, outcome: Outcome },
}

/// One applied event, as the live stream sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedEvent {
    pub seq: i64,
    pub action: Action,
    pub outcome: Outcome,
    /// The alert right after the event (when replayed from the log: as it is now).
    pub alert: Alert,
}

/// A request that was refused before anything was applied.
#[derive(Debug, Clone)]
pub struct RejectedDelivery {
    pub id: String,
    pub integration: String,
    pub at: DateTime<Utc>,
    pub status: u16,
    pub error_code: &'static str,
    pub duration_ms: i64,
    pub remote_addr: Option<String>,
    pub idempotency_key: Option<String>,
    /// Only when capturing payloads, and never for a `401`.
    pub captured_body: Option<String>,
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
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for StoreError {
    /// A full disk is its own error: it is temporary and answered `503`, not `500`.
    fn from(error: rusqlite::Error) -> StoreError {
        match error.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => StoreError::Full,
            _ => StoreError::Sqlite(error),
        }
    }
}

/// A `StoreError` for a stored value that does not parse.
fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} `{value}`"))
}

/// The SQLite store: the writer thread plus a pool of readers.
pub struct SqliteStore {
    writer: Writer,
    readers: Readers,
    checkpointer: checkpointer::Checkpointer,
}

impl SqliteStore {
    /// Opens the database at `path` (migrating it), starts the writer and prepares readers.
    pub fn open(
        path: &std::path::Path,
        settings: WriterSettings,
        clock: crate::time::Clock,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Result<SqliteStore, StoreError> {
        let connection = schema::open_for_writing(path)?;
        // The server's writer leaves checkpoints to the checkpointer thread.
        connection.pragma_update(None, "wal_autocheckpoint", 0)?;
        if let Some(bytes) = settings.max_db_bytes {
            let page_size = schema::page_size(&connection)?;
            let pages = (bytes / page_size.max(1).unsigned_abs()).max(1);
            connection.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))?;
        }
        Ok(SqliteStore {
            writer: Writer::start(connection, settings, clock, metrics)?,
            readers: Readers::new(path),
            checkpointer: checkpointer::Checkpointer::start(path)?,
        })
    }

    /// Lets the writer commit what it holds, then stops it and checkpoints. Called once at
    /// shutdown.
    pub fn shutdown(&self) {
        self.writer.shutdown();
        self.checkpointer.shutdown();
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

    fn subscribe(&self) -> broadcast::Receiver<Arc<AppliedEvent>> {
        self.writer.subscribe()
    }

    fn applied_after(&self, after: i64, limit: usize) -> Result<Vec<AppliedEvent>, StoreError> {
        self.readers
            .with(|connection| alerts::applied_after(connection, after, limit))
    }

    fn alert(&self, integration: &str, id: &str) -> Result<Option<Alert>, StoreError> {
        self.readers.alert(integration, id)
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

    fn ping(&self) -> Result<(), StoreError> {
        if !self.writer.is_running() {
            return Err(StoreError::Stopped);
        }
        self.readers
            .with(|connection| Ok(connection.query_row("SELECT 1", [], |_| Ok(()))?))
    }
}
