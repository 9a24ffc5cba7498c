//! Prometheus metrics (SPEC §7), kept with `prometheus-client` and rendered for `GET /metrics`.
//!
//! Everything here is a count, a size or a time: no secret, no Id, no title. Alerts by state is
//! a gauge the writer moves on each transition, loaded once at start, so a scrape never scans a
//! table; the database and WAL sizes are read from the file system at scrape time.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

use crate::budget::ByteBudget;
use crate::lifecycle::Outcome;
use crate::model::{Action, State};
use crate::store::{StateCounts, WriterObserver};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: Arc<str>,
    integration: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: Arc<str>,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    action: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    pool: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

/// Every metric alertgate exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_duration: Family<RouteLabels, Histogram>,
    events: Family<EventLabels, Counter>,
    batch_size: Histogram,
    commit_duration: Histogram,
    queue_depth: Gauge,
    alerts: Family<StateLabels, Gauge>,
    database_bytes: Gauge<f64, AtomicU64>,
    wal_bytes: Gauge<f64, AtomicU64>,
    memory_held: Family<PoolLabels, Gauge>,
    stream_clients_dropped: Counter,
    /// The SQLite file whose size the gauges show; a server database has none.
    database: Option<PathBuf>,
    /// The byte budgets whose use `memory_held` shows, read at scrape time.
    budgets: RwLock<Vec<(&'static str, ByteBudget)>>,
    /// Route pattern → its label, spelled once (a few dozen at most: one per route).
    route_labels: RwLock<HashMap<String, Arc<str>>>,
}

