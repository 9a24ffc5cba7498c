//! The server in-process: `spawn_app()`, the `TestApp` it answers with and its named requests,
//! its settings and clock, and waiting for things.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex, Once};
use std::time::{Duration, Instant};

use alertgate::config::{Config, MemoryLimits, DEFAULT_MAX_BODY};
use alertgate::lifecycle::Alert;
use alertgate::limits::DeliveryLimits;
use alertgate::startup::Application;
use alertgate::store::{Database, DbLocation, PgSettings, TimelineEntry, WriterSettings};
use alertgate::time::Clock;
use chrono::{DateTime, Utc};
use reqwest::blocking::{Client, Response};
use tempfile::TempDir;

use super::integrations::{standard_integrations, TOKEN};
use super::store::{test_store, TestStore};

/// One timeline entry with its outcome, reason and times as the text the API shows.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineRow {
    pub seq: i64,
    pub at: String,
    pub action: alertgate::model::Action,
    pub outcome: String,
    pub reason: Option<String>,
    pub from_state: Option<alertgate::model::State>,
    pub to_state: alertgate::model::State,
    pub source: alertgate::model::Source,
    pub delivery: Option<String>,
    pub by: Option<String>,
    pub note: Option<String>,
    pub occurred_at: Option<String>,
}

impl From<TimelineEntry> for TimelineRow {
    fn from(entry: TimelineEntry) -> TimelineRow {
        TimelineRow {
            seq: entry.seq,
            at: alertgate::time::format(entry.at),
            action: entry.action,
            outcome: entry.outcome.as_str().to_string(),
            reason: entry
                .outcome
                .reason()
                .map(|reason| reason.as_str().to_string()),
            from_state: entry.from_state,
            to_state: entry.to_state,
            source: entry.source,
            delivery: entry.delivery,
            by: entry.by,
            note: entry.note,
            occurred_at: entry.occurred_at.map(alertgate::time::format),
        }
    }
}

/// A header as a test sends it.
pub type Header<'a> = (&'a str, &'a str);

pub struct TestApp {
    pub address: String,
    /// A path in the app's own temporary folder: its SQLite database when the suite runs on
    /// SQLite, and where tests put files of their own either way.
    pub db_path: PathBuf,
    /// What `--db` says for the app's database: the file, or the PostgreSQL URL.
    pub db: std::ffi::OsString,
    location: DbLocation,
    /// Sent as a Bearer token by the `api_*` helpers.
    api_token: Option<&'static str>,
    /// Sent as a Bearer token by `admin`.
    admin_token: Option<&'static str>,
    client: Client,
    /// The app's PostgreSQL database, dropped with it, when the suite runs on PostgreSQL.
    postgres: Option<super::pg_db::TestDb>,
    _dir: TempDir,
}

/// Settings a test may change before the app starts.
pub struct AppSettings {
    /// The server's clock; the real one when `None`.
    pub clock: Option<Clock>,
    /// `ALERTGATE_API_TOKEN`.
    pub api_token: Option<&'static str>,
    /// `ALERTGATE_ADMIN_TOKEN`.
    pub admin_token: Option<&'static str>,
    pub max_body: usize,
    pub queue_capacity: usize,
    pub request_timeout: std::time::Duration,
    /// `--max-json-depth` and `--max-batch`.
    pub limits: DeliveryLimits,
    /// `--recorded-rejections`.
    pub recorded_rejections: u32,
    /// `--max-body-memory`, `--max-stream-client-memory` and `--max-stream-memory`.
    pub memory: MemoryLimits,
}

impl Default for AppSettings {
    fn default() -> AppSettings {
        AppSettings {
            clock: None,
            api_token: None,
            admin_token: None,
            max_body: DEFAULT_MAX_BODY,
            request_timeout: std::time::Duration::from_secs(10),
            queue_capacity: WriterSettings::default().queue_capacity,
            limits: DeliveryLimits::default(),
            recorded_rejections: WriterSettings::default().recorded_rejections_per_second,
            memory: MemoryLimits::defaults_for(DEFAULT_MAX_BODY),
        }
    }
}

pub fn spawn_app() -> TestApp {
    spawn_app_with(AppSettings::default())
}

