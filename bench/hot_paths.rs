//! Criterion micro-benchmarks of the pure hot paths: the lifecycle step, each auth mode's
//! verification, and the pagertree and alertmanager readers. `cargo bench` runs them;
//! `bench/run` measures the whole server.

// A benchmark's set-up either works or ends the run, and its long `main` is a list of cases.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::hint::black_box;

use alertgate::auth::{self, ActiveSecret, AuthMethod, Preset, Secret};
use alertgate::formats::Format;
use alertgate::lifecycle::{self, Event, Fields};
use alertgate::model::{Action, Source};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const BODY: &[u8] = br#"{"event_type":"create","Id":"disk-db-1","Title":"Disk almost full on db-1","Severity":"warning"}"#;

fn event(action: Action) -> Event {
    Event {
        integration: "bench".into(),
        id: "disk-db-1".into(),
        action,
        fields: Fields {
            title: Some("Disk almost full on db-1".into()),
            ..Fields::default()
        },
        occurred_at: None,
        source: Source::Hook,
        at: Utc.timestamp_opt(1_800_000_000, 0).unwrap(),
        by: None,
        note: None,
    }
}

fn lifecycle(c: &mut Criterion) {
    let create = event(Action::Create);
    let open = lifecycle::apply(None, &create).alert.unwrap();
    c.bench_function("lifecycle/create on nothing", |b| {
        b.iter(|| lifecycle::apply(None, black_box(&create)));
    });
    c.bench_function("lifecycle/create on open (deduplicate)", |b| {
        b.iter(|| lifecycle::apply(Some(black_box(&open)), black_box(&create)));
    });
    let acknowledge = event(Action::Acknowledge);
    c.bench_function("lifecycle/acknowledge open", |b| {
        b.iter(|| lifecycle::apply(Some(black_box(&open)), black_box(&acknowledge)));
    });
}

fn hmac_hex(key: &[u8], message: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    alertgate::ids::hex(&mac.finalize().into_bytes())
}

/// A mode, the headers a sender sends, and the integration's secrets.
type AuthCase<'a> = (&'a str, AuthMethod, Vec<(&'a str, &'a str)>, &'a [Secret]);

fn authentication(c: &mut Criterion) {
    let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
    let secret = "5f0c1e3b2a7d4c9e8f6a1b0c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e";
    let secrets = [Secret::new(secret)];
    let bearer = format!("Bearer {secret}");
    let basic_secrets = [Secret::new("alertgate:s3cret")];
    let basic = format!("Basic {}", STANDARD.encode("alertgate:s3cret"));
    let signature = format!("sha256={}", hmac_hex(secret.as_bytes(), BODY));
    let sw_key = [7u8; 32];
    let sw_secrets = [Secret::new(format!("whsec_{}", STANDARD.encode(sw_key)))];
    let signed = [b"msg_1.1800000000.".as_slice(), BODY].concat();
    let mut sw_mac = Hmac::<Sha256>::new_from_slice(&sw_key).unwrap();
    sw_mac.update(&signed);
    let sw_signature = format!("v1,{}", STANDARD.encode(sw_mac.finalize().into_bytes()));

    let token = AuthMethod::from_parts("token", None, None, None).unwrap();
    let cases: Vec<AuthCase> = vec![
        ("token", token, vec![("pagertree-token", secret)], &secrets),
        (
            "bearer",
            AuthMethod::Bearer,
            vec![("authorization", &bearer)],
            &secrets,
        ),
        (
            "basic",
            AuthMethod::Basic,
            vec![("authorization", &basic)],
            &basic_secrets,
        ),
        (
            "hmac-sha256 (plerion)",
            Preset::Plerion.method(),
            vec![("plerion-signature", &signature)],
            &secrets,
        ),
        (
            "standard-webhooks",
            AuthMethod::StandardWebhooks,
            vec![
                ("webhook-id", "msg_1"),
                ("webhook-timestamp", "1800000000"),
                ("webhook-signature", &sw_signature),
            ],
            &sw_secrets,
        ),
    ];
    for (name, method, headers, secrets) in cases {
        // Held as the server holds them: hashed for token, bearer and basic.
        let secrets: Vec<ActiveSecret> = secrets
            .iter()
            .map(|secret| ActiveSecret::new(&method, secret))
            .collect();
        let secrets = &secrets[..];
        assert!(
            auth::verify(&method, &headers[..], BODY, secrets, now).is_ok(),
            "{name}"
        );
        c.bench_function(&format!("auth/{name}"), |b| {
            b.iter(|| {
                auth::verify(
                    black_box(&method),
                    &headers[..],
                    black_box(BODY),
                    secrets,
                    now,
                )
            });
        });
    }
}

fn formats(c: &mut Criterion) {
    c.bench_function("format/pagertree single event", |b| {
        b.iter(|| {
            let json: serde_json::Value = serde_json::from_slice(black_box(BODY)).unwrap();
            Format::Pagertree.read(&json).unwrap()
        });
    });
    let batch = format!("[{0},{0},{0},{0}]", std::str::from_utf8(BODY).unwrap());
    c.bench_function("format/pagertree batch of 4", |b| {
        b.iter(|| {
            let json: serde_json::Value =
                serde_json::from_slice(black_box(batch.as_bytes())).unwrap();
            Format::Pagertree.read(&json).unwrap()
        });
    });
    let alertmanager = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/alertmanager/firing.json"
    ))
    .unwrap();
    c.bench_function("format/alertmanager group of 2", |b| {
        b.iter(|| {
            let json: serde_json::Value = serde_json::from_slice(black_box(&alertmanager)).unwrap();
            Format::Alertmanager.read(&json).unwrap()
        });
    });
}

criterion_group!(benches, lifecycle, authentication, formats);
criterion_main!(benches);
