//! Each mode, accepted and refused, with the clock passed in rather than slept on.

use chrono::{DateTime, TimeZone, Utc};

use super::*;

const BODY: &[u8] = br#"{"event_type":"create","Id":"1","Title":"t"}"#;

fn now() -> DateTime<Utc> {
    Utc.timestamp_opt(1_614_265_330, 0).unwrap()
}

/// The secrets as an integration with `method` holds them: hashed for token, bearer and basic.
fn secrets(method: &AuthMethod, texts: &[&str]) -> Vec<ActiveSecret> {
    texts
        .iter()
        .map(|text| ActiveSecret::new(method, &Secret::new(*text)))
        .collect()
}

fn check(
    method: &AuthMethod,
    headers: &[(&str, &str)],
    secret_texts: &[&str],
) -> Result<(), AuthError> {
    verify(method, headers, BODY, &secrets(method, secret_texts), now())
}

fn token() -> AuthMethod {
    AuthMethod::from_parts("token", None, None, None).unwrap()
}

fn hmac(encoding: &str, prefix: Option<&str>) -> AuthMethod {
    AuthMethod::from_parts("hmac-sha256", Some("X-Signature"), prefix, Some(encoding)).unwrap()
}

#[test]
fn none_accepts_anything() {
    assert_eq!(check(&AuthMethod::None, &[], &[]), Ok(()));
}

#[test]
fn token_reads_the_pagertree_header_by_default() {
    assert_eq!(
        check(&token(), &[("PagerTree-Token", "s3cret")], &["s3cret"]),
        Ok(())
    );
    assert_eq!(
        check(&token(), &[("pagertree-token", "wrong")], &["s3cret"]),
        Err(AuthError::Mismatch)
    );
    assert_eq!(
        check(&token(), &[], &["s3cret"]),
        Err(AuthError::MissingCredential("pagertree-token".into()))
    );
}

#[test]
fn token_header_is_configurable() {
    let method = AuthMethod::from_parts("token", Some("X-Pingara-Secret"), None, None).unwrap();
    assert_eq!(
        check(&method, &[("x-pingara-secret", "abc")], &["abc"]),
        Ok(())
    );
    assert!(check(&method, &[("pagertree-token", "abc")], &["abc"]).is_err());
}

#[test]
fn a_prefix_of_the_secret_does_not_match() {
    assert_eq!(
        check(&token(), &[("pagertree-token", "s3cre")], &["s3cret"]),
        Err(AuthError::Mismatch)
    );
}

#[test]
fn any_of_several_secrets_matches_during_rotation() {
    let both = ["old-secret", "new-secret"];
    assert_eq!(
        check(&token(), &[("pagertree-token", "old-secret")], &both),
        Ok(())
    );
    assert_eq!(
        check(&token(), &[("pagertree-token", "new-secret")], &both),
        Ok(())
    );
}

#[test]
fn bearer_takes_the_scheme_in_any_case() {
    assert_eq!(
        check(
            &AuthMethod::Bearer,
            &[("authorization", "Bearer tok")],
            &["tok"]
        ),
        Ok(())
    );
    assert_eq!(
        check(
            &AuthMethod::Bearer,
            &[("authorization", "bearer tok")],
            &["tok"]
        ),
        Ok(())
    );
    assert_eq!(
        check(
            &AuthMethod::Bearer,
            &[("authorization", "Bearer other")],
            &["tok"]
        ),
        Err(AuthError::Mismatch)
    );
    assert_eq!(
        check(
            &AuthMethod::Bearer,
            &[("authorization", "Basic tok")],
            &["tok"]
        ),
        Err(AuthError::MalformedCredential)
    );
}