/// Starts the real server on a free port, with a fresh database holding `standard_integrations`.
pub fn spawn_app_with(settings: AppSettings) -> TestApp {
    init_logging();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db_path = dir.path().join("alertgate.db");
    let postgres = match test_store() {
        TestStore::Sqlite => None,
        TestStore::Postgres => Some(super::pg_db::TestDb::fresh()),
    };
    let (location, db) = match &postgres {
        None => (DbLocation::Sqlite(db_path.clone()), db_path.clone().into()),
        Some(database) => (
            DbLocation::Postgres(Box::new(database.url())),
            database.url_text().into(),
        ),
    };
    let mut database = Database::open(&location).expect("the database opens");
    for options in standard_integrations() {
        let new = options.validate().expect("test integrations are valid");
        database
            .add_integration(&new)
            .expect("the integration is added");
    }
    drop(database);

    let config = Config {
        bind: "127.0.0.1:0".into(),
        db: location.clone(),
        pg: PgSettings::default(),
        max_body: settings.max_body,
        max_header_bytes: alertgate::config::DEFAULT_MAX_HEADER_BYTES,
        max_connections: 1000,
        limits: settings.limits,
        memory: settings.memory,
        workers: Some(1),
        request_timeout: settings.request_timeout,
        writer: WriterSettings {
            queue_capacity: settings.queue_capacity,
            recorded_rejections_per_second: settings.recorded_rejections,
            ..WriterSettings::default()
        },
        api_token: settings.api_token.map(alertgate::auth::Secret::new),
        admin_token: settings.admin_token.map(alertgate::auth::Secret::new),
    };
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let clock = settings.clock.unwrap_or_else(alertgate::time::system_clock);
    let (port_sender, port) = mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let application =
                Application::build_with_clock(&config, listener, clock).expect("the app builds");
            port_sender
                .send(application.port())
                .expect("the test is waiting");
            application
                .run_until_stopped()
                .await
                .expect("the server runs");
        });
    });
    let port = port.recv().expect("the server starts");
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        db_path,
        db,
        location,
        postgres,
        api_token: settings.api_token,
        admin_token: settings.admin_token,
        // Idle connections are let go before the server's keep-alive (5 s) closes them, so a
        // request after a long pause never lands on a connection being closed (a reset).
        client: Client::builder()
            .pool_idle_timeout(Duration::from_secs(2))
            .build()
            .expect("a client"),
        _dir: dir,
    }
}

/// Logs are silent unless `TEST_LOG` is set.
fn init_logging() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = env_logger::builder().is_test(true).try_init();
        }
    });
}

impl TestApp {
    /// Posts `body` to `/hooks/{integration}` with `Content-Type: application/json` and `headers`.
    pub fn post_hook(
        &self,
        integration: &str,
        headers: &[(&str, &str)],
        body: impl Into<Vec<u8>>,
    ) -> Response {
        self.post_hook_raw(
            integration,
            &[&[("content-type", "application/json")], headers].concat(),
            body,
        )
    }

    /// Posts with exactly `headers`, nothing added.
    pub fn post_hook_raw(
        &self,
        integration: &str,
        headers: &[(&str, &str)],
        body: impl Into<Vec<u8>>,
    ) -> Response {
        let mut request = self
            .client
            .post(format!("{}/hooks/{integration}", self.address))
            .body(body.into());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().expect("the server answers")
    }

    /// Posts a pagertree body to `default` with its token.
    pub fn send(&self, body: &serde_json::Value) -> Response {
        self.post_hook("default", &[("pagertree-token", TOKEN)], body.to_string())
    }

    /// `POST` a JSON body to any path, with `headers`; answers status, headers and JSON.
    pub fn post_json(
        &self,
        path: &str,
        headers: &[Header],
        body: &str,
    ) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
        let mut request = self
            .client
            .post(format!("{}{path}", self.address))
            .body(body.to_string());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().expect("the server answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, headers, json(response))
    }

    /// `GET` on the API, with the token when one is configured; answers status and JSON.
    pub fn api_get(&self, path: &str) -> (u16, serde_json::Value) {
        let request = self.client.get(format!("{}{path}", self.address));
        let response = self.with_token(request).send().expect("the server answers");
        (response.status().as_u16(), json(response))
    }

    /// `POST` on the API with `body` (none when empty), with the token when one is configured.
    pub fn api_post(&self, path: &str, body: &str) -> (u16, serde_json::Value) {
        let request = self
            .client
            .post(format!("{}{path}", self.address))
            .body(body.to_string());
        let response = self.with_token(request).send().expect("the server answers");
        (response.status().as_u16(), json(response))
    }

