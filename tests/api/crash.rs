//! Crash safety under load: concurrent senders, `kill -9` at a random moment, restart on the same
//! file, then check everything against the senders' own records: for every request answered
//! `202`, its delivery row, the timeline entries its events made, its idempotency key (replayed,
//! not applied again) and the alerts' states. Five rounds by default (about a second each);
//! `CRASH_ROUNDS=20 cargo test crash` for the long run.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use reqwest::blocking::Client;
use serde_json::{json, Value};

use crate::helpers::*;

/// One request a sender made, and what it was told.
#[derive(Debug, Clone)]
struct Sent {
    integration: &'static str,
    /// (Id, action) of each event, in order.
    events: Vec<(String, &'static str)>,
    idempotency_key: String,
    body: String,
    /// The status, or `None` when no answer came (the server died first).
    status: Option<u16>,
    answer: Option<String>,
}

/// The state an alert is in after `action`, given the state before (mirrors SPEC §4).
fn next_state(before: Option<&str>, action: &str) -> Option<&'static str> {
    match (before, action) {
        (_, "create") => Some(match before {
            Some("acknowledged") => "acknowledged",
            _ => "open",
        }),
        (None, _) => None,
        (Some("open"), "acknowledge") => Some("acknowledged"),
        (Some("resolved"), _) => Some("resolved"),
        (Some(_), "resolve") => Some("resolved"),
        (Some(state), _) => Some(match state {
            "open" => "open",
            _ => "acknowledged",
        }),
    }
}

/// Sends requests until `stop` or until the server stops answering; returns what it sent.
fn sender(address: String, worker: usize, round: usize, stop: Arc<AtomicBool>) -> Vec<Sent> {
    let client = Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut sent = Vec::new();
    let mut rng = rand::thread_rng();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) && n < 5_000 {
        n += 1;
        let id = |k: usize| format!("r{round}-w{worker}-a{k}");
        // Ids of this sender only, so its records alone decide their states.
        let current = rng.gen_range(0..20);
        let events: Vec<(String, &'static str)> = match rng.gen_range(0..4) {
            0 => (0..3).map(|k| (id(n * 10 + k), "create")).collect(),
            1 => vec![(id(current), "create")],
            2 => vec![(id(current), "acknowledge")],
            _ => vec![(id(current), "resolve")],
        };
        let integration = if worker.is_multiple_of(2) {
            "tok"
        } else {
            "sig"
        };
        let bodies: Vec<Value> = events
            .iter()
            .map(|(id, action)| json!({"event_type": action, "Id": id, "Title": format!("alert {id}")}))
            .collect();
        let body = if bodies.len() == 1 {
            bodies[0].to_string()
        } else {
            Value::Array(bodies).to_string()
        };
        let key = format!("r{round}-w{worker}-k{n}");
        let answered = sender_request(&client, &address, integration, &key, &body)
            .send()
            .and_then(|response| {
                let status = response.status().as_u16();
                response.text().map(|text| (status, text))
            });
        let (status, answer) = match answered {
            Ok((status, text)) => (Some(status), Some(text)),
            Err(_) => (None, None),
        };
        let died = status.is_none();
        sent.push(Sent {
            integration,
            events,
            idempotency_key: key,
            body,
            status,
            answer,
        });
        if died {
            break;
        }
    }
    sent
}

