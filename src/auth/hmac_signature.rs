//! `hmac-sha256` mode: HMAC-SHA256 of the raw body, keyed with the secret, in one header.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::secret::{decode_base64, decode_hex, encode_base64};
use super::{AuthError, Secret};
use crate::ids::hex;

type HmacSha256 = Hmac<Sha256>;

/// How the signature's bytes are written in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Hex digits, either case.
    Hex,
    /// Standard base64, padded or not.
    Base64,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Hex => "hex",
            Encoding::Base64 => "base64",
        }
    }

    pub fn parse(text: &str) -> Option<Encoding> {
        match text {
            "hex" => Some(Encoding::Hex),
            "base64" => Some(Encoding::Base64),
            _ => None,
        }
    }

    fn decode(self, text: &[u8]) -> Option<Vec<u8>> {
        match self {
            Encoding::Hex => decode_hex(text),
            Encoding::Base64 => decode_base64(text),
        }
    }
}

/// Checks `header_value` (`<prefix><signature>`) against the HMAC of `body` under each secret.
pub(super) fn verify(
    header_value: &[u8],
    prefix: &str,
    encoding: Encoding,
    body: &[u8],
    secrets: &[&Secret],
) -> Result<(), AuthError> {
    let encoded = strip_prefix_ignoring_case(header_value, prefix.as_bytes())
        .ok_or(AuthError::MalformedCredential)?;
    let signature = encoding
        .decode(encoded)
        .ok_or(AuthError::MalformedCredential)?;
    // Every secret is tried, matched or not, so timing says nothing about which one matched.
    let matched = secrets
        .iter()
        .map(|secret| keyed(secret, body).verify_slice(&signature).is_ok())
        .fold(false, |any, this| any | this);
    if matched {
        Ok(())
    } else {
        Err(AuthError::Mismatch)
    }
}

/// The encoded signature a sender puts after the prefix.
pub(super) fn sign(secret: &Secret, encoding: Encoding, body: &[u8]) -> String {
    let tag = keyed(secret, body).finalize().into_bytes();
    match encoding {
        Encoding::Hex => hex(&tag),
        Encoding::Base64 => encode_base64(&tag),
    }
}

fn keyed(secret: &Secret, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC takes keys of any size");
    mac.update(body);
    mac
}

fn strip_prefix_ignoring_case<'v>(value: &'v [u8], prefix: &[u8]) -> Option<&'v [u8]> {
    let (head, rest) = value.split_at_checked(prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then_some(rest)
}
