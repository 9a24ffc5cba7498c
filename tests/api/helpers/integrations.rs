//! The integrations every test app starts with: one per auth mode and sender format, with
//! secrets the tests know.

use alertgate::integration::IntegrationOptions;

/// Secrets of the integrations every test app starts with.
pub const TOKEN: &str = "tok-3f9a1c";
pub const BEARER: &str = "bearer-77d0e2";
pub const BASIC: &str = "alice:wonderland";
pub const HMAC_KEY: &str = "hmac-key-5b8c";
pub const SW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const PD_KEY: &str = "0123456789abcdef0123456789abcdef";
pub const SW_SECRET_NEW: &str = "whsec_bm90LXRoZS1zZWNyZXQtYXQtYWxsLWluZGVlZA==";

/// Options for one integration of the test app.
pub fn integration(name: &str, auth: &str, secret: Option<&str>) -> IntegrationOptions {
    IntegrationOptions {
        name: name.into(),
        auth: Some(auth.into()),
        secret: secret.map(str::to_string),
        ..IntegrationOptions::default()
    }
}

/// One integration per auth mode, with the secrets above.
pub(super) fn standard_integrations() -> Vec<IntegrationOptions> {
    let mut custom_header = integration("apikey", "token", Some(TOKEN));
    custom_header.header = Some("X-API-Key".into());
    let mut hmac = integration("hmac", "hmac-sha256", Some(HMAC_KEY));
    hmac.header = Some("X-Signature".into());
    let mut hmac_base64 = integration("hmac-b64", "hmac-sha256", Some(HMAC_KEY));
    hmac_base64.header = Some("X-Signature".into());
    hmac_base64.prefix = Some("sha256=".into());
    hmac_base64.encoding = Some("base64".into());
    let mut plerion = integration("plerion", "hmac-sha256", Some(HMAC_KEY));
    plerion.auth = None;
    plerion.preset = Some("plerion".into());
    let mut plerion_alerts = integration("plerion-alerts", "hmac-sha256", Some(HMAC_KEY));
    plerion_alerts.format = Some("plerion".into());
    plerion_alerts.auth = None;
    let mut pingara = integration("pingara", "token", Some(TOKEN));
    pingara.format = Some("pingara".into());
    pingara.auth = None;
    let mut alertmanager = integration("alertmanager", "bearer", Some(BEARER));
    alertmanager.format = Some("alertmanager".into());
    alertmanager.auth = None;
    let map = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let mut elastio = integration("elastio", "token", Some(TOKEN));
    elastio.format = Some("mapping".into());
    elastio.header = Some("X-API-Key".into());
    elastio.map = map(&[
        ("id", "/event_id"),
        ("title", "/message"),
        ("severity", "/severity"),
        ("timestamp", "/occurred_at"),
        ("tags", "/labels"),
        ("action", "/status"),
    ]);
    elastio.action_map = map(&[("OPEN", "create"), ("RESOLVED", "resolve")]);
    let mut plextrac = integration("plextrac", "hmac-sha256", Some(HMAC_KEY));
    plextrac.format = Some("mapping".into());
    plextrac.auth = None;
    plextrac.preset = Some("plextrac".into());
    plextrac.map = map(&[
        ("items", "/data/findings"),
        ("id", "/id"),
        ("title", "/title"),
        ("severity", "/severity"),
        ("tags", "/tags"),
        ("action", "/status"),
    ]);
    plextrac.action_map = map(&[
        ("Open", "create"),
        ("In Process", "update"),
        ("Closed", "resolve"),
    ]);
    let mut pagerduty = integration("pagerduty", "routing-key", Some(PD_KEY));
    pagerduty.format = Some("pagerduty".into());
    let mut capture = integration("capture", "token", Some(TOKEN));
    capture.capture_payload = true;
    vec![
        integration("default", "token", Some(TOKEN)),
        integration("other", "token", Some(TOKEN)),
        custom_header,
        integration("bearer", "bearer", Some(BEARER)),
        integration("basic", "basic", Some(BASIC)),
        hmac,
        hmac_base64,
        plerion,
        integration("sw", "standard-webhooks", Some(SW_SECRET)),
        integration("open", "none", None),
        capture,
        plerion_alerts,
        pingara,
        alertmanager,
        elastio,
        plextrac,
        pagerduty,
    ]
}
