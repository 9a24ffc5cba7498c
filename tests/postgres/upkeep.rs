//! Upkeep on PostgreSQL: the database stops growing where a SQLite one does. Old deliveries,
//! expired idempotency keys and old tallies go, rejected rows beyond those kept are folded into
//! tallies with every rejection still counted (also with two nodes pruning at once), and
//! `--max-db-mb` refuses ingest while the database is over it.

use std::net::TcpListener;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use alertgate::config::Config;
use alertgate::startup::Application;
use alertgate::time::Clock;
use chrono::{DateTime, Utc};
use clap::Parser;
use serde_json::json;

use crate::db::TestDb;
use crate::nodes::{add_integration, INTEGRATION};

pub const TESTS: &[crate::Test] = &[
    (
        "old_deliveries_keys_and_tallies_are_pruned_a_batch_at_a_time",
        old_rows_are_pruned,
    ),
    (
        "rejected_rows_beyond_those_kept_become_exact_tallies",
        rejected_rows_are_folded,
    ),
    (
        "two_nodes_pruning_at_once_keep_every_rejection_counted",
        two_nodes_fold,
    ),
    (
        "max_db_mb_refuses_ingest_while_over_and_accepts_again",
        max_db_mb,
    ),
];

/// A clock that stands still until the test moves it. It starts two minutes in the past, so
/// that moving it to make pruning due never mints delivery ids ahead of the real time (ids are
/// monotonic across the process, which other tests share).
#[derive(Clone)]
struct TestClock(Arc<Mutex<DateTime<Utc>>>);

impl TestClock {
    fn two_minutes_ago() -> TestClock {
        TestClock(Arc::new(Mutex::new(
            Utc::now() - chrono::Duration::minutes(2),
        )))
    }

    /// Past the pruner's minute.
    fn make_pruning_due(&self) {
        *self.0.lock().unwrap() += chrono::Duration::seconds(61);
    }

    fn clock(&self) -> Clock {
        let shared = self.0.clone();
        Arc::new(move || *shared.lock().unwrap())
    }
}

/// A node on `db` with `extra` arguments and the test's clock.
fn start_node(db: &TestDb, extra: &[&str], clock: &TestClock) -> String {
    let url = db.url_text().to_string();
    let mut arguments = vec!["alertgate", "--db", url.as_str(), "--workers", "2"];
    arguments.extend_from_slice(extra);
    let cli = alertgate::cli::Cli::try_parse_from(arguments).unwrap();
    let config = Config::new(cli.serve, cli.db).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (port_sender, port) = mpsc::channel();
    let clock = clock.clock();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let application = Application::build_with_clock(&config, listener, clock).unwrap();
            port_sender.send(application.port()).unwrap();
            application.run_until_stopped().await.unwrap();
        });
    });
    format!("http://127.0.0.1:{}", port.recv().unwrap())
}

/// Sends one alert: each group is followed by the writer's upkeep.
fn send(node: &str, id: &str) -> reqwest::blocking::Response {
    reqwest::blocking::Client::new()
        .post(format!("{node}/hooks/{INTEGRATION}"))
        .json(&json!({"event_type": "create", "Id": id, "Title": "Disk"}))
        .send()
        .unwrap()
}

fn count(db: &TestDb, sql: &str) -> i64 {
    db.client().query_one(sql, &[]).unwrap().get(0)
}

fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "waited in vain: {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `count` deliveries of `integration` with `status`, `age` old, a millisecond apart.
fn seed_deliveries(db: &TestDb, integration: &str, status: i32, count: i64, age: chrono::Duration) {
    let start = Utc::now() - age;
    let mut client = db.client();
    let mut transaction = client.transaction().unwrap();
    for n in 0..count {
        let at = start + chrono::Duration::milliseconds(n);
        let id = format!(
            "{}{integration}{status}",
            alertgate::ids::delivery_id_floor(at)
        );
        transaction
            .execute(
                "INSERT INTO deliveries (id, integration, at, status) VALUES ($1, $2, $3, $4)",
                &[&id, &integration, &at, &status],
            )
            .unwrap();
    }
    transaction.commit().unwrap();
}

