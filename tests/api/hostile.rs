//! Hostile input over HTTP: each case gets a 4xx (never a 5xx, never a hang), changes nothing,
//! and the server keeps answering /healthz throughout.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::*;

/// Sends raw bytes on a fresh connection and returns the status of the answer, if any came.
fn raw_status(app: &TestApp, request: &[u8], trickle: Option<Duration>) -> Option<u16> {
    let address = app.address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    match trickle {
        None => stream.write_all(request).ok()?,
        Some(pause) => {
            for byte in request {
                if stream.write_all(&[*byte]).is_err() {
                    break;
                }
                // The slowness is the attack under test, not a wait for something to happen.
                std::thread::sleep(pause);
            }
        }
    }
    let mut answer = [0u8; 64];
    let read = stream.read(&mut answer).ok()?;
    let text = String::from_utf8_lossy(&answer[..read]);
    text.split_whitespace().nth(1)?.parse().ok()
}

fn hook_request(extra_headers: &str, declared_length: usize, body: &str) -> Vec<u8> {
    format!(
        "POST /hooks/default HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         pagertree-token: {TOKEN}\r\n{extra_headers}Content-Length: {declared_length}\r\n\r\n{body}"
    )
    .into_bytes()
}

fn assert_unchanged_and_healthy(app: &TestApp, case: &str) {
    assert_eq!(
        app.count("SELECT count(*) FROM alerts"),
        0,
        "{case}: nothing applied"
    );
    assert_eq!(app.get("/healthz").status(), 200, "{case}: still healthy");
}

#[test]
fn hostile_bodies_get_4xx_and_change_nothing() {
    let app = spawn_app();
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let huge_string =
        json!({"event_type": "create", "Id": "x", "Title": "t".repeat(1024 * 1024)}).to_string();
    let tiny = json!({"event_type": "resolve", "Id": "a"}).to_string();
    let many = format!("[{}]", vec![tiny.as_str(); 100_000].join(","));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "random bytes",
            (0..2048u32)
                .map(|n| (n.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
        ),
        (
            "invalid UTF-8",
            b"{\"event_type\": \"create\", \"Id\": \"\xff\xfe\", \"Title\": \"x\"}".to_vec(),
        ),
        ("JSON nested 10,000 deep", deep.into_bytes()),
        ("a 1 MiB string", huge_string.into_bytes()),
        ("a batch of 100,000 tiny events", many.into_bytes()),
        (
            "a huge array of numbers",
            format!("[{}]", vec!["1"; 200_000].join(",")).into_bytes(),
        ),
        (
            "numbers out of range",
            br#"{"event_type": "create", "Id": 1e999, "Title": "x"}"#.to_vec(),
        ),
        (
            "duplicate keys",
            br#"{"event_type": "create", "Id": "a", "id": "b", "Title": "x"}"#.to_vec(),
        ),
        (
            "an Id of 256 bytes",
            json!({"event_type": "create", "Id": "i".repeat(256), "Title": "x"})
                .to_string()
                .into_bytes(),
        ),
        (
            "a control character in the Id",
            json!({"event_type": "create", "Id": "a\u{0}b", "Title": "x"})
                .to_string()
                .into_bytes(),
        ),
        (
            "a control character in the title",
            json!({"event_type": "create", "Id": "a", "Title": "x\u{1b}[31m"})
                .to_string()
                .into_bytes(),
        ),
        (
            "a control character in a tag",
            json!({"event_type": "create", "Id": "a", "Title": "x", "Tags": ["\u{7}"]})
                .to_string()
                .into_bytes(),
        ),
        (
            "a control character in the description",
            json!({"event_type": "create", "Id": "a", "Title": "x", "Description": "\u{8}"})
                .to_string()
                .into_bytes(),
        ),
    ];
    for (case, body) in cases {
        let status = app
            .post_hook("default", &[("pagertree-token", TOKEN)], body)
            .status()
            .as_u16();
        eprintln!("hostile body, {case}: {status}");
        assert!((400..500).contains(&status), "{case}: {status}");
        assert_unchanged_and_healthy(&app, case);
    }
    let fine = json!({"event_type": "create", "Id": "ok", "Title": "x", "Description": "line one\n\tline two"});
    assert_eq!(
        app.send(&fine).status(),
        202,
        "tabs and line breaks are text"
    );
}

