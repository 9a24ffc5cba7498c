//! `alertgate migrate --to postgres://…` (SPEC §11): a SQLite database with real traffic moves
//! into PostgreSQL whole, and a node on it answers as the SQLite server did: the same alerts,
//! timelines and stats, `Last-Event-ID` resuming from a `seq` taken before, the old token and
//! the idempotency key still good. A target that is not empty is refused and left alone.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::Output;
use std::sync::mpsc;
use std::time::Duration;

use alertgate::auth::Secret;
use alertgate::config::Config;
use alertgate::integration::IntegrationOptions;
use alertgate::startup::Application;
use alertgate::store::{Database, DbLocation};
use clap::Parser;
use reqwest::blocking::Client;
use serde_json::{json, Value};

use crate::db::TestDb;
use crate::nodes::start_node;

pub const TESTS: &[crate::Test] = &[
    ("a_sqlite_database_with_traffic_moves_whole", moves_whole),
    (
        "a_target_that_is_not_empty_is_refused_and_left_alone",
        refuses_non_empty,
    ),
    (
        "a_missing_source_or_a_wrong_target_is_refused",
        refuses_wrong_arguments,
    ),
];

const OLD_TOKEN: &str = "the-first-token-of-default";
const NEW_TOKEN: &str = "the-second-token-of-default";
const TOKEN_HEADER: &str = "pagertree-token";

/// `alertgate migrate --to <to> --db <db>`, the real binary.
fn migrate(db: &Path, to: &str) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_alertgate"))
        .args(["migrate", "--to", to, "--db"])
        .arg(db)
        .output()
        .unwrap()
}

/// A server on the SQLite file at `path`, in this process, serving until the process ends.
fn start_sqlite(path: &Path) -> String {
    let arguments = [
        "alertgate",
        "--db",
        path.to_str().unwrap(),
        "--workers",
        "2",
    ];
    let cli = alertgate::cli::Cli::try_parse_from(arguments).unwrap();
    let config = Config::new(cli.serve, cli.db).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (port_sender, port) = mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let application = Application::build(&config, listener).unwrap();
            port_sender.send(application.port()).unwrap();
            application.run_until_stopped().await.unwrap();
        });
    });
    format!("http://127.0.0.1:{}", port.recv().unwrap())
}

/// `default`, token auth with `OLD_TOKEN`, payloads captured; `open`, no auth.
fn add_integrations(database: &mut Database) {
    let default = IntegrationOptions {
        name: "default".into(),
        auth: Some("token".into()),
        secret: Some(OLD_TOKEN.into()),
        capture_payload: true,
        ..IntegrationOptions::default()
    };
    database
        .add_integration(&default.validate().unwrap())
        .unwrap();
    let open = IntegrationOptions {
        name: "open".into(),
        auth: Some("none".into()),
        ..IntegrationOptions::default()
    };
    database.add_integration(&open.validate().unwrap()).unwrap();
}

fn hook(node: &str, integration: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    hook_with(node, integration, token, None, body)
}

