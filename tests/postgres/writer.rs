//! One alert, one order, many nodes (SPEC §11): nodes hammering the same alerts never interleave
//! one alert's lifecycle, never deadlock, and every answer matches the timeline.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Barrier};

use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::{json, Value};

use crate::db::TestDb;
use crate::nodes::{add_integration, start_node, INTEGRATION};

pub const TESTS: &[crate::Test] = &[
    (
        "two_nodes_hammering_two_alerts_follow_the_state_table",
        hammer,
    ),
    (
        "opposite_orders_on_two_nodes_never_deadlock",
        opposite_orders,
    ),
];

const IDS: [&str; 2] = ["x", "y"];

/// A random event on one of `IDS`, some with a `Timestamp` (occurred_at) so that stale ones are ignored.
fn random_event(rng: &mut impl Rng) -> Value {
    let id = IDS[rng.gen_range(0..IDS.len())];
    let action = ["create", "acknowledge", "resolve"][rng.gen_range(0..3)];
    let mut event = json!({"event_type": action, "Id": id, "Title": format!("{id} is down")});
    if rng.gen_bool(0.2) {
        let minute = rng.gen_range(0..50);
        event["Timestamp"] = json!(format!("2026-01-01T00:{minute:02}:00Z"));
    }
    event
}

fn post(client: &reqwest::blocking::Client, node: &str, body: &Value) -> Value {
    let response = client
        .post(format!("{node}/hooks/{INTEGRATION}"))
        .json(body)
        .send()
        .unwrap();
    assert_eq!(response.status(), 202, "{}", response.text().unwrap());
    response.json().unwrap()
}

fn hammer() {
    let db = TestDb::fresh();
    add_integration(&db);
    let nodes = [start_node(&db, &[]), start_node(&db, &[])];
    let threads = 8;
    let requests = 100;
    let barrier = Arc::new(Barrier::new(threads));
    let answers: Vec<Value> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                let node = nodes[thread % nodes.len()].clone();
                let barrier = barrier.clone();
                scope.spawn(move || {
                    let client = reqwest::blocking::Client::new();
                    let mut rng = rand::thread_rng();
                    barrier.wait();
                    (0..requests)
                        .map(|_| {
                            let events: Vec<Value> = (0..rng.gen_range(1..=3))
                                .map(|_| random_event(&mut rng))
                                .collect();
                            let body = if events.len() == 1 {
                                events[0].clone()
                            } else {
                                Value::Array(events)
                            };
                            post(&client, &node, &body)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().unwrap())
            .collect()
    });
    assert_eq!(answers.len(), threads * requests);
    let mut client = db.client();
    for id in IDS {
        check_timeline(&mut client, id, &answers);
    }
}

/// Every entry of `id`'s timeline follows from the one before by a cell of the state table,
/// the alert is what the last entry left, and each `202`'s results are exactly its entries.
fn check_timeline(client: &mut postgres::Client, id: &str, answers: &[Value]) {
    let rows = client
        .query(
            "SELECT seq, action, outcome, reason, from_state, to_state, delivery \
             FROM alert_events WHERE integration = $1 AND alert_id = $2 ORDER BY seq",
            &[&INTEGRATION, &id],
        )
        .unwrap();
    assert!(!rows.is_empty(), "{id} has a timeline");
    let mut previous: Option<String> = None;
    let mut episode = 1;
    let mut by_delivery: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for (index, row) in rows.iter().enumerate() {
        let action: String = row.get(1);
        let outcome: String = row.get(2);
        let reason: Option<String> = row.get(3);
        let from: Option<String> = row.get(4);
        let to: String = row.get(5);
        let delivery: String = row.get(6);
        assert_eq!(
            from, previous,
            "{id} entry {index}: from is the previous to"
        );
        // A stale event is ignored whatever the cell, and changes nothing.
        let expected = if reason.as_deref() == Some("stale") {
            ("ignored", from.as_deref().unwrap_or("none"))
        } else {
            cell(from.as_deref(), &action)
        };
        assert_eq!(
            (outcome.as_str(), to.as_str()),
            expected,
            "{id} entry {index}"
        );
        if outcome == "reopened" {
            episode += 1;
        }
        by_delivery
            .entry(delivery)
            .or_default()
            .push((outcome, to.clone()));
        previous = Some(to);
    }
    let alert = client
        .query_one(
            "SELECT state, episode FROM alerts WHERE integration = $1 AND id = $2",
            &[&INTEGRATION, &id],
        )
        .unwrap();
    assert_eq!(
        Some(alert.get::<_, String>(0)),
        previous,
        "{id}: the last entry's state"
    );
    assert_eq!(
        alert.get::<_, i64>(1),
        episode,
        "{id}: one episode per opening"
    );
    let answered = check_answers(id, answers, &mut by_delivery);
    assert_eq!(answered, rows.len(), "{id}: every entry was answered");
    assert!(by_delivery.is_empty(), "{id}: no entry without an answer");
}

/// SPEC §4's cell for an event with `action` on an alert in state `from`: (outcome, state).
fn cell<'a>(from: Option<&'a str>, action: &str) -> (&'static str, &'a str) {
    match (from, action) {
        (None, "create" | "update") => ("created", "open"),
        (Some("resolved"), "create") => ("reopened", "open"),
        (Some(state), "create") => ("deduplicated", state),
        (Some(state), "update") => ("updated", state),
        (Some("open"), "acknowledge") => ("acknowledged", "acknowledged"),
        (Some("acknowledged"), "acknowledge") => ("ignored", "acknowledged"),
        (Some("resolved"), "acknowledge" | "resolve") => ("ignored", "resolved"),
        (Some(_), "resolve") => ("resolved", "resolved"),
        other => panic!("no cell of the state table for {other:?}"),
    }
}

