//! Opening migrates: a fresh database gets every version, an up-to-date one none, a newer one is
//! refused, nodes opening at once queue; a server that is not there is an error soon, not a hang; and every session commits synchronously.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use alertgate::store::{PgDatabase, PgSettings, PgUrl, StoreError};

use crate::db::{with_database, TestDb};
use crate::Test;

pub const TESTS: &[Test] = &[
    (
        "a_fresh_database_gets_every_version",
        a_fresh_database_gets_every_version,
    ),
    (
        "a_second_open_applies_nothing",
        a_second_open_applies_nothing,
    ),
    ("a_newer_schema_is_refused", a_newer_schema_is_refused),
    ("opens_at_once_migrate_once", opens_at_once_migrate_once),
    (
        "sessions_commit_synchronously_whatever_the_database_says",
        sessions_commit_synchronously_whatever_the_database_says,
    ),
    (
        "a_closed_port_is_unavailable_at_once",
        a_closed_port_is_unavailable_at_once,
    ),
    (
        "a_silent_server_is_unavailable_in_seconds",
        a_silent_server_is_unavailable_in_seconds,
    ),
    (
        "a_wrong_password_says_so_quickly",
        a_wrong_password_says_so_quickly,
    ),
];

fn open(url: &PgUrl) -> Result<PgDatabase, StoreError> {
    PgDatabase::open(url, &PgSettings::default())
}

