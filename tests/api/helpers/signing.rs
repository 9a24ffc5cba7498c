//! Credentials computed for a request, independently of alertgate: HMAC signatures, and requests
//! signed for the integrations a test set up.

use base64::Engine;
use hmac::{Hmac, Mac};
use reqwest::blocking::Client;
use sha2::Sha256;

use super::integrations::{HMAC_KEY, TOKEN};

/// Lower-case hex HMAC-SHA256 of `body` under `key`, computed independently of alertgate.
pub fn hmac_hex(key: &str, body: &[u8]) -> String {
    let tag = hmac_bytes(key.as_bytes(), body);
    tag.iter().map(|byte| format!("{byte:02x}")).collect()
}

pub fn hmac_bytes(key: &[u8], body: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// A POST of `body` to `/hooks/{integration}` with the credential `add_sender_integrations` set up.
pub fn sender_request(
    client: &Client,
    address: &str,
    integration: &str,
    idempotency_key: &str,
    body: &str,
) -> reqwest::blocking::RequestBuilder {
    let request = client
        .post(format!("{address}/hooks/{integration}"))
        .header("content-type", "application/json")
        .header("Idempotency-Key", idempotency_key)
        .body(body.to_string());
    if integration == "tok" {
        request.header("pagertree-token", TOKEN)
    } else {
        request.header("X-Signature", hmac_hex(HMAC_KEY, body.as_bytes()))
    }
}

/// Signs `body` the Standard Webhooks way at `timestamp`.
pub fn standard_webhooks_headers(
    secret: &str,
    id: &str,
    timestamp: i64,
    body: &str,
) -> Vec<(String, String)> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap();
    let signed = format!("{id}.{timestamp}.{body}");
    let signature =
        base64::engine::general_purpose::STANDARD.encode(hmac_bytes(&key, signed.as_bytes()));
    vec![
        ("webhook-id".into(), id.into()),
        ("webhook-timestamp".into(), timestamp.to_string()),
        ("webhook-signature".into(), format!("v1,{signature}")),
    ]
}
