//! Nodes see each other (SPEC §11): the live stream on any node carries every node's events in
//! seq order, never skipping one and never going back; an idempotency key is one delivery
//! whichever nodes it reaches; an integration changed anywhere changes everywhere within 1 s.

use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use alertgate::store::{Database, DbLocation};
use rand::Rng;
use serde_json::{json, Value};

use crate::db::TestDb;
use crate::nodes::{add_integration, start_node, INTEGRATION};

pub const TESTS: &[crate::Test] = &[
    (
        "the_alerts_gauge_counts_every_nodes_alerts",
        gauge_counts_every_node,
    ),
    (
        "an_event_on_one_node_reaches_a_stream_on_another",
        reaches_another,
    ),
    ("streams_on_every_node_never_skip_nor_go_back", never_skip),
    (
        "an_idempotency_key_sent_to_two_nodes_applies_once",
        idempotency,
    ),
    (
        "an_integration_disabled_anywhere_is_refused_everywhere",
        integration_change,
    ),
];

/// How long the SPEC allows a change to take to reach another node.
const SECOND: Duration = Duration::from_secs(1);

/// The seqs of a node's `/v1/stream`, as they arrive, with when each arrived.
fn subscribe(node: &str, last_event_id: Option<i64>) -> mpsc::Receiver<(i64, Instant)> {
    let client = reqwest::blocking::Client::builder()
        .timeout(None)
        .build()
        .unwrap();
    let mut request = client.get(format!("{node}/v1/stream"));
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id.to_string());
    }
    let response = request.send().unwrap();
    assert_eq!(response.status(), 200);
    let mut reader = BufReader::new(response);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line.trim_end(), ": connected");
    let (sender, seqs) = mpsc::channel();
    std::thread::spawn(move || loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if let Some(id) = line.trim_end().strip_prefix("id: ") {
            if sender.send((id.parse().unwrap(), Instant::now())).is_err() {
                return;
            }
        }
    });
    seqs
}

fn post(
    client: &reqwest::blocking::Client,
    node: &str,
    body: &Value,
) -> reqwest::blocking::Response {
    client
        .post(format!("{node}/hooks/{INTEGRATION}"))
        .json(body)
        .send()
        .unwrap()
}

fn create(id: &str) -> Value {
    json!({"event_type": "create", "Id": id, "Title": format!("{id} is down")})
}

fn reaches_another() {
    let db = TestDb::fresh();
    add_integration(&db);
    let (a, b) = (start_node(&db, &[]), start_node(&db, &[]));
    let on_b = subscribe(&b, None);
    let client = reqwest::blocking::Client::new();
    for round in 0..5 {
        let sent = Instant::now();
        let answer = post(&client, &a, &create(&format!("across-{round}")));
        assert_eq!(answer.status(), 202);
        let (_, arrived) = on_b.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(
            arrived - sent < SECOND,
            "round {round}: B's stream had A's event after {:?}",
            arrived - sent
        );
    }
}

