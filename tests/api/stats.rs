//! `GET /v1/stats` against a scenario computed by hand.

use serde_json::json;

use crate::helpers::*;

#[test]
fn stats_count_states_and_average_response_times_over_the_window() {
    let clock = TestClock::at("2026-11-22T12:00:00Z".parse().unwrap());
    let app = spawn_app_with(AppSettings {
        clock: Some(clock.clock()),
        ..AppSettings::default()
    });
    let at = |seconds: i64| {
        let target = "2026-11-22T12:00:00Z"
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
            + chrono::Duration::seconds(seconds);
        clock.advance((target - clock.now()).num_seconds());
    };
    let send = |event_type: &str, id: &str| {
        let body = json!({"event_type": event_type, "Id": id, "Title": id});
        assert_eq!(app.send(&body).status(), 202);
    };
    // An old episode, outside a window that starts at 12:00:30.
    at(0);
    send("create", "old");
    at(20);
    send("acknowledge", "old"); // MTTA 20, left out
                                // a: opened 60, acknowledged by a person at 120 (60 s), resolved at 360 (300 s).
                                // b: opened 100, resolved at 400 without an acknowledgement (300 s).
                                // a again: reopened 500, acknowledged 530 (30 s), still acknowledged. c: opened 600.
    at(60);
    send("create", "a");
    at(100);
    send("create", "b");
    at(120);
    assert_eq!(app.api_post("/v1/alerts/default/a/acknowledge", "").0, 200);
    at(360);
    send("resolve", "a");
    at(400);
    send("resolve", "b");
    at(500);
    send("create", "a");
    at(530);
    send("acknowledge", "a");
    at(600);
    send("create", "c");
    let (status, stats) = app.api_get("/v1/stats?since=2026-11-22T12:00:30Z");
    assert_eq!(status, 200);
    assert_eq!(stats["since"], "2026-11-22T12:00:30.000Z");
    assert_eq!(
        stats["by_state"],
        json!({"open": 1, "acknowledged": 2, "resolved": 1})
    );
    assert_eq!(
        stats["by_integration"]["default"],
        json!({"open": 1, "acknowledged": 2, "resolved": 1})
    );
    assert_eq!(
        stats["by_integration"]["other"],
        json!({"open": 0, "acknowledged": 0, "resolved": 0})
    );
    // MTTA over a (60) and a again (30); MTTR over a (300) and b (300).
    assert_eq!(stats["mtta_seconds"].as_f64(), Some(45.0));
    assert_eq!(stats["mttr_seconds"].as_f64(), Some(300.0));
}

#[test]
fn stats_default_to_the_last_7_days_and_refuse_a_bad_since() {
    let app = spawn_app();
    let (status, stats) = app.api_get("/v1/stats");
    assert_eq!(status, 200);
    assert!(stats["mtta_seconds"].is_null() && stats["mttr_seconds"].is_null());
    let since = chrono::DateTime::parse_from_rfc3339(stats["since"].as_str().unwrap()).unwrap();
    let age = chrono::Utc::now().signed_duration_since(since);
    assert!((age.num_hours() - 7 * 24).abs() <= 1, "{age}");
    let (status, body) = app.api_get("/v1/stats?since=last-week");
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_parameter"))
    );
}

/// Every alert the list endpoint walks to, page by page, for `query` (`?…&` form).
fn listed(app: &TestApp, query: &str) -> Vec<serde_json::Value> {
    let mut alerts = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = app.api_get(&format!("/v1/alerts?{query}limit=500{cursor}"));
        assert_eq!(status, 200, "{page}");
        alerts.extend(page["alerts"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return alerts,
        }
    }
}

