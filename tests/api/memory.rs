//! Memory that slow clients can make the server hold is bounded: bodies that trickle in, stream
//! clients that never read, a replay nobody reads. Each load runs against the real binary as
//! its own process and measures its resident memory (`VmRSS`) before and after; the bounds are
//! generous (a tenth or less of what the same loads took before the budgets existed) and the
//! figures are printed (`cargo test memory -- --nocapture`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::*;

const MIB: u64 = 1024 * 1024;

/// The server's resident memory now, in bytes.
fn rss(server: &ServerProcess) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id()))
        .expect("the server's status is readable");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .expect("VmRSS is there");
    kib * 1024
}

/// The most resident memory seen while sampling for `window`: the loads under test are already
/// applied when this starts, so this is a measurement over a fixed time, not a wait for them.
fn peak_rss(server: &ServerProcess, window: Duration) -> u64 {
    let started = Instant::now();
    let mut peak = rss(server);
    while started.elapsed() < window {
        std::thread::sleep(Duration::from_millis(50));
        peak = peak.max(rss(server));
    }
    peak
}

/// Prints the figures and checks the growth against `bound`.
fn assert_grew_less_than(case: &str, before: u64, after: u64, bound: u64) {
    let grown = after.saturating_sub(before);
    println!(
        "{case}: RSS {} MiB -> {} MiB (+{} MiB; bound +{} MiB)",
        before / MIB,
        after / MIB,
        grown / MIB,
        bound / MIB
    );
    assert!(
        grown < bound,
        "{case}: the server grew by {} MiB, more than {} MiB",
        grown / MIB,
        bound / MIB
    );
}

fn server_with_integrations() -> (tempfile::TempDir, ServerProcess) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("memory.db");
    add_sender_integrations(&db);
    let server = ServerProcess::start(&db);
    (dir, server)
}

fn host(server: &ServerProcess) -> &str {
    server.address.trim_start_matches("http://")
}

/// A stream client that reads the answer's head up to the comment that says it is subscribed,
/// and never another byte.
fn stream_client_that_never_reads(server: &ServerProcess, last_event_id: Option<i64>) -> TcpStream {
    let mut stream = TcpStream::connect(host(server)).unwrap();
    let resume = last_event_id.map_or(String::new(), |id| format!("Last-Event-ID: {id}\r\n"));
    write!(
        stream,
        "GET /v1/stream HTTP/1.1\r\nHost: x\r\n{resume}Accept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut head = Vec::new();
    while !String::from_utf8_lossy(&head).contains(": connected") {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).expect("the stream opens");
        head.push(byte[0]);
    }
    stream
}

/// Creates `count` alerts whose `Meta` holds `meta_bytes` of text each; `round` keeps the
/// bodies of a second round different, so they update the alerts.
fn ingest_large_alerts(server: &ServerProcess, count: usize, meta_bytes: usize, round: usize) {
    let filler = "m".repeat(meta_bytes);
    for n in 0..count {
        let body = json!({"event_type": "create", "Id": format!("large-{n}"),
                          "Title": format!("Large {n}"), "Meta": {"blob": filler, "round": round}});
        let response = server.post(
            "/hooks/tok",
            &[
                ("content-type", "application/json"),
                ("pagertree-token", TOKEN),
            ],
            body.to_string(),
        );
        assert_eq!(response.status(), 202, "alert {n} is taken");
    }
}

#[test]
fn bodies_that_declare_a_megabyte_and_trickle_in_hold_little_memory() {
    let (_dir, server) = server_with_integrations();
    let before = rss(&server);
    // Before the fix each of these reserved the declared 1 MiB at once: 400 took some 370 MiB.
    let connections: Vec<TcpStream> = (0..400)
        .map(|_| {
            let mut stream = TcpStream::connect(host(&server)).unwrap();
            let head = "POST /v2/enqueue HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                        Content-Length: 1048576\r\n\r\n{\"payload\": \"";
            stream.write_all(head.as_bytes()).unwrap();
            stream
        })
        .collect();
    for mut stream in &connections {
        stream.write_all(&[b'x'; 1000]).unwrap();
    }
    let after = peak_rss(&server, Duration::from_millis(1500));
    assert_grew_less_than("400 bodies declaring 1 MiB", before, after, 64 * MIB);
    assert_eq!(
        server.post("/hooks/nobody", &[], "{}").status(),
        404,
        "the server still answers"
    );
    drop(connections);
}