fn hook_with(
    node: &str,
    integration: &str,
    token: Option<&str>,
    key: Option<&str>,
    body: &Value,
) -> (u16, Value) {
    let mut request = Client::new()
        .post(format!("{node}/hooks/{integration}"))
        .json(body);
    if let Some(token) = token {
        request = request.header(TOKEN_HEADER, token);
    }
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().unwrap();
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

fn get(node: &str, path: &str) -> Value {
    let response = Client::new().get(format!("{node}{path}")).send().unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.json().unwrap()
}

fn act(node: &str, id: &str, action: &str) {
    let response = Client::new()
        .post(format!("{node}/v1/alerts/open/{id}/{action}"))
        .body(r#"{"by": "alice", "note": "on it"}"#)
        .header("content-type", "application/json")
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// Creates, updates with tags and meta, acknowledges and resolves (by hook and by hand),
/// reopens, an ignored event, and rejected deliveries.
fn traffic(node: &str, round: usize, token: &str) {
    for n in 0..12 {
        let id = format!("r{round}-{n}");
        let event = json!({"event_type": "create", "Id": id, "Title": format!("{id} is down"),
            "Tags": ["db", format!("t{n}")], "Meta": {"z": n, "a": "first"}, "Severity": "warning"});
        assert_eq!(hook(node, "default", Some(token), &event).0, 202);
        let open = json!({"event_type": "create", "Id": id, "Title": "open alert"});
        assert_eq!(hook(node, "open", None, &open).0, 202);
        match n % 4 {
            0 => act(node, &id, "acknowledge"),
            1 => act(node, &id, "resolve"),
            2 => {
                let resolve = json!({"event_type": "resolve", "Id": id});
                assert_eq!(hook(node, "default", Some(token), &resolve).0, 202);
                // Reopened, then an acknowledge of a resolved alert later on is ignored.
                let again = json!({"event_type": "create", "Id": id, "Title": "back"});
                assert_eq!(hook(node, "default", Some(token), &again).0, 202);
            }
            _ => {}
        }
    }
    // More than are recorded in a second: the rest are tallied.
    for _ in 0..30 {
        let (status, _) = hook(node, "default", Some("wrong"), &json!({"Id": "x"}));
        assert_eq!(status, 401);
    }
}

/// The `alert` events of a stream opened with `Last-Event-ID: after`, up to and including
/// `last`: each one's id and data.
fn replay(node: &str, after: i64, last: i64) -> Vec<(i64, Value)> {
    let response = Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
        .get(format!("{node}/v1/stream"))
        .header("Last-Event-ID", after.to_string())
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut lines = BufReader::new(response).lines().map(Result::unwrap);
    let mut events = Vec::new();
    let mut id = None;
    while events.last().is_none_or(|(seq, _)| seq < &last) {
        let line = lines.next().expect("the stream goes on");
        if let Some(value) = line.strip_prefix("id: ") {
            id = Some(value.parse::<i64>().unwrap());
        } else if let Some(value) = line.strip_prefix("data: ") {
            events.push((id.take().unwrap(), serde_json::from_str(value).unwrap()));
        }
    }
    events
}

/// Rows of `table` in the SQLite file.
fn sqlite_count(path: &Path, sql: &str) -> i64 {
    let connection = rusqlite::Connection::open(path).unwrap();
    connection.query_row(sql, [], |row| row.get(0)).unwrap()
}

/// The `table source target` lines `migrate` printed, by table.
fn printed_counts(stdout: &str) -> Vec<(String, i64, i64)> {
    stdout
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words[..] {
                [table, source, target] => Some((
                    table.to_string(),
                    source.parse().ok()?,
                    target.parse().ok()?,
                )),
                _ => None,
            }
        })
        .collect()
}

/// The token of `default` rotated, the old one kept for an hour, as the CLI does beside the
/// server (which may hold the write lock for a moment: then again).
fn rotate_beside_server(file: &Path) {
    let rotated = (0..50).any(|_| {
        let done = Database::open(file).and_then(|mut database| {
            database.rotate_secret(
                "default",
                &Secret::new(NEW_TOKEN),
                Some(chrono::Duration::hours(1)),
            )
        });
        done.is_ok() || {
            std::thread::sleep(Duration::from_millis(100));
            false
        }
    });
    assert!(rotated);
}

/// A new database as a first start leaves it: an untouched `default`, which the copy replaces.
fn untouched_target() -> TestDb {
    let db = TestDb::fresh();
    let mut target = Database::open(DbLocation::Postgres(Box::new(db.url()))).unwrap();
    let first_run = IntegrationOptions {
        name: "default".into(),
        ..IntegrationOptions::default()
    };
    target
        .add_integration(&first_run.validate().unwrap())
        .unwrap();
    db
}

/// The counts `migrate` printed are the source's and what the target holds.
fn check_counts(file: &Path, stdout: &str, db: &TestDb) {
    let tallied = sqlite_count(
        file,
        "SELECT coalesce(sum(count), 0) FROM rejection_tallies",
    );
    assert!(tallied > 0, "some rejections were only counted");
    let counts = printed_counts(stdout);
    let expected = [
        ("integrations", 2),
        ("integration_secrets", 2),
        ("alerts", sqlite_count(file, "SELECT count(*) FROM alerts")),
        ("alert_keys", 49),
        (
            "alert_events",
            sqlite_count(file, "SELECT count(*) FROM alert_events"),
        ),
        (
            "deliveries",
            sqlite_count(file, "SELECT count(*) FROM deliveries"),
        ),
        ("idempotency_keys", 1),
        (
            "rejection_tallies",
            sqlite_count(file, "SELECT count(*) FROM rejection_tallies"),
        ),
    ];
    for (table, rows) in expected {
        assert!(
            counts.contains(&(table.to_string(), rows, rows)),
            "{table}: {rows} expected in\n{stdout}"
        );
    }
    let mut client = db.client();
    for (table, _, target) in &counts {
        let rows: i64 = client
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .unwrap()
            .get(0);
        assert_eq!(rows, *target, "{table} as printed");
    }
}

fn moves_whole() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("alertgate.db");
    add_integrations(&mut Database::open(file.as_path()).unwrap());
    let sqlite = start_sqlite(&file);
    traffic(&sqlite, 0, OLD_TOKEN);
    // A seq taken now: what a stream client has seen before the move.
    let before: i64 = sqlite_count(&file, "SELECT max(seq) FROM alert_events");
    rotate_beside_server(&file);
    std::thread::sleep(Duration::from_millis(1500));
    traffic(&sqlite, 1, NEW_TOKEN);
    let create = json!({"event_type": "create", "Id": "idem", "Title": "once"});
    let (status, answer) = hook_with(&sqlite, "default", Some(NEW_TOKEN), Some("k-1"), &create);
    assert_eq!(status, 202);

    let db = untouched_target();

    // Rejections counted rather than recorded reach their tally within the writer's next turn.
    std::thread::sleep(Duration::from_millis(500));
    // Copied while the SQLite server still runs: the read is one snapshot.
    let output = migrate(&file, db.url_text());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("migrate: alerts 49/49"), "{stderr}");
    check_counts(&file, &stdout, &db);

    let pg = start_node(&db, &[]);
    for path in [
        "/v1/alerts?limit=500",
        "/v1/alerts?limit=500&tag=t3",
        "/v1/alerts/default/r0-2/events",
        "/v1/alerts/open/r1-0/events",
        "/v1/alerts/default/r1-6",
        "/v1/stats?since=2026-01-01T00:00:00Z",
    ] {
        assert_eq!(get(&sqlite, path), get(&pg, path), "{path}");
    }
    let last: i64 = sqlite_count(
        &file,
        "SELECT max(seq) FROM alert_events WHERE outcome != 'ignored'",
    );
    let replayed = replay(&pg, before, last);
    let applied = sqlite_count(
        &file,
        &format!("SELECT count(*) FROM alert_events WHERE seq > {before} AND outcome != 'ignored'"),
    );
    assert_eq!(replayed.len(), usize::try_from(applied).unwrap());
    assert_eq!(replayed, replay(&sqlite, before, last));

    // The old token still works, the idempotency key replays, and new seqs follow the old.
    let next = json!({"event_type": "create", "Id": "after-the-move", "Title": "new"});
    assert_eq!(hook(&pg, "default", Some(OLD_TOKEN), &next).0, 202);
    assert_eq!(
        hook_with(&pg, "default", Some(NEW_TOKEN), Some("k-1"), &create),
        (202, answer)
    );
    let (seq, data) = replay(&pg, last, last + 1).pop().unwrap();
    assert!(data.to_string().contains("after-the-move"), "{data}");
    assert!(seq > last, "{seq} after {last}");
}