/// The stats recounted through the API alone: counts from the list endpoint by each of
/// `integrations` and
/// state, MTTA and MTTR from every alert's timeline (each `created` or `reopened` entry opens an
/// episode; its first `acknowledged` and `resolved` entries before the next opening end them).
fn recounted(app: &TestApp, integrations: &[&str]) -> serde_json::Value {
    let mut by_state = serde_json::Map::new();
    let mut by_integration = serde_json::Map::new();
    for state in ["open", "acknowledged", "resolved"] {
        let mut total = 0;
        for integration in integrations {
            let count = listed(app, &format!("integration={integration}&state={state}&")).len();
            total += count;
            by_integration
                .entry(*integration)
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .unwrap()
                .insert(state.into(), json!(count));
        }
        by_state.insert(state.into(), json!(total));
    }
    let millis = |entry: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(entry["at"].as_str().unwrap())
            .unwrap()
            .timestamp_millis()
    };
    let (mut to_acknowledge, mut to_resolve) = (Vec::new(), Vec::new());
    for alert in listed(app, "") {
        let path = format!(
            "/v1/alerts/{}/{}/events?limit=500",
            alert["integration"].as_str().unwrap(),
            encode_segment(alert["id"].as_str().unwrap())
        );
        let (status, timeline) = app.api_get(&path);
        assert_eq!(status, 200);
        let mut opened: Option<i64> = None;
        let (mut acknowledged, mut resolved) = (false, false);
        for entry in timeline["events"].as_array().unwrap() {
            match entry["outcome"].as_str().unwrap() {
                "created" | "reopened" => {
                    opened = Some(millis(entry));
                    (acknowledged, resolved) = (false, false);
                }
                "acknowledged" if !acknowledged => {
                    acknowledged = true;
                    to_acknowledge.push(millis(entry) - opened.unwrap());
                }
                "resolved" if !resolved => {
                    resolved = true;
                    to_resolve.push(millis(entry) - opened.unwrap());
                }
                _ => {}
            }
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let mean = |times: &[i64]| {
        (!times.is_empty()).then(|| times.iter().sum::<i64>() as f64 / times.len() as f64 / 1000.0)
    };
    json!({
        "by_state": by_state,
        "by_integration": by_integration,
        "mtta_seconds": mean(&to_acknowledge),
        "mttr_seconds": mean(&to_resolve),
    })
}

fn assert_stats_match_a_recount(app: &TestApp, integrations: &[&str]) {
    let (status, stats) = app.api_get("/v1/stats");
    assert_eq!(status, 200);
    let expected = recounted(app, integrations);
    assert_eq!(stats["by_state"], expected["by_state"], "{stats}");
    // The integrations the test sent nothing to are listed with zeros.
    let zeros = json!({"open": 0, "acknowledged": 0, "resolved": 0});
    for (name, counts) in stats["by_integration"].as_object().unwrap() {
        let want = expected["by_integration"].get(name).unwrap_or(&zeros);
        assert_eq!(counts, want, "{name}: {stats}");
    }
    for name in integrations {
        assert!(
            stats["by_integration"].get(name).is_some(),
            "{name}: {stats}"
        );
    }
    for mean in ["mtta_seconds", "mttr_seconds"] {
        let (got, want) = (stats[mean].as_f64(), expected[mean].as_f64());
        assert!(
            got.zip(want)
                .map_or(got == want, |(got, want)| (got - want).abs() < 1e-6),
            "{mean}: {got:?} against a recount of {want:?}"
        );
    }
}

/// `/v1/stats` reads counters the writer keeps; after a mix of creates, duplicates,
/// acknowledges and resolves from hooks and by hand, reopenings, refused batches, and the removal
/// of integrations with and without their alerts, it says what the list endpoints and the
/// timelines say.
#[test]
fn stats_equal_a_recount_through_the_api_after_a_mix_of_events() {
    const OPS_TOKEN: &str = "ops-token-for-the-stats-test";
    let clock = TestClock::at("2026-11-22T12:00:00Z".parse().unwrap());
    let app = spawn_app_with(AppSettings {
        clock: Some(clock.clock()),
        admin_token: Some("admin-token-for-the-stats-test"),
        ..AppSettings::default()
    });
    for name in ["ops", "keep"] {
        let body = json!({"name": name, "secret": OPS_TOKEN});
        let (status, answer) = app.admin(reqwest::Method::POST, "/v1/integrations", Some(body));
        assert_eq!(status, 201, "{answer}");
    }
    let send = |integration: &str, body: serde_json::Value| {
        let token = if integration == "default" {
            TOKEN
        } else {
            OPS_TOKEN
        };
        app.post_hook(integration, &[("pagertree-token", token)], body.to_string())
            .status()
            .as_u16()
    };
    // A fixed pseudo-random walk over six Ids in three integrations.
    let actions = ["create", "create", "acknowledge", "resolve", "manual"];
    let mut seed: u64 = 7;
    for round in 0..120 {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let pick = |bits: u32, of: usize| usize::try_from(seed >> bits).unwrap() % of;
        let integration = ["default", "ops", "keep"][pick(60, 3)];
        let id = format!("id-{}", pick(50, 6));
        clock.advance(i64::try_from(pick(40, 90)).unwrap());
        match actions[pick(33, actions.len())] {
            "manual" => {
                let verb = ["acknowledge", "resolve"][pick(20, 2)];
                let path = format!("/v1/alerts/{integration}/{id}/{verb}");
                let status = app.api_post(&path, "").0;
                assert!([200, 404, 409].contains(&status), "{path}: {status}");
            }
            action => {
                let mut batch = vec![json!({"event_type": action, "Id": id, "Title": id})];
                if round % 10 == 0 {
                    // A batch refused whole: nothing of it counts.
                    batch.push(json!({"event_type": "create", "Id": "no-title"}));
                    assert_eq!(send(integration, json!(batch)), 422);
                } else {
                    batch.push(
                        json!({"event_type": "create", "Id": format!("{id}-twin"), "Title": "t"}),
                    );
                    assert_eq!(send(integration, json!(batch)), 202);
                }
            }
        }
        if round % 40 == 39 {
            assert_stats_match_a_recount(&app, &["default", "ops", "keep"]);
        }
    }
    // Removing `keep` keeps its alerts (and counts); purging `ops` takes its alerts with it.
    for path in ["/v1/integrations/keep", "/v1/integrations/ops?purge=true"] {
        assert_eq!(app.admin(reqwest::Method::DELETE, path, None).0, 204);
    }
    assert_stats_match_a_recount(&app, &["default", "keep"]);
    let (_, stats) = app.api_get("/v1/stats");
    assert!(stats["by_integration"].get("ops").is_none(), "{stats}");
    assert!(stats["mtta_seconds"].as_f64().unwrap() > 0.0, "{stats}");
}
