//! `GET /v1/stream`: live events, and replay with `Last-Event-ID`, none twice.

use std::io::{BufRead, BufReader};
use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

/// A client of the event stream, reading one event at a time.
struct EventStream {
    reader: BufReader<reqwest::blocking::Response>,
}

impl EventStream {
    fn open(app: &TestApp, query: &str, last_event_id: Option<i64>) -> EventStream {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        let mut request = client.get(format!("{}/v1/stream{query}", app.address));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = request.send().unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        let mut stream = EventStream {
            reader: BufReader::new(response),
        };
        // The stream opens with a comment once the server is subscribed.
        assert_eq!(stream.line(), ": connected");
        stream
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        assert!(
            self.reader.read_line(&mut line).unwrap() > 0,
            "the stream ended"
        );
        line.trim_end_matches('\n').to_string()
    }

    /// The next `alert` event: its id and data.
    fn next(&mut self) -> (i64, serde_json::Value) {
        let (mut id, mut event, mut data) = (None, None, None);
        loop {
            let line = self.line();
            if line.is_empty() {
                if let (Some(id), Some(data)) = (id, data.take()) {
                    assert_eq!(event.as_deref(), Some("alert"));
                    return (id, data);
                }
                continue;
            }
            if let Some(value) = line.strip_prefix("id: ") {
                id = Some(value.parse().unwrap());
            } else if let Some(value) = line.strip_prefix("event: ") {
                event = Some(value.to_string());
            } else if let Some(value) = line.strip_prefix("data: ") {
                data = Some(serde_json::from_str(value).unwrap());
            }
        }
    }
}

#[test]
fn a_live_event_arrives_with_the_alert_outcome_and_action() {
    let app = spawn_app();
    let mut stream = EventStream::open(&app, "", None);
    app.send(&create("live-1"));
    let (id, data) = stream.next();
    assert_eq!(id, app.timeline("default", "live-1")[0].seq);
    assert_eq!(
        (data["id"].as_str(), data["state"].as_str()),
        (Some("live-1"), Some("open"))
    );
    assert_eq!(
        (data["outcome"].as_str(), data["action"].as_str()),
        (Some("created"), Some("create"))
    );
}

