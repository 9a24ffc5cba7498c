//! Which secrets a credential is checked against: every active one, every time, whichever
//! matches (so the time a check takes says nothing about which secret a sender holds), a secret
//! active twice included; and PagerDuty's routing keys, read from the body.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;

use super::*;

const BODY: &[u8] = br#"{"event_type":"create","Id":"1","Title":"t"}"#;

fn now() -> DateTime<Utc> {
    Utc.timestamp_opt(1_614_265_330, 0).unwrap()
}

fn token() -> AuthMethod {
    AuthMethod::from_parts("token", None, None, None).unwrap()
}

fn hmac() -> AuthMethod {
    AuthMethod::from_parts("hmac-sha256", Some("X-Signature"), None, Some("hex")).unwrap()
}

fn modes() -> [AuthMethod; 5] {
    [
        token(),
        AuthMethod::Bearer,
        AuthMethod::Basic,
        hmac(),
        AuthMethod::StandardWebhooks,
    ]
}

fn check(
    method: &AuthMethod,
    sent: &[(String, String)],
    active: &[ActiveSecret],
) -> Result<(), AuthError> {
    let headers: Vec<(&str, &str)> = sent
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    verify(method, headers.as_slice(), BODY, active, now())
}

/// `secrets` as an integration authenticating with `method` holds them.
fn held_as(method: &AuthMethod, secrets: &[Secret]) -> Vec<ActiveSecret> {
    secrets
        .iter()
        .map(|secret| ActiveSecret::new(method, secret))
        .collect()
}

/// The credential headers a sender holding `secret` adds to `BODY`.
fn credential(method: &AuthMethod, secret: &Secret) -> Vec<(String, String)> {
    let text = secret.expose();
    match method {
        AuthMethod::Token { header } => vec![(header.clone(), text.into())],
        AuthMethod::Bearer => vec![("authorization".into(), format!("Bearer {text}"))],
        AuthMethod::Basic => vec![(
            "authorization".into(),
            format!("Basic {}", secret::encode_base64(text.as_bytes())),
        )],
        _ => sign(method, secret, BODY, now(), "msg_1").expect("a signing mode"),
    }
}

/// Every active secret is tried whichever one matches, or none: the work of a check, and so its
/// time, says nothing about which secret a sender holds nor how many come before it.
#[test]
fn every_active_secret_is_tried_whichever_matches() {
    for method in modes() {
        let active: Vec<Secret> = (0..3).map(|_| generate_secret(&method)).collect();
        let stored = held_as(&method, &active);
        let outsider = generate_secret(&method);
        let senders = [
            (&active[0], Ok(())),
            (&active[1], Ok(())),
            (&active[2], Ok(())),
            (&outsider, Err(AuthError::Mismatch)),
        ];
        for (held, expected) in senders {
            let sent = credential(&method, held);
            let (result, read) = secret::exposures::during(|| check(&method, &sent, &stored));
            assert_eq!(result, expected, "{method:?}");
            assert_eq!(
                read,
                active.len(),
                "{method:?}: each active secret is read once, whichever matched"
            );
        }
    }
}

/// The same secret active twice (rotated to itself, say) still matches: matches are gathered
/// with `or`, never toggled.
#[test]
fn a_secret_active_twice_still_matches() {
    for method in modes() {
        let secret = generate_secret(&method);
        let twice = held_as(&method, &[secret.clone(), secret.clone()]);
        assert_eq!(
            check(&method, &credential(&method, &secret), &twice),
            Ok(()),
            "{method:?}"
        );
    }
}

#[test]
fn a_routing_key_is_read_from_the_body_and_checked_against_the_keys() {
    let keys = held_as(
        &AuthMethod::RoutingKey,
        &[Secret::new("a".repeat(32)), Secret::new("b".repeat(32))],
    );
    let body = json!({"routing_key": "b".repeat(32), "event_action": "trigger"});
    let given = routing_key(&body);
    assert_eq!(given, Some("b".repeat(32).as_str()));
    assert_eq!(verify_routing_key(given, &keys, now()), Ok(()));
    assert_eq!(
        verify_routing_key(Some(&"c".repeat(32)), &keys, now()),
        Err(AuthError::Mismatch)
    );
    assert_eq!(routing_key(&json!({"routing_key": 7})), None);
    assert_eq!(
        verify_routing_key(None, &keys, now()),
        Err(AuthError::MissingCredential("routing_key".into()))
    );
}