#[test]
fn basic_compares_user_and_password() {
    // base64("alice:pw") = YWxpY2U6cHc=
    let good = [("authorization", "Basic YWxpY2U6cHc=")];
    assert_eq!(check(&AuthMethod::Basic, &good, &["alice:pw"]), Ok(()));
    assert_eq!(
        check(&AuthMethod::Basic, &good, &["alice:other"]),
        Err(AuthError::Mismatch)
    );
    assert_eq!(
        check(
            &AuthMethod::Basic,
            &[("authorization", "Basic !!!")],
            &["alice:pw"]
        ),
        Err(AuthError::MalformedCredential)
    );
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    hmac_signature::sign(&Secret::new(secret), Encoding::Hex, body)
}

#[test]
fn hmac_accepts_hex_in_either_case() {
    let signature = hmac_hex("key", BODY);
    let method = hmac("hex", None);
    assert_eq!(
        check(&method, &[("x-signature", &signature)], &["key"]),
        Ok(())
    );
    let upper = signature.to_uppercase();
    assert_eq!(check(&method, &[("x-signature", &upper)], &["key"]), Ok(()));
}

#[test]
fn hmac_refuses_a_tampered_body() {
    let signature = hmac_hex("key", BODY);
    let tampered = br#"{"event_type":"create","Id":"2","Title":"t"}"#;
    let method = hmac("hex", None);
    let result = verify(
        &method,
        &[("x-signature", signature.as_str())][..],
        tampered,
        &secrets(&method, &["key"]),
        now(),
    );
    assert_eq!(result, Err(AuthError::Mismatch));
}

#[test]
fn hmac_checks_the_prefix_and_base64() {
    let method = hmac("base64", Some("sha256="));
    let signature = format!(
        "sha256={}",
        hmac_signature::sign(&Secret::new("key"), Encoding::Base64, BODY)
    );
    assert_eq!(
        check(&method, &[("x-signature", &signature)], &["key"]),
        Ok(())
    );
    let unprefixed = signature.trim_start_matches("sha256=");
    assert_eq!(
        check(&method, &[("x-signature", unprefixed)], &["key"]),
        Err(AuthError::MalformedCredential)
    );
}

#[test]
fn hmac_refuses_undecodable_signatures() {
    assert_eq!(
        check(&hmac("hex", None), &[("x-signature", "zz")], &["key"]),
        Err(AuthError::MalformedCredential)
    );
}

#[test]
fn presets_set_header_prefix_and_encoding() {
    let plerion = Preset::Plerion.method();
    let signature = format!("sha256={}", hmac_hex("key", BODY));
    assert_eq!(
        check(&plerion, &[("plerion-signature", &signature)], &["key"]),
        Ok(())
    );
    let plextrac = Preset::Plextrac.method();
    assert_eq!(
        check(
            &plextrac,
            &[("X-Authorization-HMAC-256", &hmac_hex("key", BODY))],
            &["key"]
        ),
        Ok(())
    );
    assert_eq!(
        Preset::Github.method().header(),
        Some("x-hub-signature-256")
    );
}

// Standard Webhooks, with the example vector published in the specification.
const SW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SW_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const SW_BODY: &[u8] = br#"{"test": 2432232314}"#;
const SW_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

fn sw_check(
    headers: &[(&str, &str)],
    at: DateTime<Utc>,
    secret_texts: &[&str],
) -> Result<(), AuthError> {
    verify(
        &AuthMethod::StandardWebhooks,
        headers,
        SW_BODY,
        &secrets(&AuthMethod::StandardWebhooks, secret_texts),
        at,
    )
}

fn sw_headers<'a>(timestamp: &'a str, signature: &'a str) -> [(&'a str, &'a str); 3] {
    [
        ("webhook-id", SW_ID),
        ("webhook-timestamp", timestamp),
        ("webhook-signature", signature),
    ]
}

#[test]
fn standard_webhooks_accepts_the_specification_example() {
    assert_eq!(
        sw_check(&sw_headers("1614265330", SW_SIGNATURE), now(), &[SW_SECRET]),
        Ok(())
    );
}

