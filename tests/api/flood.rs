//! A flood of rejected requests (SPEC §2): anyone who can guess an integration's name can send
//! it requests that fail authentication. Beyond a per-integration rate they are counted, not
//! stored, so the log's size stays bounded and real alerts keep going through.

use std::time::Instant;

use reqwest::blocking::Client;
use reqwest::Method;

use crate::helpers::*;

const ADMIN: &str = "admin-token-for-the-flood-test";
const RATE: u32 = 5;
const SENDERS: usize = 4;
const PER_SENDER: usize = 800;

#[test]
fn a_flood_of_rejections_is_counted_not_stored_and_real_alerts_go_through() {
    let app = spawn_app_with(AppSettings {
        admin_token: Some(ADMIN),
        recorded_rejections: RATE,
        ..AppSettings::default()
    });
    let size_before = database_bytes(&app);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for sender in 0..SENDERS {
            let app = &app;
            scope.spawn(move || flood(app, sender));
        }
    });
    let seconds = started.elapsed().as_secs_f64();
    let flood = i64::try_from(SENDERS * PER_SENDER).unwrap();

    // Every rejection counts, recorded or not, within the tally's second.
    let mut counters = serde_json::Value::Null;
    wait_until("every rejection is counted", PATIENCE, || {
        counters =
            app.admin(Method::GET, "/v1/integrations/default", None).1["deliveries_24h"].clone();
        counters["rejected"] == flood
    });
    let recorded = app.count("SELECT count(*) FROM deliveries WHERE status = 401");
    let bound = f64::from(RATE) * (seconds + 2.0);
    println!(
        "{flood} rejections in {seconds:.2} s: {recorded} recorded (bound {bound:.0}), \
         database {size_before} -> {} bytes",
        database_bytes(&app)
    );
    assert!(
        f64::from(i32::try_from(recorded).unwrap()) <= bound,
        "{recorded} rows recorded"
    );
    assert!(recorded >= i64::from(RATE), "the burst is recorded in full");
    assert_eq!(counters["rejected_unrecorded"], flood - recorded);
    assert_eq!(
        counters["accepted"],
        i64::try_from(SENDERS * PER_SENDER / 100).unwrap()
    );
    assert!(counters["last_rejected_at"].is_string());
    let (_, listed) = app.admin(
        Method::GET,
        "/v1/integrations/default/deliveries?status=401&limit=500",
        None,
    );
    assert_eq!(
        listed["deliveries"].as_array().unwrap().len(),
        usize::try_from(recorded).unwrap(),
        "the log lists what it recorded"
    );
    assert_eq!(app.get("/healthz").status(), 200);
}

/// Sends `PER_SENDER` requests with a wrong token and a fresh, long `Idempotency-Key`, and a real
/// alert every hundredth, which must be accepted at once.
fn flood(app: &TestApp, sender: usize) {
    let client = Client::new();
    for n in 0..PER_SENDER {
        if n % 100 == 0 {
            let alert = create(&format!("real-{sender}-{n}")).to_string();
            assert_eq!(
                app.post_hook("default", &[("pagertree-token", TOKEN)], alert)
                    .status(),
                202
            );
        }
        let key = format!("{sender}-{n}-{}", "k".repeat(240));
        let status = client
            .post(format!("{}/hooks/default", app.address))
            .header("pagertree-token", "not-the-token")
            .header("idempotency-key", key)
            .header("content-type", "application/json")
            .body(create("x").to_string())
            .send()
            .unwrap()
            .status();
        assert_eq!(status, 401);
    }
}

/// The bytes of the database's pages that hold data (all but the free list), committed ones
/// whether still in the write-ahead log or not. On PostgreSQL: its tables' and indexes' pages.
fn database_bytes(app: &TestApp) -> u64 {
    if app.on_postgres() {
        let bytes = app.count(
            "SELECT sum(pg_relation_size(c.oid))::bigint FROM pg_class c \
             WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'i')",
        );
        return u64::try_from(bytes).unwrap();
    }
    let pages = app.count(
        "SELECT (SELECT page_count FROM pragma_page_count()) \
              - (SELECT freelist_count FROM pragma_freelist_count())",
    );
    let page_size = app.count("SELECT page_size FROM pragma_page_size()");
    u64::try_from(pages * page_size).unwrap()
}
