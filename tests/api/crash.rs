//! Crash safety under load: concurrent senders, `kill -9` at a random moment, restart on the same
//! file, then check everything against the senders' own records. Three rounds by default;
//! `CRASH_ROUNDS=20 cargo test crash` for the long run.

use std::collections::HashMap;
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

    // Idempotency keys of accepted deliveries replay the first answer.
    let client = Client::new();
    for sent in records
        .iter()
        .filter(|sent| sent.status == Some(202))
        .take(20)
    {
        let response = sender_request(
            &client,
            &restarted.address,
            sent.integration,
            &sent.idempotency_key,
            &sent.body,
        )
        .send()
        .unwrap();
        assert_eq!(
            response.headers()["idempotent-replayed"],
            "true",
            "round {round}"
        );
        assert_eq!(
            response.text().ok(),
            sent.answer,
            "round {round}: the first answer, byte for byte"
        );
    }
}

#[test]
fn accepted_deliveries_survive_kill_9_under_concurrent_load() {
    let rounds = std::env::var("CRASH_ROUNDS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(3);
    for round in 0..rounds {
        one_round(round);
    }
}
