//! `PgStore`: the store a server runs on PostgreSQL. Writes go through the group committer with
//! the PostgreSQL backend on a connection of its own; reads take a connection from the pool and
//! block on the store's runtime (they are called from actix's blocking pool, as SQLite's are).
//! A listener hears the other nodes, and a follower publishes every node's events in seq order.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Pool};
use futures_util::future::BoxFuture;
use tokio::sync::{broadcast, mpsc};

use super::backend::PgBackend;
use super::connect::{self, PgRuntime, PgSettings};
use super::follow::{Follower, FollowerSink, IntegrationsWake};
use super::upkeep::{self, SizeLimit};
use super::url::PgUrl;
use super::{alerts, deliveries, integrations, listen, listing, schema, stats};
use crate::integration::Integration;
use crate::lifecycle::Alert;
use crate::store::writer::Writer;
use crate::store::{
    AlertFilter, AlertPage, AppliedEvent, DeliveryCounts, DeliveryFilter, DeliveryPage,
    IngestReply, IngestRequest, IntegrationChange, LiveEvent, ManualAction, ManualReply,
    RejectedDelivery, StateCounts, Stats, Store, StoreError, TimelineEntry, WriterObserver,
    WriterSettings,
};
use crate::time::Clock;

/// How long a health check waits for the server.
const PING_BUDGET: std::time::Duration = std::time::Duration::from_secs(1);

pub struct PgStore {
    writer: Writer,
    live: broadcast::Sender<Arc<LiveEvent>>,
    readers: Pool,
    /// How long a read may take (`--db-statement-timeout`).
    statement_timeout: std::time::Duration,
    /// Rung when another node (or the CLI) changes integrations.
    integrations_wake: IntegrationsWake,
    /// `--max-db-mb`, which the writer's upkeep measures.
    space: Arc<SizeLimit>,
    /// Last, so that it outlives every connection whose IO it runs.
    runtime: PgRuntime,
}

impl PgStore {
    /// Connects, migrates the schema (under its lock, so nodes started together take turns),
    /// and starts the writer.
    pub fn open(
        url: &PgUrl,
        pg: &PgSettings,
        settings: WriterSettings,
        clock: Clock,
        observer: Arc<dyn WriterObserver>,
    ) -> Result<PgStore, StoreError> {
        let runtime = PgRuntime::new()?;
        let config = connect::session_config(url, pg);
        let tls = connect::tls(url)?;
        runtime.block_on(async {
            let mut client = connect::connect(&config, tls.clone()).await?;
            schema::migrate(&mut client).await
        })?;
        let readers = connect::pool(config.clone(), tls.clone(), pg)?;
        let writer_connection = connect::pool(
            config.clone(),
            tls.clone(),
            &PgSettings {
                pool_size: 1,
                ..*pg
            },
        )?;
        let space = Arc::new(SizeLimit::new(settings.max_db_bytes));
        let backend = PgBackend::new(
            runtime.handle(),
            writer_connection,
            clock,
            observer.clone(),
            pg.statement_timeout,
            &settings,
            space.clone(),
        );
        // The live stream: the follower orders this node's groups with the other nodes' (which
        // the listener hears of) and is the only one to publish.
        let (live, _) = broadcast::channel(crate::store::LIVE_CAPACITY);
        let (committed, local) = mpsc::unbounded_channel();
        let (heard_sender, heard) = mpsc::unbounded_channel();
        let integrations_wake = IntegrationsWake::default();
        let follower = Follower {
            readers: readers.clone(),
            live: live.clone(),
            integrations: integrations_wake.clone(),
        };
        let handle = runtime.handle();
        handle.spawn(listen::listen(config, tls, heard_sender));
        handle.spawn(follower.run(local, heard));
        Ok(PgStore {
            writer: Writer::start(
                backend,
                &settings,
                Box::new(FollowerSink(committed)),
                observer,
            )?,
            live,
            readers,
            statement_timeout: pg.statement_timeout,
            integrations_wake,
            space,
            runtime,
        })
    }

    /// Runs one read on a pooled connection, within the statement timeout.
    fn read<T>(
        &self,
        read: impl AsyncFnOnce(&mut deadpool_postgres::Client) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.runtime
            .block_on(bounded(&self.readers, self.statement_timeout, read))
    }
}