/// SPEC §3 and §8 fix these statuses, on `/v2/enqueue` too (it keeps 408, 413 and 431): a header
/// section too large is `431`, a body that does not arrive within the request timeout `408`.
#[test]
fn hostile_connections_get_their_exact_4xx_and_never_hang() {
    let app = spawn_app_with(AppSettings {
        request_timeout: Duration::from_secs(1),
        ..AppSettings::default()
    });
    let body = create("raw").to_string();
    let long_header = format!("X-Filler: {}\r\n", "a".repeat(64 * 1024));
    let many_headers: String = (0..1000).map(|n| format!("X-Header-{n}: v\r\n")).collect();
    let enqueue = |extra_headers: &str, declared_length: usize| {
        format!(
            "POST /v2/enqueue HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             {extra_headers}Content-Length: {declared_length}\r\n\r\n{{}}"
        )
        .into_bytes()
    };
    let cases: Vec<(&str, Vec<u8>, Option<Duration>, u16)> = vec![
        (
            "Content-Length longer than the body",
            hook_request("", body.len() + 50, &body),
            None,
            408,
        ),
        (
            "Content-Length shorter than the body",
            hook_request("", body.len() - 5, &body),
            None,
            400,
        ),
        (
            "a header of 64 KiB",
            hook_request(&long_header, body.len(), &body),
            None,
            431,
        ),
        (
            "1,000 headers",
            hook_request(&many_headers, body.len(), &body),
            None,
            431,
        ),
        (
            "a request trickled a byte at a time",
            hook_request("", body.len(), &body),
            Some(Duration::from_millis(300)),
            408,
        ),
        (
            "an enqueue whose body never comes",
            enqueue("", 50),
            None,
            408,
        ),
        (
            "an enqueue with a header of 64 KiB",
            enqueue(&long_header, 2),
            None,
            431,
        ),
        (
            "an enqueue declaring 2 MiB",
            enqueue("", 2 * 1024 * 1024),
            None,
            413,
        ),
    ];
    for (case, request, trickle, expected) in cases {
        let started = Instant::now();
        let status = raw_status(&app, &request, trickle);
        assert!(
            started.elapsed() < Duration::from_secs(12),
            "{case}: it did not hang"
        );
        let status = status.unwrap_or_else(|| panic!("{case}: no answer"));
        eprintln!("hostile connection, {case}: {status}");
        assert_eq!(status, expected, "{case}");
        assert_unchanged_and_healthy(&app, case);
    }
}

#[test]
fn a_chunked_body_over_the_limit_is_refused() {
    let app = spawn_app();
    let chunk = "a".repeat(64 * 1024);
    let mut request = format!(
        "POST /hooks/default HTTP/1.1\r\nHost: x\r\npagertree-token: {TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    for _ in 0..20 {
        request.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    request.push_str("0\r\n\r\n");
    assert_eq!(raw_status(&app, request.as_bytes(), None), Some(413));
    assert_unchanged_and_healthy(&app, "chunked over the limit");
}

/// The resident memory of process `pid`, in KiB.
#[cfg(target_os = "linux")]
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// How many connections wait in the accept queue of the local server listening on `port`: for a
/// listening socket, the kernel's TCP table shows that queue as its receive queue.
#[cfg(target_os = "linux")]
fn waiting_to_be_accepted(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let local = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|fields| fields[1].ends_with(&local) && fields[3] == "0A")
        .and_then(|fields| fields[4].split_once(':'))
        .and_then(|(_, receive_queue)| usize::from_str_radix(receive_queue, 16).ok())
        .expect("the server's listening socket in /proc/net/tcp")
}

/// A thousand clients that connect and stall (half mid-headers, slow-loris style, half silent)
/// cost bounded memory, never stop the server answering others, and are cut off by the request
/// timeout.
#[cfg(target_os = "linux")]
#[test]
fn a_thousand_stalled_clients_cost_bounded_memory_and_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("alertgate.db");
    run_cli(&db, &["integration", "add", "held", "--secret", TOKEN]);
    let mut command = alertgate(&db);
    command.env("ALERTGATE_REQUEST_TIMEOUT", "2");
    let server = ServerProcess::start_with(command);
    let pid = server.child.id();
    let address = server.address.trim_start_matches("http://").to_string();
    let client = reqwest::blocking::Client::new();
    let health = || {
        client
            .get(format!("{}/healthz", server.address))
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(health(), 200);
    let before = rss_kib(pid);

    let mut held: Vec<TcpStream> = (0..1000)
        .map(|n| {
            let mut stream = TcpStream::connect(&address).unwrap();
            if n % 2 == 0 {
                stream
                    .write_all(b"POST /hooks/held HTTP/1.1\r\nHost: x\r\nContent-Ty")
                    .unwrap();
            }
            stream
        })
        .collect();
    // While they hang on, everyone else is served: once the server has taken every one of them
    // off its backlog, so that it is holding them (or has already cut the first ones off).
    let port = address.rsplit_once(':').unwrap().1.parse().unwrap();
    wait_until(
        "the server has accepted every stalled client",
        PATIENCE,
        || waiting_to_be_accepted(port) == 0,
    );
    let response = client
        .post(format!("{}/hooks/held", server.address))
        .header("pagertree-token", TOKEN)
        .body(create("while-held").to_string())
        .send()
        .unwrap();
    assert_eq!(response.status(), 202);
    let during = rss_kib(pid);
    assert!(
        during < before + 64 * 1024,
        "RSS went from {before} KiB to {during} KiB with 1,000 stalled clients"
    );

    // The request timeout (2 s) cuts every one of them off: 408 or a closed connection.
    let deadline = Instant::now() + Duration::from_secs(15);
    for stream in &mut held {
        let left = deadline.saturating_duration_since(Instant::now());
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        let mut answer = [0u8; 64];
        match stream.read(&mut answer) {
            Ok(0) => {}
            Ok(read) => {
                let text = String::from_utf8_lossy(&answer[..read]);
                assert!(text.starts_with("HTTP/1.1 408"), "{text}");
            }
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(error) => panic!("a stalled client was not cut off: {error}"),
        }
    }
    eprintln!("RSS: {before} KiB idle, {during} KiB with 1,000 stalled clients");
    assert_eq!(health(), 200);
}
