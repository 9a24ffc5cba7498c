//! SQL for integrations and their secrets. Every change bumps `integrations_revision` in the same
//! transaction, which is how a running server notices changes made from the CLI.

use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{corrupt, counters, StoreError};
use crate::auth::{AuthMethod, Secret, StoredSecret, MAX_SECRETS};
use crate::integration::{Integration, NewIntegration};
use crate::store::stored;
use crate::time;

const COLUMNS: &str = "name, format, auth_mode, auth_header, auth_prefix, auth_encoding, \
     capture_payload, enabled, created_at, updated_at, mapping";

pub(super) fn revision(connection: &Connection) -> Result<i64, StoreError> {
    let mut statement = connection.prepare_cached("SELECT revision FROM integrations_revision")?;
    Ok(statement.query_row([], |row| row.get(0))?)
}

pub(super) fn all(connection: &Connection) -> Result<Vec<Integration>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM integrations ORDER BY name");
    let mut statement = connection.prepare(&sql)?;
    let rows = statement.query_map([], raw_integration)?;
    rows.map(|row| with_secrets(connection, row?)).collect()
}

pub(super) fn get(connection: &Connection, name: &str) -> Result<Option<Integration>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM integrations WHERE name = ?1");
    let row = connection
        .query_row(&sql, [name], raw_integration)
        .optional()?;
    row.map(|row| with_secrets(connection, row)).transpose()
}

/// Adds `new`. Runs inside the caller's transaction, like every change here.
pub(super) fn add(
    connection: &Connection,
    new: &NewIntegration,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let exists: bool = connection.query_row(
        "SELECT EXISTS (SELECT 1 FROM integrations WHERE name = ?1)",
        [&new.name],
        |row| row.get(0),
    )?;
    if exists {
        return Err(StoreError::IntegrationExists(new.name.clone()));
    }
    let now = time::format(now);
    connection.execute(
        &format!("INSERT INTO integrations ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?8, ?9)"),
        params![
            new.name,
            new.format.as_str(),
            new.auth.mode(),
            new.auth.header(),
            new.auth.prefix(),
            new.auth.encoding().map(crate::auth::Encoding::as_str),
            new.capture_payload,
            now,
            stored::mapping_json(&new.format),
        ],
    )?;
    if let Some(secret) = &new.secret {
        insert_secret(connection, &new.name, &new.auth, secret, &now)?;
    }
    bump_revision(connection)
}

/// Replaces the settings of `changed.name` (format, auth, capture, enabled); when `secret` is
/// given, it replaces every active secret, and a mode that takes none drops them all.
pub(super) fn update(
    connection: &Connection,
    changed: &Integration,
    secret: Option<&Secret>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let now = time::format(now);
    let updated = connection.execute(
        "UPDATE integrations SET format = ?2, auth_mode = ?3, auth_header = ?4, auth_prefix = ?5, \
         auth_encoding = ?6, capture_payload = ?7, enabled = ?8, mapping = ?9, updated_at = ?10 \
         WHERE name = ?1",
        params![
            changed.name,
            changed.format.as_str(),
            changed.auth.mode(),
            changed.auth.header(),
            changed.auth.prefix(),
            changed.auth.encoding().map(crate::auth::Encoding::as_str),
            changed.capture_payload,
            changed.enabled,
            stored::mapping_json(&changed.format),
            now,
        ],
    )?;
    if updated == 0 {
        return Err(StoreError::NoSuchIntegration(changed.name.clone()));
    }
    if secret.is_some() || !changed.auth.needs_secret() {
        connection.execute(
            "DELETE FROM integration_secrets WHERE integration = ?1",
            [&changed.name],
        )?;
    }
    if let Some(secret) = secret {
        insert_secret(connection, &changed.name, &changed.auth, secret, &now)?;
    }
    bump_revision(connection)
}

/// Removes the integration and its secrets; with `purge`, its alerts, their timelines, its
/// deliveries and idempotency keys too.
pub(super) fn remove(connection: &Connection, name: &str, purge: bool) -> Result<(), StoreError> {
    if connection.execute("DELETE FROM integrations WHERE name = ?1", [name])? == 0 {
        return Err(StoreError::NoSuchIntegration(name.into()));
    }
    // Its secrets go by cascade; its idempotency keys by hand, so a name added again later
    // starts with none (SPEC §6).
    connection.execute(
        "DELETE FROM idempotency_keys WHERE integration = ?1",
        [name],
    )?;
    if purge {
        counters::forget_integration(connection, name)?;
        // The title index forgets a row only when told its old text.
        connection.execute(
            "INSERT INTO alert_titles (alert_titles, rowid, title) \
             SELECT 'delete', key, title FROM alerts WHERE integration = ?1",
            [name],
        )?;
        for table in ["alerts", "alert_events", "deliveries", "rejection_tallies"] {
            connection.execute(
                &format!("DELETE FROM {table} WHERE integration = ?1"),
                [name],
            )?;
        }
    }
    bump_revision(connection)
}

pub(super) fn set_enabled(
    connection: &Connection,
    name: &str,
    enabled: bool,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let changed = connection.execute(
        "UPDATE integrations SET enabled = ?2, updated_at = ?3 WHERE name = ?1",
        params![name, enabled, time::format(now)],
    )?;
    if changed == 0 {
        return Err(StoreError::NoSuchIntegration(name.into()));
    }
    bump_revision(connection)
}