impl Metrics {
    pub fn new(database: Option<&Path>) -> Metrics {
        Metrics {
            registry: Registry::with_prefix("alertgate"),
            requests: Family::default(),
            request_duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
            }),
            events: Family::default(),
            batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 11)),
            commit_duration: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
            queue_depth: Gauge::default(),
            alerts: Family::default(),
            database_bytes: Gauge::default(),
            wal_bytes: Gauge::default(),
            memory_held: Family::default(),
            stream_clients_dropped: Counter::default(),
            database: database.map(Path::to_path_buf),
            budgets: RwLock::default(),
            route_labels: RwLock::default(),
        }
        .registered()
    }

    /// Registers every metric under its name and help text; the registry keeps a handle to
    /// each, so what the fields count is what a scrape shows.
    fn registered(mut self) -> Metrics {
        let registry = &mut self.registry;
        registry.register(
            "http_requests",
            "HTTP requests by route, integration and status",
            self.requests.clone(),
        );
        registry.register_with_unit(
            "http_request_duration",
            "Time from receiving a request to answering it, by route and status",
            Unit::Seconds,
            self.request_duration.clone(),
        );
        registry.register(
            "events",
            "Events applied or ignored, by action and outcome",
            self.events.clone(),
        );
        registry.register(
            "writer_batch_size",
            "Requests committed together in one transaction",
            self.batch_size.clone(),
        );
        registry.register_with_unit(
            "writer_commit_duration",
            "Time to apply and durably commit one group",
            Unit::Seconds,
            self.commit_duration.clone(),
        );
        registry.register(
            "writer_queue_depth",
            "Requests waiting for the writer",
            self.queue_depth.clone(),
        );
        registry.register("alerts", "Alerts by current state", self.alerts.clone());
        registry.register_with_unit(
            "database_size",
            "Size of the database: the SQLite file, or the PostgreSQL database",
            Unit::Bytes,
            self.database_bytes.clone(),
        );
        registry.register_with_unit(
            "wal_size",
            "Size of the SQLite write-ahead log",
            Unit::Bytes,
            self.wal_bytes.clone(),
        );
        registry.register_with_unit(
            "memory_held",
            "Bytes held for slow clients, by pool: request bodies being read, stream frames waiting",
            Unit::Bytes,
            self.memory_held.clone(),
        );
        registry.register(
            "stream_clients_dropped",
            "Stream clients dropped for reading too slowly (past their memory, or behind the live events); they resume with Last-Event-ID",
            self.stream_clients_dropped.clone(),
        );
        self
    }

    /// Shows what `budget` holds as `memory_held{pool}`, read at every scrape.
    pub fn watch_budget(&self, pool: &'static str, budget: ByteBudget) {
        self.budgets
            .write()
            .expect("budgets lock")
            .push((pool, budget));
    }

    /// A stream client was dropped for holding too much.
    pub fn stream_client_dropped(&self) {
        self.stream_clients_dropped.inc();
    }

    /// One answered request. `route` is the route pattern (`/hooks/{integration}`), never the
    /// raw path, and `integration` a configured one or `-`, so label values stay few.
    pub fn observe_request(&self, route: &str, integration: &str, status: u16, seconds: f64) {
        let route = self.route_label(route);
        let labels = RequestLabels {
            route: route.clone(),
            integration: integration.to_string(),
            status,
        };
        self.requests.get_or_create(&labels).inc();
        self.request_duration
            .get_or_create(&RouteLabels { route, status })
            .observe(seconds);
    }

    /// The label of a route pattern: `/hooks/:integration`, Prometheus' usual spelling. Made
    /// once per route and shared after, so counting a request spells nothing anew.
    fn route_label(&self, pattern: &str) -> Arc<str> {
        if let Some(label) = self.route_labels.read().expect("labels lock").get(pattern) {
            return label.clone();
        }
        let label: Arc<str> = pattern.replace('{', ":").replace('}', "").into();
        self.route_labels
            .write()
            .expect("labels lock")
            .insert(pattern.to_string(), label.clone());
        label
    }

    /// Sets the alert gauge from a count of the table (at start, and after a purge).
    pub fn set_alert_counts(&self, counts: &StateCounts) {
        for (state, count) in counts.by_state() {
            self.alerts
                .get_or_create(&StateLabels {
                    state: state.as_str(),
                })
                .set(count);
        }
    }

    /// The exposition text (OpenMetrics, which Prometheus reads), with file sizes read now.
    pub fn render(&self) -> String {
        // A gauge is a float; a file would need 2^53 bytes to lose a byte of precision.
        #[allow(clippy::cast_precision_loss)]
        let size = |path: &Path| std::fs::metadata(path).map_or(0.0, |meta| meta.len() as f64);
        if let Some(database) = &self.database {
            self.database_bytes.set(size(database));
            let mut wal = database.clone().into_os_string();
            wal.push("-wal");
            self.wal_bytes.set(size(Path::new(&wal)));
        }
        for (pool, budget) in self.budgets.read().expect("budgets lock").iter() {
            self.memory_held
                .get_or_create(&PoolLabels { pool })
                .set(i64::try_from(budget.taken()).unwrap_or(i64::MAX));
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// The writer reports here what it queued, committed and changed.
impl WriterObserver for Metrics {
    fn alert_counts(&self, counts: &StateCounts) {
        self.set_alert_counts(counts);
    }

    fn database_size(&self, bytes: u64) {
        // A gauge is a float; a database would need 2^53 bytes to lose a byte of precision.
        #[allow(clippy::cast_precision_loss)]
        self.database_bytes.set(bytes as f64);
    }

    fn queued(&self) {
        self.queue_depth.inc();
    }

    fn dequeued(&self, count: usize) {
        self.queue_depth
            .dec_by(i64::try_from(count).unwrap_or(i64::MAX));
    }

    fn committed(&self, requests: usize, seconds: f64) {
        // Groups hold at most a few thousand requests: exact as a float.
        #[allow(clippy::cast_precision_loss)]
        self.batch_size.observe(requests as f64);
        self.commit_duration.observe(seconds);
    }

    /// By action and outcome, an ignored event by its reason.
    fn event(&self, action: Action, outcome: Outcome) {
        let outcome = outcome
            .reason()
            .map_or(outcome.as_str(), |reason| reason.as_str());
        self.events
            .get_or_create(&EventLabels {
                action: action.as_str(),
                outcome,
            })
            .inc();
    }

    fn alert_moved(&self, from: Option<State>, to: Option<State>) {
        if from == to {
            return;
        }
        for (state, step) in [(from, -1), (to, 1)] {
            if let Some(state) = state {
                self.alerts
                    .get_or_create(&StateLabels {
                        state: state.as_str(),
                    })
                    .inc_by(step);
            }
        }
    }
}
