//! Failures are answers, not hangs (SPEC §11): with the database out of reach, `/healthz` and
//! hooks answer `503` with `Retry-After` within the request timeout and store nothing; when it
//! is back, the node recovers without a restart.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::db::TestDb;
use crate::nodes::{add_integration, start_node_at, INTEGRATION};

pub const TESTS: &[crate::Test] = &[
    (
        "a_database_out_of_reach_is_503_and_back_is_recovered",
        database_down,
    ),
    (
        "a_database_that_stops_answering_is_503_in_time_and_back_is_recovered",
        database_silent,
    ),
];

/// A TCP proxy to the database that a test can cut (every connection reset, new ones refused),
/// freeze (nothing passes either way, nothing is closed: a partition) and restore.
struct CutProxy {
    port: u16,
    cut: Arc<AtomicBool>,
    frozen: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl CutProxy {
    fn to(upstream: u16) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let frozen = Arc::new(AtomicBool::new(false));
        let open = Arc::new(Mutex::new(Vec::new()));
        let (accepting, tracked, freezing) = (cut.clone(), open.clone(), frozen.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if accepting.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let mut tracked = tracked.lock().unwrap();
                tracked.push(client.try_clone().unwrap());
                tracked.push(server.try_clone().unwrap());
                pipe(
                    client.try_clone().unwrap(),
                    server.try_clone().unwrap(),
                    &freezing,
                );
                pipe(server, client, &freezing);
            }
        });
        CutProxy {
            port,
            cut,
            frozen,
            open,
        }
    }

    fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
        self.frozen.store(false, Ordering::SeqCst);
    }
}

/// Copies `from` to `to` until either side closes, holding what comes while `frozen`.
fn pipe(mut from: TcpStream, mut to: TcpStream, frozen: &Arc<AtomicBool>) {
    let frozen = frozen.clone();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 16 * 1024];
        while let Ok(read) = from.read(&mut buffer) {
            while frozen.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(10));
            }
            if read == 0 || to.write_all(&buffer[..read]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
}

/// A node that reaches `db` through a proxy the test can cut.
fn node_through_proxy(db: &TestDb) -> (CutProxy, String) {
    let port: u16 = db
        .url_text()
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next())
        .unwrap()
        .parse()
        .unwrap();
    let proxy = CutProxy::to(port);
    let url = db
        .url_text()
        .replace(&format!(":{port}/"), &format!(":{}/", proxy.port));
    let node = start_node_at(&url, &["--request-timeout", "3"]);
    (proxy, node)
}

fn database_down() {
    let db = TestDb::fresh();
    add_integration(&db);
    let (proxy, node) = node_through_proxy(&db);
    let client = reqwest::blocking::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let health = || client.get(format!("{node}/healthz")).send().unwrap();
    let hook = |id: &str| {
        client
            .post(format!("{node}/hooks/{INTEGRATION}"))
            .json(&json!({"event_type": "create", "Id": id, "Title": "t"}))
            .send()
            .unwrap()
    };
    assert_eq!(health().status(), 200);
    assert_eq!(hook("before").status(), 202);

    proxy.cut();
    let cut = Instant::now();
    while health().status() != 503 {
        assert!(cut.elapsed() < Duration::from_secs(2), "/healthz still 200");
        std::thread::sleep(Duration::from_millis(50));
    }
    for round in 0..3 {
        let sent = Instant::now();
        let answer = hook(&format!("while-down-{round}"));
        assert!(
            sent.elapsed() < Duration::from_secs(3),
            "answered after {:?}",
            sent.elapsed()
        );
        assert_eq!(answer.status(), 503, "round {round}");
        assert!(answer.headers().contains_key("retry-after"));
        let code = answer.json::<serde_json::Value>().unwrap()["error"]["code"].clone();
        assert!(code == "database_unavailable" || code == "busy", "{code}");
    }

    proxy.restore();
    let restored = Instant::now();
    while health().status() != 200 || hook("after").status() != 202 {
        assert!(
            restored.elapsed() < Duration::from_secs(5),
            "no recovery within 5 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let stored: Vec<String> = db
        .client()
        .query("SELECT id FROM alerts ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(
        stored,
        ["after", "before"],
        "nothing answered 503 was stored"
    );
}

/// The database stops answering without closing anything (a partition): `/healthz` says so
/// within two seconds, a hook is answered `503` within the request timeout (3 s) instead of
/// waiting on the silent connection, and once traffic flows again the node recovers.
fn database_silent() {
    let db = TestDb::fresh();
    add_integration(&db);
    let (proxy, node) = node_through_proxy(&db);
    let client = reqwest::blocking::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let hook = |id: &str| {
        client
            .post(format!("{node}/hooks/{INTEGRATION}"))
            .json(&json!({"event_type": "create", "Id": id, "Title": "t"}))
            .send()
            .unwrap()
    };
    assert_eq!(hook("before").status(), 202);
    proxy.freeze();
    let frozen = Instant::now();
    let health = client.get(format!("{node}/healthz")).send().unwrap();
    assert_eq!(health.status(), 503);
    assert!(
        frozen.elapsed() < Duration::from_secs(2),
        "/healthz took {:?}",
        frozen.elapsed()
    );
    // Requests keep coming while it is silent: each, the ones queued behind a group waiting
    // on the server included, is answered 503 within the request timeout (3 s).
    std::thread::scope(|scope| {
        for sender in 0..4u64 {
            let hook = &hook;
            scope.spawn(move || {
                std::thread::sleep(Duration::from_millis(400 * sender));
                let sent = Instant::now();
                let answer = hook(&format!("while-silent-{sender}"));
                assert_eq!(answer.status(), 503);
                assert!(answer.headers().contains_key("retry-after"));
                assert!(
                    sent.elapsed() < Duration::from_millis(3500),
                    "sender {sender} was answered after {:?}",
                    sent.elapsed()
                );
            });
        }
    });
    proxy.restore();
    let restored = Instant::now();
    while hook("after").status() != 202 {
        assert!(
            restored.elapsed() < Duration::from_secs(5),
            "no recovery within 5 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let silent: i64 = db
        .client()
        .query_one(
            "SELECT count(*) FROM alerts WHERE id LIKE 'while-silent%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(silent, 0, "what was answered 503 was not stored");
}