#[test]
fn stream_clients_that_never_read_hold_their_budget_and_no_more() {
    let (_dir, server) = server_with_integrations();
    // The same load once without clients first: what taking such alerts costs by itself
    // (buffers, parsing, SQLite's cache) is then in the figure before.
    ingest_large_alerts(&server, 20, 900_000, 0);
    let clients: Vec<TcpStream> = (0..8)
        .map(|_| stream_client_that_never_reads(&server, None))
        .collect();
    let before = rss(&server);
    // 20 alerts of 900 KB: before the fix every client held its own copy of every frame
    // (8 clients: some 200 MiB more).
    ingest_large_alerts(&server, 20, 900_000, 1);
    let after = peak_rss(&server, Duration::from_millis(1500));
    assert_grew_less_than(
        "8 stream clients that never read, 20 alerts of 900 KB",
        before,
        after,
        64 * MIB,
    );
    drop(clients);
}

#[test]
fn a_replay_from_the_start_that_nobody_reads_holds_its_budget_and_no_more() {
    let (_dir, server) = server_with_integrations();
    // 30 alerts of 600 KB, each created then updated: 60 events to replay, each with its alert
    // as it is now. Before the fix a replay read 500 events at once and queued them all.
    ingest_large_alerts(&server, 30, 600_000, 0);
    ingest_large_alerts(&server, 30, 600_000, 1);
    let before = peak_rss(&server, Duration::from_millis(300));
    let clients: Vec<TcpStream> = (0..4)
        .map(|_| stream_client_that_never_reads(&server, Some(0)))
        .collect();
    let after = peak_rss(&server, Duration::from_millis(2500));
    assert_grew_less_than(
        "4 replays from Last-Event-ID 0 that nobody reads, 60 events of 600 KB",
        before,
        after,
        64 * MIB,
    );
    drop(clients);
}

#[test]
fn a_body_beyond_the_memory_all_bodies_share_gets_503_with_retry_after() {
    let app = spawn_app_with(AppSettings {
        max_body: 64 * 1024,
        memory: alertgate::config::MemoryLimits {
            bodies: 128 * 1024,
            ..alertgate::config::MemoryLimits::defaults_for(64 * 1024)
        },
        ..AppSettings::default()
    });
    let address = app.address.trim_start_matches("http://").to_string();
    // Two bodies of 64,000 bytes, not finished: their buffers leave less than 8 KiB of the 128.
    let slow: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut stream = TcpStream::connect(&address).unwrap();
            let head = format!(
                "POST /hooks/default HTTP/1.1\r\nHost: x\r\npagertree-token: {TOKEN}\r\n\
                 Content-Length: 65000\r\n\r\n"
            );
            stream.write_all(head.as_bytes()).unwrap();
            stream.write_all(&vec![b' '; 64_000]).unwrap();
            stream
        })
        .collect();
    let enqueue = || app.post_json("/v2/enqueue", &[], "{}");
    wait_until("the two slow bodies hold all the memory", PATIENCE, || {
        enqueue().0 == 503
    });

    let (status, headers, body) = enqueue();
    assert_eq!(status, 503);
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(body["status"], "error", "PagerDuty's shape: {body}");
    assert_eq!(body["message"], "Nothing was applied; retry shortly");
    let response = app.send(&create("waits"));
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(json(response)["error"]["code"], "body_memory_full");
    assert_eq!(
        app.count("SELECT count(*) FROM deliveries"),
        0,
        "like a busy store, it is nobody's fault and leaves no delivery record"
    );
    let metrics = app.get("/metrics").text().unwrap();
    assert!(
        metrics.contains(r#"route="/v2/enqueue",integration="-",status="503"}"#),
        "counted like every refusal"
    );
    let held: u64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix(r#"alertgate_memory_held_bytes{pool="bodies"} "#))
        .and_then(|value| value.parse().ok())
        .expect("the memory bodies hold is a metric");
    assert!(held >= 128_000, "the two slow bodies hold {held} bytes");

    drop(slow);
    wait_until("the memory is given back", PATIENCE, || enqueue().0 == 400);
    assert_eq!(app.send(&create("after")).status(), 202);
}