/// The reference libraries compare the signature as text: the same bytes in another base64
/// spelling (padding dropped, the URL-safe alphabet) are a different signature.
#[test]
fn standard_webhooks_refuses_a_signature_not_in_canonical_base64() {
    let unpadded = SW_SIGNATURE.trim_end_matches('=');
    let url_safe = SW_SIGNATURE.replace('+', "-").replace('/', "_");
    let spaced = SW_SIGNATURE.replace(',', ", ");
    for variant in [unpadded, url_safe.as_str(), spaced.as_str()] {
        assert_eq!(
            sw_check(&sw_headers("1614265330", variant), now(), &[SW_SECRET]),
            Err(AuthError::Mismatch),
            "{variant}"
        );
    }
}

#[test]
fn standard_webhooks_accepts_svix_header_names() {
    let headers = [
        ("svix-id", SW_ID),
        ("svix-timestamp", "1614265330"),
        ("svix-signature", SW_SIGNATURE),
    ];
    assert_eq!(sw_check(&headers, now(), &[SW_SECRET]), Ok(()));
}

#[test]
fn standard_webhooks_window_is_300_seconds_inclusive() {
    let headers = sw_headers("1614265330", SW_SIGNATURE);
    let shifted = |seconds| now() + chrono::Duration::seconds(seconds);
    assert_eq!(sw_check(&headers, shifted(300), &[SW_SECRET]), Ok(()));
    assert_eq!(sw_check(&headers, shifted(-300), &[SW_SECRET]), Ok(()));
    assert_eq!(
        sw_check(&headers, shifted(301), &[SW_SECRET]),
        Err(AuthError::TimestampOutOfWindow)
    );
    assert_eq!(
        sw_check(&headers, shifted(-301), &[SW_SECRET]),
        Err(AuthError::TimestampOutOfWindow)
    );
}

#[test]
fn standard_webhooks_timestamps_are_strict_integers() {
    for bad in [
        "+1614265330",
        " 1614265330",
        "1614265330.0",
        "",
        "-5",
        "99999999999999999999",
        "1000000000000000000",
    ] {
        assert_eq!(
            sw_check(&sw_headers(bad, SW_SIGNATURE), now(), &[SW_SECRET]),
            Err(AuthError::MalformedCredential),
            "timestamp {bad:?}"
        );
    }
    // Up to 18 digits is a time, if not one in the window.
    assert_eq!(
        sw_check(
            &sw_headers(&"1".repeat(18), SW_SIGNATURE),
            now(),
            &[SW_SECRET]
        ),
        Err(AuthError::TimestampOutOfWindow)
    );
}

#[test]
fn standard_webhooks_skips_unknown_versions_among_several_signatures() {
    let list = format!("v2,abc v1,bm90LWl0 {SW_SIGNATURE}");
    assert_eq!(
        sw_check(&sw_headers("1614265330", &list), now(), &[SW_SECRET]),
        Ok(())
    );
}

#[test]
fn standard_webhooks_reads_at_most_16_signatures() {
    let padding = vec!["v1,bm90LWl0"; standard_webhooks::MAX_SIGNATURES].join(" ");
    let list = format!("{padding} {SW_SIGNATURE}");
    assert_eq!(
        sw_check(&sw_headers("1614265330", &list), now(), &[SW_SECRET]),
        Err(AuthError::Mismatch)
    );
}

#[test]
fn standard_webhooks_accepts_either_secret_during_rotation() {
    let other = "whsec_bm90LXRoZS1zZWNyZXQtYXQtYWxsLWluZGVlZA==";
    assert_eq!(
        sw_check(
            &sw_headers("1614265330", SW_SIGNATURE),
            now(),
            &[other, SW_SECRET]
        ),
        Ok(())
    );
    assert_eq!(
        sw_check(&sw_headers("1614265330", SW_SIGNATURE), now(), &[other]),
        Err(AuthError::Mismatch)
    );
}