/// `schema_migrations`' versions, in order.
fn recorded_versions(db: &TestDb) -> Vec<i32> {
    db.client()
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

fn a_fresh_database_gets_every_version() {
    let db = TestDb::fresh();
    let opened = open(&db.url()).unwrap();
    let versions = recorded_versions(&db);
    assert_eq!(opened.applied_at_open(), versions);
    assert_eq!(
        versions,
        (1..=i32::try_from(versions.len()).unwrap()).collect::<Vec<_>>()
    );
    let mut client = db.client();
    let checksums: i64 = client
        .query_one(
            "SELECT count(*) FROM schema_migrations WHERE checksum ~ '^[0-9a-f]{64}$'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(checksums, i64::try_from(versions.len()).unwrap());
    // The tables are there, and the single rows of the counters.
    let seq: i64 = client
        .query_one("SELECT last FROM event_seq WHERE id = 1", &[])
        .unwrap()
        .get(0);
    assert_eq!(seq, 0);
    let alerts: i64 = client
        .query_one("SELECT count(*) FROM alerts", &[])
        .unwrap()
        .get(0);
    assert_eq!(alerts, 0);
}

fn a_second_open_applies_nothing() {
    let db = TestDb::fresh();
    let first = open(&db.url()).unwrap();
    assert!(!first.applied_at_open().is_empty());
    let before = recorded_versions(&db);
    let second = open(&db.url()).unwrap();
    assert_eq!(second.applied_at_open(), [] as [i32; 0]);
    assert_eq!(recorded_versions(&db), before);
}

fn a_newer_schema_is_refused() {
    let db = TestDb::fresh();
    drop(open(&db.url()).unwrap());
    let known = *recorded_versions(&db).last().unwrap();
    db.client()
        .execute(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, 'future', '')",
            &[&(known + 1)],
        )
        .unwrap();
    match open(&db.url()) {
        Err(StoreError::NewerSchema { found, known: ours }) => {
            assert_eq!((found, ours), (i64::from(known) + 1, i64::from(known)));
        }
        Err(other) => panic!("expected NewerSchema, got {other}"),
        Ok(_) => panic!("a newer schema was accepted"),
    }
}

/// Nodes started together: each open that finds the database empty would create the same
/// tables; they must queue, not fail. One round misses the race often enough (the opens'
/// handshakes take different times), so a few rounds, each on an empty database.
fn opens_at_once_migrate_once() {
    const OPENERS: usize = 4;
    const ROUNDS: usize = 5;
    for _ in 0..ROUNDS {
        let db = TestDb::fresh();
        let url = db.url();
        let barrier = Arc::new(Barrier::new(OPENERS));
        let applied: Vec<Vec<i32>> = (0..OPENERS)
            .map(|_| {
                let (url, barrier) = (url.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    open(&url).map(|opened| opened.applied_at_open().to_vec())
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|thread| thread.join().unwrap().unwrap())
            .collect();
        let versions = recorded_versions(&db);
        assert_eq!(
            versions,
            (1..=i32::try_from(versions.len()).unwrap()).collect::<Vec<_>>()
        );
        let mut applying: Vec<&Vec<i32>> = applied.iter().filter(|a| !a.is_empty()).collect();
        assert_eq!(applying.len(), 1, "exactly one open migrates: {applied:?}");
        assert_eq!(applying.pop().unwrap(), &versions);
    }
}

fn sessions_commit_synchronously_whatever_the_database_says() {
    let db = TestDb::fresh();
    db.client()
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" SET synchronous_commit = off",
            db.name()
        ))
        .unwrap();
    // The database's default does reach a session that does not say otherwise...
    let plain: String = db
        .client()
        .query_one("SHOW synchronous_commit", &[])
        .unwrap()
        .get(0);
    assert_eq!(plain, "off");
    // ...but not alertgate's, neither its own connection nor the readers' pool.
    let url = db.url();
    let settings = PgSettings {
        statement_timeout: Duration::from_millis(2500),
        ..PgSettings::default()
    };
    let opened = PgDatabase::open(&url, &settings).unwrap();
    let pooled = |name: &str| PgDatabase::pooled_session_setting(&url, &settings, name).unwrap();
    for (name, expected) in [
        ("synchronous_commit", "on"),
        ("TimeZone", "UTC"),
        ("statement_timeout", "2500ms"),
        ("lock_timeout", "2500ms"),
        ("idle_in_transaction_session_timeout", "2500ms"),
        ("application_name", "alertgate"),
    ] {
        assert_eq!(opened.session_setting(name).unwrap(), expected, "{name}");
        assert_eq!(pooled(name), expected, "{name} on a pooled session");
    }
    // Nor a URL's own options: alertgate's come later on the line, and the last one counts.
    let sloppy = PgUrl::parse(&format!(
        "{}?options=-c%20synchronous_commit%3Doff%20-c%20search_path%3Dpublic",
        db.url_text()
    ))
    .unwrap();
    let opened = PgDatabase::open(&sloppy, &settings).unwrap();
    assert_eq!(opened.session_setting("synchronous_commit").unwrap(), "on");
    assert_eq!(opened.session_setting("search_path").unwrap(), "public");
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn a_closed_port_is_unavailable_at_once() {
    let url = PgUrl::parse(&format!(
        "postgres://alertgate:hunter2@127.0.0.1:{}/db",
        closed_port()
    ))
    .unwrap();
    let started = Instant::now();
    let Err(error) = open(&url) else {
        panic!("connected to a closed port")
    };
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(error, StoreError::Unavailable(_)), "{error}");
    let said = error.to_string();
    assert!(said.contains("127.0.0.1"), "{said}");
    assert!(!said.contains("hunter2"), "{said}");
}

fn a_silent_server_is_unavailable_in_seconds() {
    // Accepts connections (the kernel does, into the backlog) and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let url = PgUrl::parse(&format!("postgres://alertgate@127.0.0.1:{port}/db")).unwrap();
    let started = Instant::now();
    let Err(error) = open(&url) else {
        panic!("a silent server let us in")
    };
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(8), "{waited:?}");
    assert!(matches!(error, StoreError::Unavailable(_)), "{error}");
    drop(silent);
}

fn a_wrong_password_says_so_quickly() {
    let db = TestDb::fresh();
    let (scheme, rest) = db.url_text().split_once("://").unwrap();
    let (_, hosts) = rest.split_once('@').unwrap();
    let wrong = format!("{scheme}://alertgate:not-the-password@{hosts}");
    let url = PgUrl::parse(&with_database(&wrong, db.name())).unwrap();
    let started = Instant::now();
    let Err(error) = open(&url) else {
        panic!("a wrong password was accepted")
    };
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let said = error.to_string();
    assert!(said.contains("password authentication failed"), "{said}");
    assert!(!said.contains("not-the-password"), "{said}");
}