fn one_round(round: usize) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("alertgate.db");
    add_sender_integrations(&db);
    let server = ServerProcess::start(&db);
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..4)
        .map(|worker| {
            let (address, stop) = (server.address.clone(), stop.clone());
            std::thread::spawn(move || sender(address, worker, round, stop))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(
        rand::thread_rng().gen_range(200..900),
    ));
    server.kill_hard();
    stop.store(true, Ordering::Relaxed);
    let records: Vec<Sent> = senders
        .into_iter()
        .flat_map(|sender| sender.join().unwrap())
        .collect();
    assert!(
        records.iter().any(|sent| sent.status == Some(202)),
        "round {round}: some requests were accepted"
    );
    for sent in &records {
        assert!(
            matches!(sent.status, None | Some(202)),
            "round {round}: unexpected answer {sent:?}"
        );
    }

    let restarted = ServerProcess::start(&db);
    let database = alertgate::store::Database::open(&db).unwrap();
    assert_eq!(database.integrity().unwrap(), "ok", "round {round}");
    let connection = rusqlite::Connection::open(&db).unwrap();
    let (count, max): (i64, Option<i64>) = connection
        .query_row("SELECT count(*), max(seq) FROM alert_events", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .unwrap();
    assert_eq!(
        Some(count),
        max.or(Some(0)),
        "round {round}: seq has no gaps"
    );

    // Each sender's Ids are its own: replay its accepted requests to get each alert's state; an
    // unanswered request (at most one per sender, its last) may or may not have been applied.
    let mut expected: HashMap<(String, &str), Option<&str>> = HashMap::new();
    let mut maybe: HashMap<(String, &str), Option<&str>> = HashMap::new();
    for sent in &records {
        for (id, action) in &sent.events {
            let key = (id.clone(), sent.integration);
            let before = expected.get(&key).copied().flatten();
            let after = next_state(before, action);
            if sent.status == Some(202) {
                expected.insert(key, after);
            } else {
                maybe.insert(key, after);
            }
        }
    }
    for ((id, integration), state) in &expected {
        let stored = database
            .alert(integration, id)
            .unwrap()
            .map(|alert| alert.state.as_str().to_string());
        let in_flight = maybe.get(&(id.clone(), *integration)).copied().flatten();
        let acceptable = stored.as_deref() == *state
            || (maybe.contains_key(&(id.clone(), *integration)) && stored.as_deref() == in_flight);
        assert!(
            acceptable,
            "round {round}: {integration}/{id} is {stored:?}, expected {state:?}"
        );
    }
    for sent in records
        .iter()
        .filter(|sent| sent.status.is_none() && sent.events.len() > 1)
    {
        let present = sent
            .events
            .iter()
            .filter(|(id, _)| database.alert(sent.integration, id).unwrap().is_some())
            .count();
        assert!(
            present == 0 || present == sent.events.len(),
            "round {round}: a batch was half-applied"
        );
    }

    let accepted: Vec<&Sent> = records
        .iter()
        .filter(|sent| sent.status == Some(202))
        .collect();
    eprintln!(
        "crash round {round}: {} requests answered 202 ({} events) found applied, {} cut off by the kill",
        accepted.len(),
        accepted.iter().map(|sent| sent.events.len()).sum::<usize>(),
        records.len() - accepted.len()
    );

    let stored = Stored::read(&connection);
    check_every_accepted_delivery(round, &records, &stored);
    replay_every_accepted_key(round, &records, &restarted.address);
    assert_eq!(
        Stored::read(&connection).entries,
        stored.entries,
        "round {round}: replayed keys applied nothing again"
    );
}

/// A timeline entry as the crash checks compare it: (alert Id, action, outcome).
type Entry = (String, String, String);

/// What the restarted database holds about deliveries, read once.
struct Stored {
    /// Each delivery row by id: (integration, status, idempotency key, outcome counts).
    deliveries: HashMap<String, (String, i64, Option<String>, Value)>,
    /// The timeline entries of each delivery, in order.
    entries: HashMap<String, Vec<Entry>>,
}

impl Stored {
    fn read(connection: &rusqlite::Connection) -> Stored {
        let mut statement = connection
            .prepare("SELECT id, integration, status, idempotency_key, outcomes FROM deliveries")
            .unwrap();
        let deliveries = statement
            .query_map([], |row| {
                let outcomes: Option<String> = row.get(4)?;
                let outcomes = outcomes.map_or(Value::Null, |text| {
                    serde_json::from_str(&text).expect("outcomes are JSON")
                });
                Ok((
                    row.get(0)?,
                    (row.get(1)?, row.get(2)?, row.get(3)?, outcomes),
                ))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut entries: HashMap<String, Vec<Entry>> = HashMap::new();
        let mut statement = connection
            .prepare(
                "SELECT delivery, alert_id, action, outcome FROM alert_events \
                 WHERE delivery IS NOT NULL ORDER BY seq",
            )
            .unwrap();
        let rows = statement
            .query_map([], |row| {
                Ok((row.get(0)?, (row.get(1)?, row.get(2)?, row.get(3)?)))
            })
            .unwrap();
        for row in rows {
            let (delivery, entry): (String, Entry) = row.unwrap();
            entries.entry(delivery).or_default().push(entry);
        }
        Stored {
            deliveries,
            entries,
        }
    }
}

/// Every `202` left its delivery row and exactly the timeline entries its answer reported (one
/// per event on an alert that exists, SPEC §4), and nothing else was applied but what the
/// requests cut off by the kill may have carried.
fn check_every_accepted_delivery(round: usize, records: &[Sent], stored: &Stored) {
    let mut entries_of_accepted = 0;
    for sent in records.iter().filter(|sent| sent.status == Some(202)) {
        let answer: Value = serde_json::from_str(sent.answer.as_deref().unwrap()).unwrap();
        let delivery = answer["delivery"].as_str().unwrap();
        let results = answer["results"].as_array().unwrap();
        let what = format!("round {round}: {delivery} ({})", sent.idempotency_key);
        let (integration, status, key, outcomes) = stored
            .deliveries
            .get(delivery)
            .unwrap_or_else(|| panic!("{what}: its delivery row is missing"));
        assert_eq!(
            (integration.as_str(), *status, key.as_deref()),
            (sent.integration, 202, Some(sent.idempotency_key.as_str())),
            "{what}"
        );
        let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
        for result in results {
            *counts
                .entry(result["outcome"].as_str().unwrap())
                .or_default() += 1;
        }
        assert_eq!(outcomes, &serde_json::to_value(&counts).unwrap(), "{what}");

        let expected: Vec<Entry> = results
            .iter()
            .filter(|result| !result["state"].is_null())
            .map(|result| {
                let text = |key: &str| result[key].as_str().unwrap().to_string();
                (text("id"), text("action"), text("outcome"))
            })
            .collect();
        let found = stored.entries.get(delivery).cloned().unwrap_or_default();
        assert_eq!(found, expected, "{what}: its timeline entries");
        entries_of_accepted += found.len();
    }
    let all: usize = stored.entries.values().map(Vec::len).sum();
    let cut_off: usize = records
        .iter()
        .filter(|sent| sent.status.is_none())
        .map(|sent| sent.events.len())
        .sum();
    assert!(
        all - entries_of_accepted <= cut_off,
        "round {round}: {} timeline entries from no accepted delivery, {cut_off} events cut off",
        all - entries_of_accepted
    );
}

/// Every idempotency key of a `202`, sent again with its request: the first answer byte for byte,
/// marked replayed. Four senders at once, as the load was.
fn replay_every_accepted_key(round: usize, records: &[Sent], address: &str) {
    let accepted: Vec<&Sent> = records
        .iter()
        .filter(|sent| sent.status == Some(202))
        .collect();
    std::thread::scope(|scope| {
        for share in accepted.chunks(accepted.len().div_ceil(4)) {
            scope.spawn(move || {
                let client = Client::new();
                for sent in share {
                    let response = sender_request(
                        &client,
                        address,
                        sent.integration,
                        &sent.idempotency_key,
                        &sent.body,
                    )
                    .send()
                    .unwrap();
                    let key = &sent.idempotency_key;
                    assert_eq!(response.status(), 202, "round {round}: {key}");
                    assert_eq!(
                        response
                            .headers()
                            .get("idempotent-replayed")
                            .map(|v| v.as_bytes()),
                        Some(&b"true"[..]),
                        "round {round}: {key} is replayed"
                    );
                    assert_eq!(
                        response.text().ok(),
                        sent.answer,
                        "round {round}: {key} gets the first answer, byte for byte"
                    );
                }
            });
        }
    });
}

#[test]
fn accepted_deliveries_survive_kill_9_under_concurrent_load() {
    let rounds = std::env::var("CRASH_ROUNDS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(5);
    for round in 0..rounds {
        one_round(round);
    }
}
