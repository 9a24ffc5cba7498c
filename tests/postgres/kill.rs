//! A node killed under load loses nothing it answered (SPEC §11): three nodes as processes of
//! their own on one database, senders on all three, one node killed with SIGKILL; every `202`
//! from any node is a delivery in the log with its results in the timelines, and the other
//! nodes never stop answering.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde_json::{json, Value};

use crate::db::TestDb;
use crate::nodes::{add_integration, Node, INTEGRATION};

pub const TESTS: &[crate::Test] = &[
    (
        "every_202_of_three_nodes_survives_one_killed",
        kill_one_of_three,
    ),
    (
        "three_nodes_started_together_make_one_default",
        three_first_runs,
    ),
];

/// One request a sender made: the node, and the answer if one came.
struct Sent {
    node: usize,
    answer: Option<(u16, Value)>,
}

fn kill_one_of_three() {
    let db = TestDb::fresh();
    add_integration(&db);
    let mut nodes: Vec<Option<Node>> = (0..3).map(|_| Some(Node::start(db.url_text()))).collect();
    let addresses: Vec<String> = nodes
        .iter()
        .map(|node| node.as_ref().unwrap().address.clone())
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..6)
        .map(|sender| {
            let (address, stop) = (addresses[sender % 3].clone(), stop.clone());
            std::thread::spawn(move || send_until(sender % 3, &address, &stop))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(
        rand::thread_rng().gen_range(1000..2000),
    ));
    drop(nodes[0].take());
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    let sent: Vec<Sent> = senders
        .into_iter()
        .flat_map(|sender| sender.join().unwrap())
        .collect();
    for survivor in [1, 2] {
        assert!(
            sent.iter()
                .filter(|request| request.node == survivor)
                .all(|request| matches!(request.answer, Some((202, _)))),
            "node {survivor} answered every request 202 while node 0 died"
        );
    }
    let accepted: Vec<&Value> = sent
        .iter()
        .filter_map(|request| match &request.answer {
            Some((202, body)) => Some(body),
            _ => None,
        })
        .collect();
    assert!(
        accepted.len() >= 20,
        "only {} requests accepted",
        accepted.len()
    );
    check_stored(&db, &accepted);
}

/// Each accepted answer is one row of the delivery log, and as many timeline entries as it has
/// results.
fn check_stored(db: &TestDb, accepted: &[&Value]) {
    let mut client = db.client();
    let entries: HashMap<String, i64> = client
        .query(
            "SELECT delivery, count(*) FROM alert_events GROUP BY delivery",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    for body in accepted {
        let delivery = body["delivery"].as_str().unwrap();
        let logged: i64 = client
            .query_one(
                "SELECT count(*) FROM deliveries WHERE id = $1",
                &[&delivery],
            )
            .unwrap()
            .get(0);
        assert_eq!(logged, 1, "{delivery} answered 202 is in the delivery log");
        let results = body["results"].as_array().unwrap().len();
        assert_eq!(
            entries.get(delivery).copied().unwrap_or(0),
            i64::try_from(results).unwrap(),
            "{delivery}'s results are in the timelines"
        );
    }
}

/// Creates and resolves alerts of its own on one node until told to stop, or its node dies.
fn send_until(node: usize, address: &str, stop: &AtomicBool) -> Vec<Sent> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut sent = Vec::new();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let id = format!("node{node}-{}-{n}", rand::random::<u32>());
        let body = json!([
            {"event_type": "create", "Id": id, "Title": "t"},
            {"event_type": "resolve", "Id": id},
        ]);
        let answer = client
            .post(format!("{address}/hooks/{INTEGRATION}"))
            .json(&body)
            .send()
            .ok()
            .map(|response| {
                let status = response.status().as_u16();
                (status, response.json().unwrap_or(Value::Null))
            });
        let died = answer.is_none();
        sent.push(Sent { node, answer });
        if died {
            break;
        }
    }
    sent
}

/// Three nodes started at once on an empty database: one schema, one first-run `default`, its
/// token printed by exactly one of them, and all three serving.
pub fn three_first_runs() {
    let db = TestDb::fresh();
    let url = db.url_text().to_string();
    let nodes: Vec<Node> = std::thread::scope(|scope| {
        let starting: Vec<_> = (0..3).map(|_| scope.spawn(|| Node::start(&url))).collect();
        starting
            .into_iter()
            .map(|node| node.join().unwrap())
            .collect()
    });
    let client = reqwest::blocking::Client::new();
    for node in &nodes {
        let health = client
            .get(format!("{}/healthz", node.address))
            .send()
            .unwrap();
        assert_eq!(health.status(), 200);
    }
    let printed = nodes
        .iter()
        .filter(|node| {
            std::iter::from_fn(|| node.printed.recv_timeout(Duration::from_millis(500)).ok())
                .any(|line| line.starts_with("Created integration `default`"))
        })
        .count();
    assert_eq!(printed, 1, "one node made `default` and said so");
    let mut client = db.client();
    let integrations: i64 = client
        .query_one(
            "SELECT count(*) FROM integrations WHERE name = 'default'",
            &[],
        )
        .unwrap()
        .get(0);
    let versions: i64 = client
        .query_one("SELECT count(*) FROM schema_migrations", &[])
        .unwrap()
        .get(0);
    assert_eq!((integrations, versions), (1, 1));
}
