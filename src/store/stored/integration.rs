//! An integration as either database keeps it: its settings as columns of text, its format's
//! mapping as JSON, and each secret whole or as its salted hash (`auth::StoredSecret`).

use chrono::{DateTime, Utc};

use super::corrupt;
use crate::auth::{ActiveSecret, AuthMethod, Secret, SecretHash, StoredSecret};
use crate::formats::{Format, Mapping};
use crate::integration::Integration;
use crate::store::StoreError;

/// The columns of one `integrations` row.
pub(in crate::store) struct IntegrationRow {
    pub name: String,
    pub format: String,
    pub auth_mode: String,
    pub auth_header: Option<String>,
    pub auth_prefix: Option<String>,
    pub auth_encoding: Option<String>,
    pub capture_payload: bool,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub mapping: Option<String>,
}

/// The integration a row and its secrets (newest first) describe.
pub(in crate::store) fn integration(
    row: IntegrationRow,
    secrets: Vec<ActiveSecret>,
) -> Result<Integration, StoreError> {
    let auth = AuthMethod::from_parts(
        &row.auth_mode,
        row.auth_header.as_deref(),
        row.auth_prefix.as_deref(),
        row.auth_encoding.as_deref(),
    )
    .map_err(|(field, _)| corrupt("auth setting", field))?;
    Ok(Integration {
        format: format(&row.format, row.mapping.as_deref())?,
        auth,
        capture_payload: row.capture_payload,
        enabled: row.enabled,
        secrets,
        created_at: row.created_at,
        updated_at: row.updated_at,
        name: row.name,
    })
}

/// The format as stored: its name, and for `mapping` the pointers as JSON.
fn format(name: &str, mapping: Option<&str>) -> Result<Format, StoreError> {
    if let Some(format) = Format::named(name) {
        return Ok(format);
    }
    match (name, mapping) {
        ("mapping", Some(json)) => serde_json::from_str::<Mapping>(json)
            .map(|mapping| Format::Mapping(Box::new(mapping)))
            .map_err(|_| corrupt("mapping", json)),
        _ => Err(corrupt("format", name)),
    }
}

/// The `mapping` column of `format`: its pointers as JSON, for a mapping format only.
pub(in crate::store) fn mapping_json(format: &Format) -> Option<String> {
    format
        .mapping()
        .map(|mapping| serde_json::to_string(mapping).expect("a mapping serializes"))
}

/// The `secret`, `salt` and `sha256` columns of `secret` held as `method` holds it: whole, or
/// only its salted hash.
pub(in crate::store) type SecretColumns = (Option<String>, Option<Vec<u8>>, Option<Vec<u8>>);

pub(in crate::store) fn secret_columns(method: &AuthMethod, secret: &Secret) -> SecretColumns {
    match StoredSecret::of(method, secret) {
        StoredSecret::Kept(secret) => (Some(secret.expose().to_string()), None, None),
        StoredSecret::Hashed(hash) => (
            None,
            Some(hash.salt().to_vec()),
            Some(hash.digest().to_vec()),
        ),
    }
}

/// One secret read back from its columns, with its expiry.
pub(in crate::store) fn secret(
    (text, salt, digest): SecretColumns,
    expires_at: Option<DateTime<Utc>>,
) -> Result<ActiveSecret, StoreError> {
    let stored = match (text, salt, digest) {
        (Some(text), None, None) => StoredSecret::Kept(Secret::new(text)),
        (None, Some(salt), Some(digest)) => StoredSecret::Hashed(
            SecretHash::from_parts(&salt, &digest)
                .ok_or_else(|| corrupt("secret hash", "of the wrong length"))?,
        ),
        _ => return Err(corrupt("secret", "neither kept nor hashed")),
    };
    Ok(ActiveSecret { stored, expires_at })
}
