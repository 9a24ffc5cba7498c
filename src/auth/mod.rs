//! Authentication of hook requests (SPEC §2): who sent these raw bytes?
//!
//! Everything here is pure: `verify` takes the request's headers, its raw body, the integration's
//! active secrets and the current time, and answers yes or which check failed. It runs before
//! the body is parsed, so a forged request never reaches the JSON parser. Every comparison of a
//! secret or a signature is constant-time. A secret retired by a rotation is refused from its
//! expiry on; which secrets are kept whole and which only hashed is `active`'s to say.

mod active;
mod hmac_signature;
mod method;
mod secret;
mod standard_webhooks;

use chrono::{DateTime, Utc};

pub use active::{ActiveSecret, SecretHash, StoredSecret};
pub use hmac_signature::Encoding;
pub use method::{AuthMethod, Preset};
pub use secret::{
    generate_secret, validate_keep_old, validate_secret, Secret, DEFAULT_KEEP_OLD, MAX_SECRETS,
};

/// Read access to a request's headers, so this module does not depend on the HTTP framework.
pub trait Headers {
    /// The value of header `name` (matched case-insensitively), if present.
    fn get(&self, name: &str) -> Option<&[u8]>;
}

impl Headers for [(&str, &str)] {
    fn get(&self, name: &str) -> Option<&[u8]> {
        self.iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_bytes())
    }
}

/// Why a request failed authentication. Never carries the expected value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the credential header `{0}` is missing")]
    MissingCredential(String),
    #[error("the credential is malformed")]
    MalformedCredential,
    #[error("the credential does not match")]
    Mismatch,
    #[error("the timestamp is outside the allowed window")]
    TimestampOutOfWindow,
}

impl AuthError {
    /// A stable name for the failed check, for logs and the admin test endpoint.
    pub fn check(&self) -> &'static str {
        match self {
            AuthError::MissingCredential(_) => "missing_credential",
            AuthError::MalformedCredential => "malformed_credential",
            AuthError::Mismatch => "credential_mismatch",
            AuthError::TimestampOutOfWindow => "timestamp_out_of_window",
        }
    }
}

/// Checks that the request was sent by a holder of one of `secrets` still valid at `now`.
pub fn verify(
    method: &AuthMethod,
    headers: &(impl Headers + ?Sized),
    body: &[u8],
    secrets: &[ActiveSecret],
    now: DateTime<Utc>,
) -> Result<(), AuthError> {
    match method {
        AuthMethod::None => Ok(()),
        AuthMethod::Token { header } => {
            let given = required(headers, header)?;
            matches_any_secret(given.trim_ascii(), secrets, now)
        }
        AuthMethod::Bearer => {
            let token = authorization(headers, "Bearer")?;
            matches_any_secret(token, secrets, now)
        }
        AuthMethod::Basic => {
            let encoded = authorization(headers, "Basic")?;
            let decoded = secret::decode_base64(encoded).ok_or(AuthError::MalformedCredential)?;
            matches_any_secret(&decoded, secrets, now)
        }
        AuthMethod::HmacSha256 {
            header,
            prefix,
            encoding,
        } => {
            let given = required(headers, header)?;
            let keys = active::keys_at(secrets, now);
            hmac_signature::verify(given.trim_ascii(), prefix, *encoding, body, &keys)
        }
        AuthMethod::StandardWebhooks => {
            standard_webhooks::verify(headers, body, &active::keys_at(secrets, now), now)
        }
        // The key is in the body; the caller parses it first and calls `verify_routing_key`.
        AuthMethod::RoutingKey => Err(AuthError::MissingCredential("routing_key".into())),
    }
}

/// Where a `routing-key` sender puts its credential: the body's top-level `routing_key`.
pub fn routing_key(body: &serde_json::Value) -> Option<&str> {
    body.get("routing_key").and_then(serde_json::Value::as_str)
}

/// `routing-key` mode: the `routing_key` read from the body is one of `keys` still valid at
/// `now`, in constant time.
pub fn verify_routing_key(
    given: Option<&str>,
    keys: &[ActiveSecret],
    now: DateTime<Utc>,
) -> Result<(), AuthError> {
    let given = given.ok_or_else(|| AuthError::MissingCredential("routing_key".into()))?;
    matches_any_secret(given.as_bytes(), keys, now)
}

/// The `WWW-Authenticate` challenge that goes with a `401` for `method`.
pub fn challenge(method: &AuthMethod) -> String {
    const REALM: &str = "realm=\"alertgate\"";
    match method {
        AuthMethod::None => format!("None {REALM}"),
        AuthMethod::Token { header } => format!("Token {REALM}, header=\"{header}\""),
        AuthMethod::Bearer => format!("Bearer {REALM}"),
        AuthMethod::Basic => format!("Basic {REALM}, charset=\"UTF-8\""),
        AuthMethod::HmacSha256 { header, .. } => {
            format!("HMAC-SHA256 {REALM}, header=\"{header}\"")
        }
        AuthMethod::StandardWebhooks => format!("Standard-Webhooks {REALM}"),
        AuthMethod::RoutingKey => format!("Routing-Key {REALM}, field=\"routing_key\""),
    }
}

/// The headers a sender adds to sign `body`, for `alertgate sign`; `None` for methods whose
/// credential is the secret itself, which is never shown again.
pub fn sign(
    method: &AuthMethod,
    secret: &Secret,
    body: &[u8],
    now: DateTime<Utc>,
    message_id: &str,
) -> Option<Vec<(String, String)>> {
    match method {
        AuthMethod::HmacSha256 {
            header,
            prefix,
            encoding,
        } => {
            let signature = hmac_signature::sign(secret, *encoding, body);
            Some(vec![(header.clone(), format!("{prefix}{signature}"))])
        }
        AuthMethod::StandardWebhooks => standard_webhooks::sign(secret, body, now, message_id),
        AuthMethod::None
        | AuthMethod::Token { .. }
        | AuthMethod::Bearer
        | AuthMethod::Basic
        | AuthMethod::RoutingKey => None,
    }
}

fn required<'h>(headers: &'h (impl Headers + ?Sized), name: &str) -> Result<&'h [u8], AuthError> {
    headers
        .get(name)
        .ok_or_else(|| AuthError::MissingCredential(name.to_string()))
}

/// The credentials of an `Authorization: <scheme> <credentials>` header; the scheme is
/// case-insensitive (RFC 9110 §11.1).
fn authorization<'h>(
    headers: &'h (impl Headers + ?Sized),
    scheme: &str,
) -> Result<&'h [u8], AuthError> {
    let value = required(headers, "authorization")?.trim_ascii();
    let (given_scheme, credentials) = value
        .iter()
        .position(|&byte| byte == b' ')
        .map(|space| value.split_at(space))
        .ok_or(AuthError::MalformedCredential)?;
    if !given_scheme.eq_ignore_ascii_case(scheme.as_bytes()) {
        return Err(AuthError::MalformedCredential);
    }
    Ok(credentials.trim_ascii())
}

/// Compares `given` with every secret valid at `now`, in constant time.
fn matches_any_secret(
    given: &[u8],
    secrets: &[ActiveSecret],
    now: DateTime<Utc>,
) -> Result<(), AuthError> {
    if active::matches_any(given, secrets, now) {
        Ok(())
    } else {
        Err(AuthError::Mismatch)
    }
}

#[cfg(test)]
mod matching_tests;
#[cfg(test)]
mod tests;