fn refuses_non_empty() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("alertgate.db");
    add_integrations(&mut Database::open(file.as_path()).unwrap());
    let db = TestDb::fresh();
    let mut target = Database::open(DbLocation::Postgres(Box::new(db.url()))).unwrap();
    // A `default` that has been changed since the first run is not untouched.
    let first_run = IntegrationOptions {
        name: "default".into(),
        ..IntegrationOptions::default()
    };
    target
        .add_integration(&first_run.validate().unwrap())
        .unwrap();
    std::thread::sleep(Duration::from_millis(5));
    target
        .rotate_secret("default", &Secret::new("rotated-once-already"), None)
        .unwrap();
    drop(target);
    let snapshot = |client: &mut postgres::Client| -> Vec<String> {
        client
            .query(
                "SELECT name || updated_at::text FROM integrations \
                 UNION ALL SELECT last::text FROM event_seq \
                 UNION ALL SELECT revision::text FROM integrations_revision",
                &[],
            )
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect()
    };
    let mut client = db.client();
    let before = snapshot(&mut client);
    let output = migrate(&file, db.url_text());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("is not empty: it holds integration `default`"),
        "{stderr}"
    );
    assert_eq!(snapshot(&mut client), before, "nothing changed");
}

fn refuses_wrong_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here.db");
    let db = TestDb::fresh();
    let output = migrate(&missing, db.url_text());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains(&format!(
            "there is no SQLite database at {}",
            missing.display()
        )),
        "{stderr}"
    );
    assert!(!missing.exists(), "no file made where there was none");
    let file = dir.path().join("alertgate.db");
    drop(Database::open(file.as_path()).unwrap());
    let output = migrate(&file, "mysql://somewhere/db");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("--to takes a PostgreSQL URL"), "{stderr}");
}
