//! A `202` is a durable commit: it survives `kill -9`. SIGTERM finishes what is in flight.

use reqwest::blocking::Client;

use crate::helpers::*;

#[test]
fn every_202_survives_a_kill_9_right_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("alertgate.db");
    let (ok, _, stderr) = run_cli(&db, &["integration", "add", "dur", "--secret", TOKEN]);
    assert!(ok, "{stderr}");
    let server = ServerProcess::start(&db);
    const N: usize = 60;
    for n in 0..N {
        let body = if n % 3 == 0 {
            // Every third request is a batch of two: all or nothing.
            format!(
                "[{},{}]",
                create(&format!("d-{n}")),
                create(&format!("d-{n}-b"))
            )
        } else {
            create(&format!("d-{n}")).to_string()
        };
        let response = server.post(
            "/hooks/dur",
            &[
                ("pagertree-token", TOKEN),
                ("content-type", "application/json"),
            ],
            body,
        );
        assert_eq!(response.status(), 202, "request {n}");
    }
    server.kill_hard();

    let restarted = ServerProcess::start(&db);
    let health = Client::new()
        .get(format!("{}/healthz", restarted.address))
        .send()
        .unwrap();
    assert_eq!(health.status(), 200);
    let database = alertgate::store::Database::open(&db).unwrap();
    for n in 0..N {
        assert!(
            database.alert("dur", &format!("d-{n}")).unwrap().is_some(),
            "alert d-{n} survived"
        );
        if n % 3 == 0 {
            assert!(
                database
                    .alert("dur", &format!("d-{n}-b"))
                    .unwrap()
                    .is_some(),
                "batch {n} survived whole"
            );
        }
    }
}

#[cfg(unix)]
#[test]
fn sigterm_answers_what_is_in_flight_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("alertgate.db");
    run_cli(&db, &["integration", "add", "term", "--secret", TOKEN]);
    let mut server = ServerProcess::start(&db);
    let address = server.address.clone();
    let senders: Vec<_> = (0..4)
        .map(|worker| {
            let address = address.clone();
            std::thread::spawn(move || {
                let client = Client::new();
                let mut accepted = Vec::new();
                for n in 0..200 {
                    let id = format!("t-{worker}-{n}");
                    let sent = client
                        .post(format!("{address}/hooks/term"))
                        .header("pagertree-token", TOKEN)
                        .body(create(&id).to_string())
                        .send();
                    match sent {
                        Ok(response) if response.status() == 202 => accepted.push(id),
                        Ok(response) => panic!("unexpected status {}", response.status()),
                        Err(_) => break, // the server stopped listening
                    }
                }
                accepted
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let pid = server.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = server.child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
    let accepted: Vec<String> = senders
        .into_iter()
        .flat_map(|s| s.join().unwrap())
        .collect();
    assert!(!accepted.is_empty());
    let database = alertgate::store::Database::open(&db).unwrap();
    for id in accepted {
        assert!(
            database.alert("term", &id).unwrap().is_some(),
            "{id} was answered 202 and is stored"
        );
    }
}

/// Event streams never finish by themselves: a stop must end them rather than wait out the
/// drain timeout, so a restart is quick and clients reconnect to the new process.
#[cfg(unix)]
#[test]
fn sigterm_ends_open_event_streams_and_exits_promptly() {
    use std::io::{BufRead, Read};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("alertgate.db");
    let mut server = ServerProcess::start(&db);
    let response = Client::builder()
        .timeout(None)
        .build()
        .unwrap()
        .get(format!("{}/v1/stream", server.address))
        .send()
        .unwrap();
    let mut stream = std::io::BufReader::new(response);
    let mut first = String::new();
    stream.read_line(&mut first).unwrap();
    assert_eq!(first.trim_end(), ": connected");

    let started = std::time::Instant::now();
    let pid = server.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let mut rest = Vec::new();
    stream
        .read_to_end(&mut rest)
        .expect("the stream ends cleanly");
    let status = server.child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
    let waited = started.elapsed();
    assert!(
        waited < std::time::Duration::from_secs(10),
        "stopping took {waited:?}, as if it waited for the stream"
    );
}