fn old_rows_are_pruned() {
    let db = TestDb::fresh();
    add_integration(&db);
    let clock = TestClock::two_minutes_ago();
    let node = start_node(&db, &[], &clock);
    seed_deliveries(&db, INTEGRATION, 202, 2500, chrono::Duration::days(31));
    seed_deliveries(&db, INTEGRATION, 401, 10, chrono::Duration::days(29));
    db.client()
        .batch_execute(
            "INSERT INTO idempotency_keys (integration, key, created_at, status, body) VALUES \
               ('open', 'expired', now() - interval '25 hours', 202, '{}'), \
               ('open', 'fresh', now() - interval '23 hours', 202, '{}'); \
             INSERT INTO rejection_tallies (integration, minute, count, last_at) VALUES \
               ('open', date_trunc('minute', now() - interval '31 days'), 5, now() - interval '31 days'), \
               ('open', date_trunc('minute', now() - interval '29 days'), 7, now() - interval '29 days')",
        )
        .unwrap();
    let old = "SELECT count(*) FROM deliveries WHERE at < now() - interval '30 days'";

    // Not due yet: the pruner waits a minute after start, as on SQLite.
    assert_eq!(send(&node, "a-1").status(), 202);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(count(&db, old), 2500);

    clock.make_pruning_due();
    assert_eq!(send(&node, "a-2").status(), 202);
    // Each batch is a transaction of its own, the tallies' last: wait for it too.
    wait_until("a first batch", || {
        count(&db, old) == 1500
            && count(&db, "SELECT sum(count)::bigint FROM rejection_tallies") == 7
    });
    assert_eq!(
        count(&db, "SELECT count(*) FROM idempotency_keys"),
        1,
        "the expired key goes, the fresh one stays"
    );
    // One batch per upkeep: a full one keeps the pruner due for the next group.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(count(&db, old), 1500);
    assert_eq!(send(&node, "a-3").status(), 202);
    wait_until("a second batch", || count(&db, old) == 500);
    assert_eq!(send(&node, "a-4").status(), 202);
    wait_until("the last batch", || count(&db, old) == 0);
    assert_eq!(
        count(&db, "SELECT count(*) FROM deliveries WHERE status = 401"),
        10,
        "deliveries within the keep period stay"
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM deliveries WHERE status = 202"),
        4
    );
}

/// Rejected rows of `integration`, accepted rows, and rejections counted in all (rows + tallies).
fn rejections(db: &TestDb, integration: &str) -> (i64, i64, i64) {
    let row = db
        .client()
        .query_one(
            "SELECT count(*) FILTER (WHERE status NOT BETWEEN 200 AND 299), \
                    count(*) FILTER (WHERE status BETWEEN 200 AND 299), \
                    count(*) FILTER (WHERE status NOT BETWEEN 200 AND 299) + \
                      (SELECT coalesce(sum(count), 0)::bigint FROM rejection_tallies WHERE integration = $1) \
             FROM deliveries WHERE integration = $1",
            &[&integration],
        )
        .unwrap();
    (row.get(0), row.get(1), row.get::<_, i64>(2))
}