/// Makes `secret` the newest active secret. With `keep_old_for`, the current ones stay valid
/// that much longer (one already retired keeps its earlier expiry: a rotation never extends a
/// secret's life); without it, `secret` becomes the only one.
pub(super) fn rotate_secret(
    connection: &Connection,
    name: &str,
    secret: &Secret,
    keep_old_for: Option<Duration>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    // The mode as it is in this transaction decides how the secret is held.
    let integration =
        get(connection, name)?.ok_or_else(|| StoreError::NoSuchIntegration(name.into()))?;
    let now_text = time::format(now);
    connection.execute(
        "UPDATE integrations SET updated_at = ?2 WHERE name = ?1",
        params![name, now_text],
    )?;
    // Expired secrets are refused anyway; they go here, where they would count against the five.
    connection.execute(
        "DELETE FROM integration_secrets WHERE integration = ?1 AND expires_at <= ?2",
        params![name, now_text],
    )?;
    if let Some(keep_for) = keep_old_for {
        let active: i64 = connection.query_row(
            "SELECT count(*) FROM integration_secrets WHERE integration = ?1",
            [name],
            |row| row.get(0),
        )?;
        if usize::try_from(active).is_ok_and(|active| active >= MAX_SECRETS) {
            return Err(StoreError::TooManySecrets(name.into()));
        }
        let until = now
            .checked_add_signed(keep_for)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        connection.execute(
            "UPDATE integration_secrets SET expires_at = min(coalesce(expires_at, ?2), ?2) \
             WHERE integration = ?1",
            params![name, time::format(until)],
        )?;
    } else {
        connection.execute(
            "DELETE FROM integration_secrets WHERE integration = ?1",
            [name],
        )?;
    }
    insert_secret(connection, name, &integration.auth, secret, &now_text)?;
    bump_revision(connection)
}

/// Schema step 4: every secret of a token, bearer or basic integration, stored as text by an
/// earlier version, becomes its salted hash. Answers how many did.
pub(super) fn hash_compared_secrets(connection: &Connection) -> Result<usize, StoreError> {
    let mut statement = connection.prepare(
        "SELECT s.id, s.secret, i.auth_mode FROM integration_secrets AS s \
         JOIN integrations AS i ON i.name = s.integration WHERE s.secret IS NOT NULL",
    )?;
    let rows = statement
        .query_map([], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut hashed = 0;
    for (id, text, mode) in rows {
        // Only the mode matters here, not its header or prefix.
        let method = AuthMethod::from_parts(&mode, None, None, None)
            .map_err(|_| corrupt("auth mode", &mode))?;
        if let StoredSecret::Hashed(hash) = StoredSecret::of(&method, &Secret::new(text)) {
            connection.execute(
                "UPDATE integration_secrets SET secret = NULL, salt = ?2, sha256 = ?3 WHERE id = ?1",
                params![id, hash.salt(), hash.digest()],
            )?;
            hashed += 1;
        }
    }
    Ok(hashed)
}

/// Stores `secret` as `method` holds it: whole, or only its salted hash (`auth::StoredSecret`).
fn insert_secret(
    connection: &Connection,
    name: &str,
    method: &AuthMethod,
    secret: &Secret,
    now: &str,
) -> Result<(), StoreError> {
    let (text, salt, digest) = stored::secret_columns(method, secret);
    connection.execute(
        "INSERT INTO integration_secrets (integration, secret, salt, sha256, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![name, text, salt, digest, now],
    )?;
    Ok(())
}

fn bump_revision(connection: &Connection) -> Result<(), StoreError> {
    connection.execute(
        "UPDATE integrations_revision SET revision = revision + 1",
        [],
    )?;
    Ok(())
}

/// The columns of one `integrations` row, times still text.
struct RawIntegration {
    name: String,
    format: String,
    auth_mode: String,
    auth_header: Option<String>,
    auth_prefix: Option<String>,
    auth_encoding: Option<String>,
    capture_payload: bool,
    enabled: bool,
    created_at: String,
    updated_at: String,
    mapping: Option<String>,
}

fn raw_integration(row: &Row<'_>) -> rusqlite::Result<RawIntegration> {
    Ok(RawIntegration {
        name: row.get(0)?,
        format: row.get(1)?,
        auth_mode: row.get(2)?,
        auth_header: row.get(3)?,
        auth_prefix: row.get(4)?,
        auth_encoding: row.get(5)?,
        capture_payload: row.get(6)?,
        enabled: row.get(7)?,
        created_at: row.get(8)?,
        updated_at: row.get(9)?,
        mapping: row.get(10)?,
    })
}

fn with_secrets(connection: &Connection, raw: RawIntegration) -> Result<Integration, StoreError> {
    // Newest first by id, which grows with every insert whatever the clock of the process (CLI or
    // server) that wrote it said.
    let mut statement = connection.prepare_cached(
        "SELECT secret, salt, sha256, expires_at FROM integration_secrets WHERE integration = ?1 \
         ORDER BY id DESC",
    )?;
    let secrets = statement
        .query_map([&raw.name], |row| {
            Ok((
                (row.get(0)?, row.get(1)?, row.get(2)?),
                row.get::<_, Option<String>>(3)?,
            ))
        })?
        .map(|row| {
            let (columns, expires_at) = row?;
            let expires_at = expires_at
                .map(|text| time::parse(&text).ok_or_else(|| corrupt("time", &text)))
                .transpose()?;
            stored::secret(columns, expires_at)
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let parse_time = |text: &str| time::parse(text).ok_or_else(|| corrupt("time", text));
    let row = stored::IntegrationRow {
        created_at: parse_time(&raw.created_at)?,
        updated_at: parse_time(&raw.updated_at)?,
        name: raw.name,
        format: raw.format,
        auth_mode: raw.auth_mode,
        auth_header: raw.auth_header,
        auth_prefix: raw.auth_prefix,
        auth_encoding: raw.auth_encoding,
        capture_payload: raw.capture_payload,
        enabled: raw.enabled,
        mapping: raw.mapping,
    };
    stored::integration(row, secrets)
}