/// Four senders on two nodes for three seconds; a stream on each node. Each stream's seqs go
/// up one by one through every applied event of the log after its first, and a stream resumed
/// on the other node from the middle gets exactly the rest.
fn never_skip() {
    let db = TestDb::fresh();
    add_integration(&db);
    let nodes = [start_node(&db, &[]), start_node(&db, &[])];
    let streams: Vec<_> = nodes.iter().map(|node| subscribe(node, None)).collect();
    let until = Instant::now() + Duration::from_secs(3);
    std::thread::scope(|scope| {
        for sender in 0..4 {
            let node = nodes[sender % 2].clone();
            scope.spawn(move || {
                let client = reqwest::blocking::Client::new();
                let mut rng = rand::thread_rng();
                while Instant::now() < until {
                    let id = format!("alert-{}", rng.gen_range(0..50));
                    let action = ["create", "acknowledge", "resolve"][rng.gen_range(0..3)];
                    let body = json!({"event_type": action, "Id": id, "Title": "t"});
                    assert_eq!(post(&client, &node, &body).status(), 202);
                }
            });
        }
    });
    let applied: Vec<i64> = db
        .client()
        .query(
            "SELECT seq FROM alert_events WHERE outcome <> 'ignored' ORDER BY seq",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(applied.len() > 100, "only {} events applied", applied.len());
    let last = *applied.last().unwrap();
    for (node, stream) in streams.iter().enumerate() {
        let mut seen = Vec::new();
        while seen.last() != Some(&last) {
            let (seq, _) = stream
                .recv_timeout(Duration::from_secs(5))
                .unwrap_or_else(|_| panic!("node {node}'s stream stopped at {:?}", seen.last()));
            seen.push(seq);
        }
        let first = applied.iter().position(|seq| *seq == seen[0]).unwrap();
        assert_eq!(
            seen,
            applied[first..],
            "node {node}'s stream is the log, in order, from its first event"
        );
    }
    let middle = applied[applied.len() / 2];
    let resumed = subscribe(&nodes[1], Some(middle));
    let mut rest = Vec::new();
    while rest.last() != Some(&last) {
        rest.push(resumed.recv_timeout(Duration::from_secs(5)).unwrap().0);
    }
    assert_eq!(rest, applied[applied.len() / 2 + 1..]);
}

/// Fifty keys, each sent to both nodes at once: one delivery applies it, the other replays
/// its answer.
fn idempotency() {
    let db = TestDb::fresh();
    add_integration(&db);
    let nodes = [start_node(&db, &[]), start_node(&db, &[])];
    for key in 0..50 {
        let barrier = Arc::new(Barrier::new(2));
        let answers: Vec<(bool, Value)> = std::thread::scope(|scope| {
            let handles: Vec<_> = nodes
                .iter()
                .map(|node| {
                    let barrier = barrier.clone();
                    scope.spawn(move || {
                        let client = reqwest::blocking::Client::new();
                        barrier.wait();
                        let response = client
                            .post(format!("{node}/hooks/{INTEGRATION}"))
                            .header("Idempotency-Key", format!("key-{key}"))
                            .json(&create(&format!("once-{key}")))
                            .send()
                            .unwrap();
                        assert_eq!(response.status(), 202);
                        let replayed = response.headers().contains_key("idempotent-replayed");
                        (replayed, response.json().unwrap())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| handle.join().unwrap())
                .collect()
        });
        assert_eq!(
            answers.iter().filter(|(replayed, _)| *replayed).count(),
            1,
            "key {key}: one replay"
        );
        assert_eq!(answers[0].1, answers[1].1, "key {key}: the same answer");
    }
    let mut client = db.client();
    let row = client
        .query_one(
            "SELECT count(*), sum(occurrences)::bigint FROM alerts WHERE integration = $1",
            &[&INTEGRATION],
        )
        .unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (50, 50));
}

/// Disabled by the CLI's direct connection, the integration is refused by both nodes within a
/// second; enabled again, both take it again.
fn integration_change() {
    let db = TestDb::fresh();
    add_integration(&db);
    let nodes = [start_node(&db, &[]), start_node(&db, &[])];
    let client = reqwest::blocking::Client::new();
    let status = |node: &str| post(&client, node, &create("switch")).status().as_u16();
    assert_eq!(status(&nodes[0]), 202);
    let mut database = Database::open(DbLocation::Postgres(Box::new(db.url()))).unwrap();
    for (enabled, expected) in [(false, 404), (true, 202)] {
        database.set_enabled(INTEGRATION, enabled).unwrap();
        let changed = Instant::now();
        for node in &nodes {
            while status(node) != expected {
                assert!(
                    changed.elapsed() < SECOND,
                    "{node} still answers the old way after a second"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// The alerts gauge of `/metrics` on a node that took none of the alerts counts them all, once
/// its upkeep (every 10 s while it works) has read the counters.
fn gauge_counts_every_node() {
    let db = TestDb::fresh();
    add_integration(&db);
    let (a, b) = (start_node(&db, &[]), start_node(&db, &[]));
    let client = reqwest::blocking::Client::new();
    for n in 0..3 {
        assert_eq!(
            post(&client, &a, &create(&format!("on-a-{n}"))).status(),
            202
        );
    }
    let open_on_b = || {
        let text = client
            .get(format!("{b}/metrics"))
            .send()
            .unwrap()
            .text()
            .unwrap();
        text.lines()
            .find_map(|line| line.strip_prefix("alertgate_alerts{state=\"open\"} "))
            .and_then(|value| value.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let started = Instant::now();
    while open_on_b() < 4.0 {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "B's gauge says {} open alerts",
            open_on_b()
        );
        // B's own traffic drives its upkeep.
        assert_eq!(post(&client, &b, &create("on-b")).status(), 202);
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!((open_on_b() - 4.0).abs() < f64::EPSILON);
}
