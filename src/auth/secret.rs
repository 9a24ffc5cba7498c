//! Integration secrets: a wrapper that never prints itself, generation, and validation.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use rand::RngCore;

use crate::ids::hex;

use super::AuthMethod;

/// SPEC §2: an integration holds at most this many active secrets (rotation).
pub const MAX_SECRETS: usize = 5;
/// SPEC §6: how long `rotate-secret --keep-old` keeps the old secrets valid, unless told.
pub const DEFAULT_KEEP_OLD: chrono::Duration = chrono::Duration::hours(24);
/// The longest a rotation may keep the old secrets: a switch-over, not a second secret forever.
const MAX_KEEP_OLD: chrono::Duration = chrono::Duration::days(365);
/// SPEC §2: secrets are 1-255 characters (Elastio's limit).
const MAX_SECRET_LEN: usize = 255;
const WHSEC_PREFIX: &str = "whsec_";

/// A secret. Its `Debug` is redacted so it can never reach a log through `{:?}`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: impl Into<String>) -> Secret {
        Secret(text.into())
    }

    /// The secret's text: call only where it is compared, keyed, stored, or shown once.
    pub fn expose(&self) -> &str {
        #[cfg(test)]
        exposures::count();
        &self.0
    }

    /// The HMAC key of a Standard Webhooks secret: the base64 after `whsec_`.
    pub(super) fn standard_webhooks_key(&self) -> Option<Vec<u8>> {
        let encoded = self.expose().strip_prefix(WHSEC_PREFIX)?;
        decode_base64(encoded.as_bytes()).filter(|key| !key.is_empty())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// 32 random bytes: hex, or `whsec_` + base64 for Standard Webhooks (SPEC §2).
pub fn generate_secret(method: &AuthMethod) -> Secret {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    match method {
        AuthMethod::StandardWebhooks => Secret(format!("{WHSEC_PREFIX}{}", STANDARD.encode(bytes))),
        // PagerDuty's integration keys are 32 characters: 16 random bytes in hex.
        AuthMethod::RoutingKey => Secret(hex(&bytes[..16])),
        AuthMethod::Basic => Secret(format!("alertgate:{}", hex(&bytes))),
        _ => Secret(hex(&bytes)),
    }
}

/// Checks that `secret` is usable with `method`; the message says what a valid one looks like.
pub fn validate_secret(method: &AuthMethod, secret: &str) -> Result<Secret, String> {
    let printable = secret.bytes().all(|byte| (0x20..=0x7e).contains(&byte));
    if secret.is_empty() || secret.len() > MAX_SECRET_LEN || !printable {
        return Err("a secret is 1-255 printable ASCII characters".into());
    }
    match method {
        AuthMethod::Basic if !secret.contains(':') => {
            Err("a basic secret is `user:password`".into())
        }
        AuthMethod::RoutingKey
            if secret.len() != 32 || !secret.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            Err("a routing key is 32 letters and digits".into())
        }
        AuthMethod::StandardWebhooks if Secret(secret.into()).standard_webhooks_key().is_none() => {
            Err("a standard-webhooks secret is `whsec_` followed by base64".into())
        }
        _ => Ok(Secret(secret.into())),
    }
}

/// Checks how long a rotation keeps the old secrets valid: 1 second to 365 days.
pub fn validate_keep_old(duration: chrono::Duration) -> Result<chrono::Duration, String> {
    if duration < chrono::Duration::seconds(1) || duration > MAX_KEEP_OLD {
        return Err("the old secrets are kept from 1 second to 365 days".into());
    }
    Ok(duration)
}

/// Hex in either case, to bytes.
pub(super) fn decode_hex(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let nibble = |c: u8| (c as char).to_digit(16).and_then(|d| u8::try_from(d).ok());
    text.chunks(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

/// Standard base64, padded or not (senders differ).
pub(crate) fn decode_base64(text: &[u8]) -> Option<Vec<u8>> {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    LENIENT.decode(text).ok()
}

pub(super) fn encode_base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// How many times this thread has read a secret's text: the unit tests' way to see that a check
/// does the same work for every active secret, whichever one matches (its timing then says
/// nothing about which did).
#[cfg(test)]
pub(super) mod exposures {
    use std::cell::Cell;

    thread_local! {
        static EXPOSED: Cell<usize> = const { Cell::new(0) };
    }

    pub(in crate::auth) fn count() {
        EXPOSED.with(|exposed| exposed.set(exposed.get() + 1));
    }

    /// The secrets read while `work` ran, on this thread.
    pub(in crate::auth) fn during<T>(work: impl FnOnce() -> T) -> (T, usize) {
        let before = EXPOSED.with(Cell::get);
        let result = work();
        (result, EXPOSED.with(Cell::get) - before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_1_to_255_characters_and_a_routing_key_32_letters_and_digits() {
        let token = AuthMethod::Bearer;
        assert!(validate_secret(&token, &"s".repeat(255)).is_ok());
        assert!(validate_secret(&token, &"s".repeat(256)).is_err());
        assert!(validate_secret(&token, "").is_err());
        let key = AuthMethod::RoutingKey;
        assert!(validate_secret(&key, &"aZ9".repeat(11)[..32]).is_ok());
        assert!(validate_secret(&key, &"a".repeat(31)).is_err());
        assert!(validate_secret(&key, &"a".repeat(33)).is_err());
        assert!(validate_secret(&key, &format!("{}-", "a".repeat(31))).is_err());
    }
}