#[test]
fn standard_webhooks_needs_all_three_headers() {
    let headers = [("webhook-id", SW_ID), ("webhook-timestamp", "1614265330")];
    assert_eq!(
        sw_check(&headers, now(), &[SW_SECRET]),
        Err(AuthError::MissingCredential("webhook-signature".into()))
    );
}

#[test]
fn sign_produces_what_verify_accepts() {
    let method = AuthMethod::StandardWebhooks;
    let secret = Secret::new(SW_SECRET);
    let headers = sign(&method, &secret, SW_BODY, now(), SW_ID).unwrap();
    assert_eq!(headers[2].1, SW_SIGNATURE);
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        verify(
            &method,
            &pairs[..],
            SW_BODY,
            &[ActiveSecret::new(&method, &secret)],
            now()
        ),
        Ok(())
    );
    assert!(
        sign(&token(), &Secret::new("x"), SW_BODY, now(), SW_ID).is_none(),
        "a token is never re-shown"
    );
}

#[test]
fn secrets_never_print() {
    assert_eq!(
        format!("{:?}", Secret::new("hunter2")),
        "Secret(<redacted>)"
    );
}

#[test]
fn generated_secrets_fit_their_mode() {
    for mode in AuthMethod::MODES {
        let method = AuthMethod::from_parts(mode, None, None, None).unwrap();
        let secret = generate_secret(&method);
        assert!(validate_secret(&method, secret.expose()).is_ok(), "{mode}");
    }
}

#[test]
fn invalid_secrets_and_options_are_refused_with_the_field_named() {
    assert!(validate_secret(&AuthMethod::Basic, "no-colon").is_err());
    assert!(validate_secret(&AuthMethod::StandardWebhooks, "plain").is_err());
    assert!(validate_secret(&token(), "tab\there").is_err());
    assert!(validate_secret(&token(), &"x".repeat(256)).is_err());
    assert_eq!(
        AuthMethod::from_parts("bearer", Some("x"), None, None)
            .unwrap_err()
            .0,
        "header"
    );
    assert_eq!(
        AuthMethod::from_parts("hmac-sha256", None, None, Some("rot13"))
            .unwrap_err()
            .0,
        "encoding"
    );
    assert_eq!(
        AuthMethod::from_parts("magic", None, None, None)
            .unwrap_err()
            .0,
        "auth"
    );
    assert_eq!(
        AuthMethod::from_parts("token", Some("bad header"), None, None)
            .unwrap_err()
            .0,
        "header"
    );
}

/// The names logs and the admin test endpoint give each failed check.
#[test]
fn each_failed_check_has_its_stable_name() {
    let cases = [
        (
            AuthError::MissingCredential("x".into()),
            "missing_credential",
        ),
        (AuthError::MalformedCredential, "malformed_credential"),
        (AuthError::Mismatch, "credential_mismatch"),
        (AuthError::TimestampOutOfWindow, "timestamp_out_of_window"),
    ];
    for (error, name) in cases {
        assert_eq!(error.check(), name);
    }
}

/// A `401`'s `WWW-Authenticate` names the scheme and where the credential goes.
#[test]
fn each_mode_challenges_with_its_scheme() {
    let cases = [
        (
            token(),
            "Token realm=\"alertgate\", header=\"pagertree-token\"",
        ),
        (AuthMethod::Bearer, "Bearer realm=\"alertgate\""),
        (
            AuthMethod::Basic,
            "Basic realm=\"alertgate\", charset=\"UTF-8\"",
        ),
        (
            hmac("hex", None),
            "HMAC-SHA256 realm=\"alertgate\", header=\"x-signature\"",
        ),
        (
            AuthMethod::StandardWebhooks,
            "Standard-Webhooks realm=\"alertgate\"",
        ),
        (
            AuthMethod::RoutingKey,
            "Routing-Key realm=\"alertgate\", field=\"routing_key\"",
        ),
    ];
    for (method, challenge_text) in cases {
        assert_eq!(challenge(&method), challenge_text);
    }
}
