//! `standard-webhooks` mode (<https://www.standardwebhooks.com>, also Svix's `svix-` headers).
//!
//! The signed content is `{id}.{timestamp}.{body}`; the header lists space-separated
//! `v1,<base64>` signatures, any one of which may match. The timestamp window is what makes this
//! the one mode with replay protection. A signature matches only as the exact text the reference
//! libraries produce (standard base64, padded): they compare strings, so a sender whose `=` went
//! missing on the way fails with every receiver, and must fail here too.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::secret::encode_base64;
use super::{AuthError, Headers, Secret};

/// How far a timestamp may be from now, either way, inclusive.
pub const TOLERANCE_SECONDS: i64 = 300;
/// At most this many signature entries are looked at, so a huge header costs bounded work.
pub const MAX_SIGNATURES: usize = 16;
/// The one signature version defined so far; other versions are skipped.
const VERSION: &str = "v1";

/// The header names of one family: the standard's own, or Svix's.
struct HeaderNames {
    id: &'static str,
    timestamp: &'static str,
    signature: &'static str,
}

const STANDARD: HeaderNames = HeaderNames {
    id: "webhook-id",
    timestamp: "webhook-timestamp",
    signature: "webhook-signature",
};
const SVIX: HeaderNames = HeaderNames {
    id: "svix-id",
    timestamp: "svix-timestamp",
    signature: "svix-signature",
};

pub(super) fn verify(
    headers: &(impl Headers + ?Sized),
    body: &[u8],
    secrets: &[&Secret],
    now: DateTime<Utc>,
) -> Result<(), AuthError> {
    let names = if headers.get(STANDARD.id).is_some() {
        &STANDARD
    } else {
        &SVIX
    };
    let header = |name: &str| {
        headers
            .get(name)
            .ok_or_else(|| AuthError::MissingCredential(name.to_string()))
    };
    let id = header(names.id)?;
    let timestamp = header(names.timestamp)?;
    let signatures = header(names.signature)?;

    let sent_at = parse_timestamp(timestamp).ok_or(AuthError::MalformedCredential)?;
    if now.timestamp().abs_diff(sent_at) > TOLERANCE_SECONDS.unsigned_abs() {
        return Err(AuthError::TimestampOutOfWindow);
    }
    let expected: Vec<String> = secrets
        .iter()
        .filter_map(|secret| secret.standard_webhooks_key())
        .map(|key| encode_base64(&tag(&key, id, timestamp, body)))
        .collect();
    let mut matched = false;
    for given in signatures
        .split(|&byte| byte == b' ')
        .filter(|entry| !entry.is_empty())
        .take(MAX_SIGNATURES)
        .filter_map(v1_signature)
    {
        for signature in &expected {
            matched |= bool::from(signature.as_bytes().ct_eq(given));
        }
    }
    if matched {
        Ok(())
    } else {
        Err(AuthError::Mismatch)
    }
}

/// The three headers a sender adds.
pub(super) fn sign(
    secret: &Secret,
    body: &[u8],
    now: DateTime<Utc>,
    message_id: &str,
) -> Option<Vec<(String, String)>> {
    let key = secret.standard_webhooks_key()?;
    let timestamp = now.timestamp().to_string();
    let tag = tag(&key, message_id.as_bytes(), timestamp.as_bytes(), body);
    Some(vec![
        (STANDARD.id.into(), message_id.into()),
        (STANDARD.timestamp.into(), timestamp),
        (
            STANDARD.signature.into(),
            format!("{VERSION},{}", encode_base64(&tag)),
        ),
    ])
}

fn tag(key: &[u8], id: &[u8], timestamp: &[u8], body: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any size");
    for part in [id, b".", timestamp, b".", body] {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Seconds since the epoch, digits only: no sign, no spaces, no fraction.
fn parse_timestamp(text: &[u8]) -> Option<i64> {
    if text.is_empty() || text.len() > 18 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// The base64 text of a `v1,<base64>` entry, as sent; other versions yield nothing.
fn v1_signature(entry: &[u8]) -> Option<&[u8]> {
    let comma = entry.iter().position(|&byte| byte == b',')?;
    let (version, encoded) = (&entry[..comma], &entry[comma + 1..]);
    (version == VERSION.as_bytes()).then_some(encoded)
}