    /// An admin API request with the admin token; answers status and JSON (null when empty).
    pub fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address));
        if let Some(token) = self.admin_token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().expect("the server answers");
        let status = response.status().as_u16();
        let text = response.text().unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }

    fn with_token(
        &self,
        request: reqwest::blocking::RequestBuilder,
    ) -> reqwest::blocking::RequestBuilder {
        match self.api_token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    pub fn get(&self, path: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .expect("the server answers")
    }

    /// The alert as stored, read straight from the database.
    pub fn alert(&self, integration: &str, id: &str) -> Option<Alert> {
        Database::open(&self.location)
            .unwrap()
            .alert(integration, id)
            .unwrap()
    }

    pub fn timeline(&self, integration: &str, id: &str) -> Vec<TimelineRow> {
        Database::open(&self.location)
            .unwrap()
            .timeline(integration, id)
            .unwrap()
            .into_iter()
            .map(TimelineRow::from)
            .collect()
    }

    /// Runs one SQL query that returns a single integer, for checks the domain API does not
    /// offer, on whichever store the suite runs on (the tables and columns are the same).
    pub fn count(&self, sql: &str) -> i64 {
        match &self.postgres {
            None => {
                let connection = rusqlite::Connection::open(&self.db_path).unwrap();
                connection.query_row(sql, [], |row| row.get(0)).unwrap()
            }
            Some(database) => database.client().query_one(sql, &[]).unwrap().get(0),
        }
    }

    /// Whether the app runs on PostgreSQL.
    pub fn on_postgres(&self) -> bool {
        self.postgres.is_some()
    }

    /// Runs one SQL query that returns a column of integers, in order.
    pub fn column(&self, sql: &str) -> Vec<i64> {
        match &self.postgres {
            None => {
                let connection = rusqlite::Connection::open(&self.db_path).unwrap();
                let mut statement = connection.prepare(sql).unwrap();
                statement
                    .query_map([], |row| row.get(0))
                    .unwrap()
                    .map(Result::unwrap)
                    .collect()
            }
            Some(database) => database
                .client()
                .query(sql, &[])
                .unwrap()
                .iter()
                .map(|row| row.get(0))
                .collect(),
        }
    }

    /// A direct connection to the app's database, as the CLI has.
    pub fn database(&self) -> Database {
        Database::open(&self.location).unwrap()
    }

    /// Holds the database so that the writer's next commit waits until the guard is dropped:
    /// SQLite's write lock, or PostgreSQL's lock on the row every commit bumps.
    pub fn hold_writes(&self) -> WritesHeld {
        match &self.postgres {
            None => {
                let connection = rusqlite::Connection::open(&self.db_path).unwrap();
                connection.execute_batch("BEGIN IMMEDIATE").unwrap();
                WritesHeld {
                    _sqlite: Some(connection),
                    _postgres: None,
                }
            }
            Some(database) => {
                let mut client = database.client();
                client
                    .batch_execute("BEGIN; SELECT last FROM event_seq FOR UPDATE")
                    .unwrap();
                WritesHeld {
                    _sqlite: None,
                    _postgres: Some(client),
                }
            }
        }
    }
}

/// Writes held back until this is dropped (`TestApp::hold_writes`): the session that holds the
/// lock, rolled back when it closes.
pub struct WritesHeld {
    _sqlite: Option<rusqlite::Connection>,
    _postgres: Option<postgres::Client>,
}

/// A clock that stands still until a test moves it.
#[derive(Clone)]
pub struct TestClock(Arc<Mutex<DateTime<Utc>>>);

impl TestClock {
    pub fn at(time: DateTime<Utc>) -> TestClock {
        TestClock(Arc::new(Mutex::new(time)))
    }

    pub fn advance(&self, seconds: i64) {
        *self.0.lock().unwrap() += chrono::Duration::seconds(seconds);
    }

    pub fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }

    pub fn clock(&self) -> Clock {
        let shared = self.0.clone();
        Arc::new(move || *shared.lock().unwrap())
    }
}

/// How long a test waits for something that takes milliseconds when all is well: long enough for
/// a loaded machine, short enough that a hang fails the test instead of stalling the run.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// How often `wait_until` checks: often enough that no test waits noticeably longer than it must.
const POLL_EVERY: Duration = Duration::from_millis(5);

/// Checks `condition` every few milliseconds until it holds; panics naming `what` once `deadline`
/// has passed without it. Tests wait for something to have happened this way rather than with a
/// fixed sleep: a sleep is too short on a busy machine and needlessly long everywhere else.
pub fn wait_until(what: &str, deadline: Duration, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < deadline,
            "waited {deadline:?} and still not: {what}"
        );
        std::thread::sleep(POLL_EVERY);
    }
}

/// The JSON body of a response.
pub fn json(response: Response) -> serde_json::Value {
    response.json().expect("a JSON body")
}

/// A fixture file's bytes.
pub fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!("{}/fixtures/{path}", env!("CARGO_MANIFEST_DIR")))
        .expect("the fixture exists")
}

/// A minimal create event.
pub fn create(id: &str) -> serde_json::Value {
    serde_json::json!({"event_type": "create", "Id": id, "Title": format!("Alert {id}")})
}

/// `text` percent-encoded for use as one path segment.
pub fn encode_segment(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// The Ids of a page of alerts.
pub fn ids(page: &serde_json::Value) -> Vec<String> {
    page["alerts"]
        .as_array()
        .expect("a list of alerts")
        .iter()
        .map(|alert| alert["id"].as_str().unwrap().to_string())
        .collect()
}