/// Each answer's results for `id`, in order, are the entries its delivery wrote (taken out of
/// `by_delivery`); answers how many results there were.
fn check_answers(
    id: &str,
    answers: &[Value],
    by_delivery: &mut HashMap<String, Vec<(String, String)>>,
) -> usize {
    let mut answered = 0;
    for answer in answers {
        let delivery = answer["delivery"].as_str().unwrap();
        let results: Vec<(String, String)> = answer["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|result| result["id"] == id && !result["state"].is_null())
            .map(|result| {
                (
                    result["outcome"].as_str().unwrap().to_string(),
                    result["state"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let entries = by_delivery.remove(delivery).unwrap_or_default();
        assert_eq!(
            results, entries,
            "{id}: delivery {delivery}'s answer is its entries"
        );
        answered += results.len();
    }
    answered
}

/// Node A gets `[a, b]` and node B `[b, a]`, many at once: locks are taken in one order, so
/// neither waits on the other in a cycle, and every request is applied.
fn opposite_orders() {
    let db = TestDb::fresh();
    add_integration(&db);
    let nodes = [start_node(&db, &[]), start_node(&db, &[])];
    let barrier = Arc::new(Barrier::new(4));
    let mut orders: Vec<[&str; 2]> = vec![["a", "b"], ["b", "a"]];
    orders.shuffle(&mut rand::thread_rng());
    std::thread::scope(|scope| {
        for thread in 0..4 {
            let node = nodes[thread % 2].clone();
            let order = orders[thread % 2];
            let barrier = barrier.clone();
            scope.spawn(move || {
                let client = reqwest::blocking::Client::new();
                barrier.wait();
                for round in 0..100 {
                    let body = json!([
                        {"event_type": "create", "Id": order[0], "Title": format!("{round}")},
                        {"event_type": "create", "Id": order[1], "Title": format!("{round}")},
                    ]);
                    post(&client, &node, &body);
                }
            });
        }
    });
    let mut client = db.client();
    let occurrences: BTreeMap<String, i64> = client
        .query(
            "SELECT id, occurrences FROM alerts WHERE integration = $1",
            &[&INTEGRATION],
        )
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert_eq!(
        occurrences,
        BTreeMap::from([("a".to_string(), 400), ("b".to_string(), 400)])
    );
}