fn rejected_rows_are_folded() {
    let db = TestDb::fresh();
    add_integration(&db);
    let clock = TestClock::two_minutes_ago();
    let node = start_node(&db, &["--kept-rejections", "100"], &clock);
    seed_deliveries(&db, INTEGRATION, 401, 1500, chrono::Duration::minutes(30));
    seed_deliveries(&db, INTEGRATION, 202, 500, chrono::Duration::minutes(30));
    seed_deliveries(&db, "other", 413, 300, chrono::Duration::minutes(20));
    clock.make_pruning_due();
    let mut n = 0;
    wait_until("every integration down to the rows it keeps", || {
        n += 1;
        assert_eq!(send(&node, &format!("f-{n}")).status(), 202);
        std::thread::sleep(Duration::from_millis(20));
        rejections(&db, INTEGRATION).0 == 100 && rejections(&db, "other").0 == 100
    });
    assert_eq!(rejections(&db, INTEGRATION), (100, 500 + n, 1500));
    assert_eq!(rejections(&db, "other").2, 300);
    // The newest are kept: the oldest kept row is the 1401st.
    let oldest_kept: DateTime<Utc> = db
        .client()
        .query_one(
            "SELECT min(at) FROM deliveries WHERE integration = 'open' AND status = 401",
            &[],
        )
        .unwrap()
        .get(0);
    let newest: DateTime<Utc> = db
        .client()
        .query_one(
            "SELECT max(at) FROM deliveries WHERE integration = 'open' AND status = 401",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(newest - oldest_kept, chrono::Duration::milliseconds(99));
    // Tallies are per minute, with the latest rejection of each.
    let last_at: DateTime<Utc> = db
        .client()
        .query_one(
            "SELECT max(last_at) FROM rejection_tallies WHERE integration = 'open'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(oldest_kept - last_at, chrono::Duration::milliseconds(1));
}

fn two_nodes_fold() {
    let db = TestDb::fresh();
    add_integration(&db);
    let clock = TestClock::two_minutes_ago();
    let nodes = [
        start_node(&db, &["--kept-rejections", "50"], &clock),
        start_node(&db, &["--kept-rejections", "50"], &clock),
    ];
    let seeded = [("open", 12_000), ("b", 6_000), ("c", 3_000)];
    for (integration, rows) in seeded {
        seed_deliveries(&db, integration, 401, rows, chrono::Duration::minutes(50));
    }
    clock.make_pruning_due();
    let done = || {
        count(
            &db,
            "SELECT count(*) FROM deliveries WHERE status NOT BETWEEN 200 AND 299",
        ) == 150
    };
    let started = Instant::now();
    std::thread::scope(|scope| {
        for (index, node) in nodes.iter().enumerate() {
            for thread in 0..2 {
                let done = &done;
                scope.spawn(move || {
                    let mut n = 0;
                    while !done() {
                        assert!(
                            started.elapsed() < Duration::from_mins(1),
                            "pruning stalled"
                        );
                        n += 1;
                        assert_eq!(send(node, &format!("n{index}-{thread}-{n}")).status(), 202);
                    }
                });
            }
        }
    });
    println!(
        "two nodes folded {} rows in {:?}",
        21_000 - 150,
        started.elapsed()
    );
    for (integration, rows) in seeded {
        let (kept, _, counted) = rejections(&db, integration);
        assert_eq!((kept, counted), (50, rows), "{integration}");
    }
}

/// The database's size in MB, rounded up.
fn size_mb(db: &TestDb) -> u64 {
    let bytes = count(db, "SELECT pg_database_size(current_database())");
    u64::try_from(bytes).unwrap().div_ceil(1 << 20)
}

fn max_db_mb() {
    let db = TestDb::fresh();
    add_integration(&db);
    // The schema is in place (adding the integration migrated it): room for 3 MB more.
    let limit = (size_mb(&db) + 3).to_string();
    let clock = TestClock::two_minutes_ago();
    let node = start_node(&db, &["--max-db-mb", &limit], &clock);
    assert_eq!(send(&node, "before").status(), 202);
    let health = |node: &str| reqwest::blocking::get(format!("{node}/healthz")).unwrap();
    assert_eq!(health(&node).status(), 200);

    // Something else takes the room.
    db.client()
        .batch_execute(
            "CREATE TABLE ballast AS SELECT repeat(md5(n::text), 32) AS filler \
             FROM generate_series(1, 6000) AS n",
        )
        .unwrap();
    let mut n = 0;
    wait_until("ingest is refused", || {
        n += 1;
        let response = send(&node, &format!("during-{n}"));
        if response.status() == 202 {
            return false;
        }
        assert_eq!(response.status(), 503);
        assert!(response.headers().contains_key("retry-after"));
        let body: serde_json::Value = response.json().unwrap();
        assert_eq!(body["error"]["code"], "storage_full");
        true
    });
    let refused = format!("during-{n}");
    let response = health(&node);
    assert_eq!(response.status(), 503);
    assert_eq!(
        response.json::<serde_json::Value>().unwrap()["error"]["code"],
        "storage_full"
    );
    assert_eq!(send(&node, "still-over").status(), 503);
    let stored = |id: &str| {
        count(
            &db,
            &format!("SELECT count(*) FROM alerts WHERE id = '{id}'"),
        )
    };
    assert_eq!(
        stored(&refused) + stored("still-over"),
        0,
        "nothing refused is applied"
    );
    // Reads go on.
    let listed = reqwest::blocking::get(format!("{node}/v1/alerts?limit=1")).unwrap();
    assert_eq!(listed.status(), 200);

    // Space returns: the health check sees it at once, and ingest follows.
    db.client().batch_execute("DROP TABLE ballast").unwrap();
    wait_until("the health check says there is room", || {
        health(&node).status() == 200
    });
    assert_eq!(send(&node, "after").status(), 202);
    assert_eq!(stored("after"), 1);
}
