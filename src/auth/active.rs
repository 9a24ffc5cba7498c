//! An integration's active secrets as it holds them, at rest and in memory: the secret itself
//! where a check needs it, only a salted hash where a check only compares.
//!
//! HMAC and Standard Webhooks keys compute signatures, and a PagerDuty routing key is looked up
//! by value and shown (SPEC §2), so those are kept. A token, Bearer token or Basic `user:password`
//! is only ever compared with what a sender sends, so only SHA-256 of a random salt and the
//! secret is kept: a copy of the database no longer lets anyone send as those senders.
//!
//! Why SHA-256 and not a slow password hash: the check runs on every hook request, before
//! anything else, also for requests without the right credential. A slow hash (bcrypt, Argon2)
//! costs milliseconds per active secret, up to five, which would let anyone who can reach a hook
//! spend the server's CPU at will. Generated secrets hold 32 random bytes, far beyond any search;
//! a secret a person chose (`--secret`) is as strong as its text, and the salt at least makes
//! every guess cost one hash per stored secret rather than one lookup for all.

use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use super::{AuthMethod, Secret};

/// Bytes of random salt before each hashed secret.
pub const SALT_LEN: usize = 16;
/// Bytes of a SHA-256 digest.
pub const DIGEST_LEN: usize = 32;

/// A secret as it is held: kept whole, or only salted and hashed.
#[derive(Clone)]
pub enum StoredSecret {
    /// HMAC and Standard Webhooks keys, routing keys: the check needs the text itself.
    Kept(Secret),
    /// Token, Bearer and Basic secrets: the check only compares.
    Hashed(SecretHash),
}

/// SHA-256 of a random salt followed by the secret.
#[derive(Clone)]
pub struct SecretHash {
    salt: [u8; SALT_LEN],
    digest: [u8; DIGEST_LEN],
}

impl SecretHash {
    /// Salts and hashes `secret` with a fresh random salt.
    pub fn new(secret: &Secret) -> SecretHash {
        let mut salt = [0u8; SALT_LEN];
        rand::thread_rng().fill_bytes(&mut salt);
        SecretHash {
            digest: salted_digest(&salt, secret.expose().as_bytes()),
            salt,
        }
    }

    /// A hash read back from storage; `None` when either part has the wrong length.
    pub fn from_parts(salt: &[u8], digest: &[u8]) -> Option<SecretHash> {
        Some(SecretHash {
            salt: salt.try_into().ok()?,
            digest: digest.try_into().ok()?,
        })
    }

    pub fn salt(&self) -> &[u8] {
        &self.salt
    }

    pub fn digest(&self) -> &[u8] {
        &self.digest
    }
}

impl StoredSecret {
    /// How an integration authenticating with `method` holds `secret`.
    pub fn of(method: &AuthMethod, secret: &Secret) -> StoredSecret {
        if method.keeps_secrets() {
            StoredSecret::Kept(secret.clone())
        } else {
            StoredSecret::Hashed(SecretHash::new(secret))
        }
    }

    /// Whether `given` is this secret, in constant time. Both sides go through SHA-256 first, so
    /// neither the comparison nor its length tells anything about the secret.
    fn matches(&self, given: &[u8]) -> Choice {
        match self {
            StoredSecret::Kept(secret) => {
                Sha256::digest(secret.expose().as_bytes()).ct_eq(&Sha256::digest(given))
            }
            StoredSecret::Hashed(hash) => {
                // A hashed secret is read too, in its way: counted like `expose` in tests.
                #[cfg(test)]
                super::secret::exposures::count();
                salted_digest(&hash.salt, given).ct_eq(&hash.digest)
            }
        }
    }
}

impl std::fmt::Debug for StoredSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoredSecret::Kept(secret) => write!(f, "Kept({secret:?})"),
            StoredSecret::Hashed(_) => f.write_str("Hashed(<redacted>)"),
        }
    }
}

/// One active secret of an integration, and until when it is accepted.
#[derive(Debug, Clone)]
pub struct ActiveSecret {
    pub stored: StoredSecret,
    /// Set when a rotation with `--keep-old` retired it; `None` for the current secret, which
    /// stays until the next rotation.
    pub expires_at: Option<DateTime<Utc>>,
}

impl ActiveSecret {
    /// `secret` as `method` holds it, accepted until replaced.
    pub fn new(method: &AuthMethod, secret: &Secret) -> ActiveSecret {
        ActiveSecret {
            stored: StoredSecret::of(method, secret),
            expires_at: None,
        }
    }