#[test]
fn ignored_events_are_not_streamed() {
    let app = spawn_app();
    let mut stream = EventStream::open(&app, "", None);
    app.send(&json!({"event_type": "resolve", "Id": "nobody"}));
    app.send(&create("s-1"));
    app.send(&json!({"event_type": "create", "Id": "s-1", "Title": "again"}));
    app.send(&json!({"event_type": "acknowledge", "Id": "s-1"}));
    app.send(&json!({"event_type": "acknowledge", "Id": "s-1"}));
    app.send(&create("s-2"));
    let outcomes: Vec<String> = (0..4)
        .map(|_| stream.next().1["outcome"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        outcomes,
        ["created", "deduplicated", "acknowledged", "created"]
    );
}

#[test]
fn a_reconnect_with_last_event_id_gets_exactly_the_missed_events() {
    let app = spawn_app();
    let mut first = EventStream::open(&app, "", None);
    for n in 0..3 {
        app.send(&create(&format!("r-{n}")));
    }
    let seen: Vec<i64> = (0..3).map(|_| first.next().0).collect();
    drop(first);
    // Missed while disconnected: two applied events and one ignored.
    app.send(&create("r-3"));
    app.send(&json!({"event_type": "resolve", "Id": "r-0"}));
    app.send(&json!({"event_type": "resolve", "Id": "r-0"}));

    let mut second = EventStream::open(&app, "", Some(seen[2]));
    app.send(&create("r-4"));
    app.send(&create("r-5"));
    let received: Vec<(i64, String, String)> = (0..4)
        .map(|_| {
            let (id, data) = second.next();
            (
                id,
                data["id"].as_str().unwrap().to_string(),
                data["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let names: Vec<(&str, &str)> = received
        .iter()
        .map(|(_, id, outcome)| (id.as_str(), outcome.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("r-3", "created"),
            ("r-0", "resolved"),
            ("r-4", "created"),
            ("r-5", "created")
        ]
    );
    assert!(
        received.windows(2).all(|pair| pair[0].0 < pair[1].0),
        "in seq order, none twice"
    );
    assert!(received[0].0 > seen[2]);
}

#[test]
fn the_stream_can_be_filtered_by_integration_and_state() {
    let app = spawn_app();
    let mut by_integration = EventStream::open(&app, "?integration=other", None);
    let mut by_state = EventStream::open(&app, "?state=resolved", None);
    app.send(&create("f-1"));
    app.post_hook(
        "other",
        &[("pagertree-token", TOKEN)],
        create("f-2").to_string(),
    );
    app.send(&json!({"event_type": "resolve", "Id": "f-1"}));
    assert_eq!(by_integration.next().1["id"], "f-2");
    let (_, resolved) = by_state.next();
    assert_eq!(
        (resolved["id"].as_str(), resolved["state"].as_str()),
        (Some("f-1"), Some("resolved"))
    );
}

#[test]
fn a_bad_last_event_id_or_filter_is_400() {
    let app = spawn_app();
    let response = reqwest::blocking::Client::new()
        .get(format!("{}/v1/stream", app.address))
        .header("Last-Event-ID", "yesterday")
        .send()
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(app.api_get("/v1/stream?state=closed").0, 400);
}

#[test]
fn a_client_that_stops_reading_is_dropped_and_ingest_goes_on() {
    let app = spawn_app();
    let stalled = EventStream::open(&app, "", None);
    let filler = "x".repeat(4000);
    // 10,000 events of about 4 KB each, in batches that stay under the 1 MiB body limit.
    for batch in 0..50 {
        let events: Vec<serde_json::Value> = (0..200)
            .map(|n| json!({"event_type": "create", "Id": format!("flood-{batch}-{n}"), "Title": "flood", "Description": filler}))
            .collect();
        assert_eq!(
            app.send(&serde_json::Value::Array(events)).status(),
            202,
            "ingest never waits for a reader"
        );
    }
    // Now read what was buffered: the server closed the stream well before all 10,000 events.
    let mut reader = stalled.reader;
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut reader, &mut rest).expect("the stream ends instead of hanging");
    let frames = String::from_utf8_lossy(&rest)
        .matches("event: alert")
        .count();
    assert!(
        frames < 10_000,
        "the slow client was dropped after {frames} events"
    );
    let metrics = app.get("/metrics").text().unwrap();
    assert!(
        metrics.contains("alertgate_stream_clients_dropped_total 1\n"),
        "the drop is counted"
    );
}

/// Sends `batches` of 200 creates of about 4 KB each, named by `prefix`.
fn flood(app: &TestApp, prefix: &str, batches: usize) {
    let filler = "x".repeat(4000);
    for batch in 0..batches {
        let events: Vec<serde_json::Value> = (0..200)
            .map(|n| json!({"event_type": "create", "Id": format!("{prefix}-{batch}-{n}"), "Title": "flood", "Description": filler}))
            .collect();
        assert_eq!(app.send(&serde_json::Value::Array(events)).status(), 202);
    }
}

#[test]
fn a_dropped_client_resumes_with_last_event_id_and_misses_nothing() {
    let app = spawn_app();
    let stalled = EventStream::open(&app, "", None);
    flood(&app, "first", 50);
    // What the dropped client got: whole frames only, up to where its stream ended.
    let mut rest = Vec::new();
    let mut reader = stalled.reader;
    std::io::Read::read_to_end(&mut reader, &mut rest).expect("the stream ends");
    let text = String::from_utf8_lossy(&rest);
    let seen: Vec<i64> = text
        .split("\n\n")
        .filter(|frame| frame.contains("\ndata: {"))
        .filter_map(|frame| {
            let frame = frame.trim_start_matches('\n');
            frame.strip_prefix("id: ")?.lines().next()?.parse().ok()
        })
        .collect();
    assert!(
        !seen.is_empty() && seen.len() < 10_000,
        "it was dropped after {} events",
        seen.len()
    );
    let last = *seen.last().unwrap();

    // Resumed, it gets the rest from the log (far more than its own budget, paced by its
    // reading), then what arrives meanwhile, none twice and none lost.
    let mut resumed = EventStream::open(&app, "", Some(last));
    flood(&app, "second", 1);
    let applied =
        app.column("SELECT seq FROM alert_events WHERE outcome != 'ignored' ORDER BY seq");
    assert_eq!(applied.len(), 10_200);
    let (before, expected) = applied.split_at(seen.len());
    assert_eq!(
        seen, before,
        "until it was dropped, it missed nothing either"
    );
    let received: Vec<i64> = (0..expected.len()).map(|_| resumed.next().0).collect();
    assert_eq!(received, expected);
}