impl Store for PgStore {
    fn ingest(
        &self,
        request: IngestRequest,
    ) -> BoxFuture<'static, Result<IngestReply, StoreError>> {
        self.writer.ingest(request)
    }

    fn act(&self, action: ManualAction) -> BoxFuture<'static, Result<ManualReply, StoreError>> {
        self.writer.act(action)
    }

    fn change_integration(
        &self,
        change: IntegrationChange,
    ) -> BoxFuture<'static, Result<(), StoreError>> {
        self.writer.change_integration(change)
    }

    fn integration(&self, name: &str) -> Result<Option<Integration>, StoreError> {
        self.read(async |client| integrations::get(client, name).await)
    }

    fn deliveries(&self, filter: &DeliveryFilter) -> Result<DeliveryPage, StoreError> {
        self.read(async |client| deliveries::list(client, filter).await)
    }

    fn delivery_counts(
        &self,
        integration: &str,
        since: DateTime<Utc>,
    ) -> Result<DeliveryCounts, StoreError> {
        self.read(async |client| deliveries::counts(client, integration, since).await)
    }

    fn record_rejected(&self, delivery: RejectedDelivery) {
        self.writer.record_rejected(delivery);
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
        self.read(async |client| {
            alerts::applied_after(client, after, i64::MAX, limit, max_bytes).await
        })
    }

    fn alert(&self, integration: &str, id: &str) -> Result<Option<Alert>, StoreError> {
        self.read(async |client| alerts::load(client, integration, id).await)
    }

    fn alerts(&self, filter: &AlertFilter) -> Result<AlertPage, StoreError> {
        self.read(async |client| listing::list(client, filter).await)
    }

    fn timeline(
        &self,
        integration: &str,
        id: &str,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<TimelineEntry>, StoreError> {
        self.read(async |client| alerts::timeline(client, integration, id, after_seq, limit).await)
    }

    fn alert_counts(&self) -> Result<StateCounts, StoreError> {
        self.read(async |client| stats::alert_counts(client).await)
    }

    fn stats(&self, since: DateTime<Utc>) -> Result<Stats, StoreError> {
        self.read(async |client| {
            // One snapshot: the counts and the response times agree.
            let transaction = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let stats = stats::stats(&transaction, since).await?;
            transaction.commit().await?;
            Ok(stats)
        })
    }

    fn integrations(&self) -> Result<Vec<Integration>, StoreError> {
        self.read(async |client| integrations::all(client).await)
    }

    fn integrations_revision(&self) -> Result<i64, StoreError> {
        self.read(async |client| integrations::revision(client).await)
    }

    /// The writer runs, a connection answers, and the server takes writes (a standby that a
    /// failover left behind does not: `503` until the URL reaches the primary again).
    fn ping(&self) -> Result<(), StoreError> {
        if !self.writer.is_running() {
            return Err(StoreError::Stopped);
        }
        let primary: bool =
            self.runtime
                .block_on(bounded(&self.readers, PING_BUDGET, async |client| {
                    let statement = client
                        .prepare_cached("SELECT NOT pg_is_in_recovery()")
                        .await?;
                    Ok(client.query_one(&statement, &[]).await?.try_get(0)?)
                }))?;
        if !primary {
            return Err(StoreError::Unavailable(
                "the server is a standby and takes no writes".into(),
            ));
        }
        // While over, the size is asked again here, so writes resume as soon as space returns.
        if self.space.is_over() {
            self.space
                .measured(self.read(async |client| upkeep::database_size(client).await)?);
        }
        if self.space.says_full(self.writer.is_full()) {
            return Err(StoreError::Full);
        }
        Ok(())
    }

    fn watch_integrations(&self, wake: Arc<crate::wake::Wake>) {
        *self.integrations_wake.lock().expect("wake lock") = Some(wake);
    }

    fn shutdown(&self) {
        self.writer.shutdown();
    }
}

/// Runs `read` on a connection of `pool` within `budget`: a server that does not answer in
/// time is a `503`, never a request held past the request timeout. A connection that did not
/// answer is closed, not handed to the next read (which would wait behind it).
async fn bounded<T>(
    pool: &Pool,
    budget: std::time::Duration,
    read: impl AsyncFnOnce(&mut deadpool_postgres::Client) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let late = || {
        StoreError::Unavailable(format!(
            "the database did not answer within {} ms",
            budget.as_millis()
        ))
    };
    let mut client = tokio::time::timeout(budget, pool.get())
        .await
        .map_err(|_| late())??;
    let outcome = tokio::time::timeout(budget, read(&mut client)).await;
    outcome.unwrap_or_else(|_| {
        drop(deadpool_postgres::Object::take(client));
        Err(late())
    })
}