    /// Whether the secret is still accepted at `now`.
    pub fn valid_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|expiry| now < expiry)
    }

    /// The secret's text, when it is kept.
    pub fn kept(&self) -> Option<&Secret> {
        match &self.stored {
            StoredSecret::Kept(secret) => Some(secret),
            StoredSecret::Hashed(_) => None,
        }
    }
}

/// The secrets of `secrets` still accepted at `now`.
pub(super) fn valid_at(
    secrets: &[ActiveSecret],
    now: DateTime<Utc>,
) -> impl Iterator<Item = &ActiveSecret> {
    secrets.iter().filter(move |secret| secret.valid_at(now))
}

/// The kept secrets of `secrets` still accepted at `now`: the keys that signatures are made with.
pub(super) fn keys_at(secrets: &[ActiveSecret], now: DateTime<Utc>) -> Vec<&Secret> {
    valid_at(secrets, now)
        .filter_map(ActiveSecret::kept)
        .collect()
}

/// Whether `given` is one of the secrets accepted at `now`. Every one is compared, matched or
/// not, so timing says nothing about which one matched, or whether any did.
pub(super) fn matches_any(given: &[u8], secrets: &[ActiveSecret], now: DateTime<Utc>) -> bool {
    let matched = valid_at(secrets, now).fold(Choice::from(0), |found, secret| {
        found | secret.stored.matches(given)
    });
    bool::from(matched)
}

fn salted_digest(salt: &[u8], given: &[u8]) -> [u8; DIGEST_LEN] {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(given);
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_614_265_330, 0).unwrap()
    }

    #[test]
    fn compared_secrets_are_held_as_salted_hashes_and_signing_keys_whole() {
        let secret = Secret::new("tok-3f9a1c");
        for mode in ["token", "bearer", "basic"] {
            let method = AuthMethod::from_parts(mode, None, None, None).unwrap();
            let (first, second) = (
                StoredSecret::of(&method, &secret),
                StoredSecret::of(&method, &secret),
            );
            let (StoredSecret::Hashed(first), StoredSecret::Hashed(second)) = (first, second)
            else {
                panic!("{mode} keeps its secret");
            };
            assert_ne!(
                first.salt(),
                second.salt(),
                "{mode}: a fresh salt each time"
            );
            assert_ne!(first.digest(), second.digest(), "{mode}");
            assert!(!first
                .digest()
                .windows(secret.expose().len())
                .any(|w| w == secret.expose().as_bytes()));
        }
        for mode in ["hmac-sha256", "standard-webhooks", "routing-key"] {
            let method = AuthMethod::from_parts(mode, None, None, None).unwrap();
            assert!(
                matches!(StoredSecret::of(&method, &secret), StoredSecret::Kept(_)),
                "{mode} needs its secret whole"
            );
        }
    }

    #[test]
    fn a_hashed_secret_matches_only_itself() {
        let held = ActiveSecret::new(&AuthMethod::Bearer, &Secret::new("s3cret"));
        let stored = [held];
        assert!(matches_any(b"s3cret", &stored, now()));
        for wrong in [&b"s3cre"[..], b"s3cret ", b"", b"S3CRET"] {
            assert!(!matches_any(wrong, &stored, now()), "{wrong:?}");
        }
        let StoredSecret::Hashed(hash) = &stored[0].stored else {
            panic!("hashed")
        };
        let read_back = SecretHash::from_parts(hash.salt(), hash.digest()).unwrap();
        let again = [ActiveSecret {
            stored: StoredSecret::Hashed(read_back),
            expires_at: None,
        }];
        assert!(
            matches_any(b"s3cret", &again, now()),
            "what is stored is enough"
        );
        assert!(SecretHash::from_parts(&[0; 15], &[0; 32]).is_none());
    }

    #[test]
    fn a_retired_secret_is_accepted_until_its_expiry_and_never_after() {
        let method = AuthMethod::Bearer;
        let mut old = ActiveSecret::new(&method, &Secret::new("old"));
        old.expires_at = Some(now() + Duration::seconds(60));
        let secrets = [ActiveSecret::new(&method, &Secret::new("new")), old];
        assert!(matches_any(b"old", &secrets, now() + Duration::seconds(59)));
        assert!(!matches_any(
            b"old",
            &secrets,
            now() + Duration::seconds(60)
        ));
        assert!(matches_any(b"new", &secrets, now() + Duration::days(400)));
        assert_eq!(valid_at(&secrets, now() + Duration::seconds(60)).count(), 1);
        let mut key = ActiveSecret::new(&AuthMethod::StandardWebhooks, &Secret::new("whsec_a2V5"));
        key.expires_at = Some(now());
        assert!(
            keys_at(&[key], now()).is_empty(),
            "an expired key signs nothing"
        );
    }
}
