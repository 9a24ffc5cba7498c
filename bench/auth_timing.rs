//! Does verification time depend on how much of a credential matched? For each auth mode this
//! times a near miss (everything right but the last character) against a far miss (the first
//! character wrong), interleaved round by round so drift hits both alike, and prints the two
//! distributions' medians and a Welch t statistic over the round means. |t| well under 3 means no
//! difference this run could see. Not a CI gate: run it with
//!
//! ```sh
//! cargo bench --bench auth_timing
//! ```

// Statistics over timings are floats, and `main` is one table of cases.
#![allow(clippy::cast_precision_loss, clippy::too_many_lines)]

use std::hint::black_box;
use std::time::Instant;

use alertgate::auth::{self, ActiveSecret, AuthMethod, Encoding, Secret};
use chrono::{TimeZone, Utc};

/// Rounds per mode; each round times `CALLS` verifications of each candidate.
const ROUNDS: usize = 400;
const CALLS: usize = 200;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const BODY: &[u8] = br#"{"event_type":"create","Id":"disk-db-1","Title":"Disk almost full"}"#;

fn main() {
    let secrets = [Secret::new(SECRET)];
    let now = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
    let hmac = AuthMethod::HmacSha256 {
        header: "x-signature".into(),
        prefix: "sha256=".into(),
        encoding: Encoding::Hex,
    };
    let signature = auth::sign(&hmac, &secrets[0], BODY, now, "msg")
        .expect("hmac signs")
        .remove(0)
        .1;
    let webhooks_headers = auth::sign(
        &AuthMethod::StandardWebhooks,
        &secrets[0],
        BODY,
        now,
        "msg_1",
    )
    .expect("standard webhooks signs");
    let webhooks_signature = webhooks_headers
        .iter()
        .find(|(name, _)| name == "webhook-signature")
        .expect("a signature header")
        .1
        .clone();

    // Each mode with its header, a near miss and a far miss. Signatures are changed in their
    // bytes (last byte / first byte), so both misses decode and reach the comparison.
    let secret_near = miss_at(SECRET, SECRET.len() - 1);
    let secret_far = miss_at(SECRET, 0);
    let hex = signature.strip_prefix("sha256=").expect("the prefix");
    let webhooks_base64 = webhooks_signature
        .strip_prefix("v1,")
        .expect("a v1 signature");
    let cases: Vec<(&str, AuthMethod, &str, String, String)> = vec![
        (
            "token",
            AuthMethod::Token {
                header: "x-token".into(),
            },
            "x-token",
            secret_near.clone(),
            secret_far.clone(),
        ),
        (
            "bearer",
            AuthMethod::Bearer,
            "authorization",
            format!("Bearer {secret_near}"),
            format!("Bearer {secret_far}"),
        ),
        (
            "hmac-sha256",
            hmac,
            "x-signature",
            format!("sha256={}", miss_at(hex, hex.len() - 1)),
            format!("sha256={}", miss_at(hex, 0)),
        ),
        (
            "standard-webhooks",
            AuthMethod::StandardWebhooks,
            "webhook-signature",
            format!("v1,{}", flip_byte(webhooks_base64, Position::Last)),
            format!("v1,{}", flip_byte(webhooks_base64, Position::First)),
        ),
    ];
    println!(
        "{ROUNDS} rounds × {CALLS} calls per candidate; medians of the per-call mean per round"
    );
    for (name, method, header, near, far) in cases {
        let headers_for = |value: &str| -> Vec<(String, String)> {
            let mut headers: Vec<(String, String)> = webhooks_headers
                .iter()
                .filter(|(name, _)| name != "webhook-signature")
                .cloned()
                .collect();
            headers.push((header.to_string(), value.to_string()));
            headers
        };
        // Each mode holds the secret as the server does: hashed for token and bearer.
        let active = [ActiveSecret::new(&method, &secrets[0])];
        let near_headers = headers_for(&near);
        let far_headers = headers_for(&far);
        let time = |headers: &[(String, String)]| {
            let pairs: Vec<(&str, &str)> = headers
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str()))
                .collect();
            let started = Instant::now();
            for _ in 0..CALLS {
                let verdict = auth::verify(&method, &pairs[..], BODY, &active, now);
                assert!(black_box(verdict).is_err());
            }
            started.elapsed().as_nanos() as f64 / CALLS as f64
        };
        // Warm up, then interleave, swapping the order each round.
        time(&near_headers);
        time(&far_headers);
        let (mut near_times, mut far_times) = (Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            if round % 2 == 0 {
                near_times.push(time(&near_headers));
                far_times.push(time(&far_headers));
            } else {
                far_times.push(time(&far_headers));
                near_times.push(time(&near_headers));
            }
        }
        let (near_median, far_median) = (median(&mut near_times), median(&mut far_times));
        println!(
            "{name:>18}: near miss {near_median:8.1} ns, far miss {far_median:8.1} ns, difference {:+.2}%, Welch t = {:+.2}",
            (near_median - far_median) / far_median * 100.0,
            welch_t(&near_times, &far_times),
        );
    }
}

#[derive(Clone, Copy)]
enum Position {
    First,
    Last,
}

/// A base64 signature with its first or last byte changed, encoded again.
fn flip_byte(encoded: &str, position: Position) -> String {
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    let mut bytes = engine.decode(encoded).expect("base64");
    let index = match position {
        Position::First => 0,
        Position::Last => bytes.len() - 1,
    };
    bytes[index] ^= 0x01;
    engine.encode(bytes)
}

/// `value` with the character at `index` changed to another of the same alphabet.
fn miss_at(value: &str, index: usize) -> String {
    let mut bytes = value.as_bytes().to_vec();
    bytes[index] = match bytes[index] {
        b'0' => b'1',
        b'a' => b'b',
        b'A' => b'B',
        _ => b'0',
    };
    String::from_utf8(bytes).expect("ASCII")
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn welch_t(a: &[f64], b: &[f64]) -> f64 {
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let variance =
        |v: &[f64], m: f64| v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() as f64 - 1.0);
    let (ma, mb) = (mean(a), mean(b));
    let (va, vb) = (variance(a, ma), variance(b, mb));
    (ma - mb) / (va / a.len() as f64 + vb / b.len() as f64).sqrt()
}
