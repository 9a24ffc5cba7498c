//! SQL for integrations and their secrets. Every change bumps `integrations_revision` in the same
//! transaction, which is how a running server notices changes made from the CLI.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{corrupt, StoreError};
use crate::auth::{AuthMethod, Secret, MAX_SECRETS};
use crate::formats::{Format, Mapping};
use crate::integration::{Integration, NewIntegration};
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

pub(super) fn add(
    connection: &mut Connection,
    new: &NewIntegration,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let transaction = connection.transaction()?;
    let exists: bool = transaction.query_row(
        "SELECT EXISTS (SELECT 1 FROM integrations WHERE name = ?1)",
        [&new.name],
        |row| row.get(0),
    )?;
    if exists {
        return Err(StoreError::IntegrationExists(new.name.clone()));
    }
    let now = time::format(now);
    transaction.execute(
        &format!(
            "INSERT INTO integrations ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?8, ?9)"
        ),
        params![
            new.name,
            new.format.as_str(),
            new.auth.mode(),
            new.auth.header(),
            new.auth.prefix(),
            new.auth.encoding().map(|encoding| encoding.as_str()),
            new.capture_payload,
            now,
            new.format
                .mapping()
                .map(|mapping| serde_json::to_string(mapping).expect("a mapping serializes")),
        ],
    )?;
    if let Some(secret) = &new.secret {
        insert_secret(&transaction, &new.name, secret, &now)?;
    }
    bump_revision(&transaction)?;
    Ok(transaction.commit()?)
}

pub(super) fn remove(connection: &mut Connection, name: &str) -> Result<(), StoreError> {
    let transaction = connection.transaction()?;
    // Secrets go with it (ON DELETE CASCADE); alerts and events stay.
    if transaction.execute("DELETE FROM integrations WHERE name = ?1", [name])? == 0 {
        return Err(StoreError::NoSuchIntegration(name.into()));
    }
    bump_revision(&transaction)?;
    Ok(transaction.commit()?)
}

pub(super) fn set_enabled(
    connection: &mut Connection,
    name: &str,
    enabled: bool,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let transaction = connection.transaction()?;
    let changed = transaction.execute(
        "UPDATE integrations SET enabled = ?2, updated_at = ?3 WHERE name = ?1",
        params![name, enabled, time::format(now)],
    )?;
    if changed == 0 {
        return Err(StoreError::NoSuchIntegration(name.into()));
    }
    bump_revision(&transaction)?;
    Ok(transaction.commit()?)
}

/// Makes `secret` the newest active secret; without `keep_old` it becomes the only one.
pub(super) fn rotate_secret(
    connection: &mut Connection,
    name: &str,
    secret: &Secret,
    keep_old: bool,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let transaction = connection.transaction()?;
    let now = time::format(now);
    let changed = transaction.execute(
        "UPDATE integrations SET updated_at = ?2 WHERE name = ?1",
        params![name, now],
    )?;
    if changed == 0 {
        return Err(StoreError::NoSuchIntegration(name.into()));
    }
    if keep_old {
        let active: i64 = transaction.query_row(
            "SELECT count(*) FROM integration_secrets WHERE integration = ?1",
            [name],
            |row| row.get(0),
        )?;
        if active >= MAX_SECRETS as i64 {
            return Err(StoreError::TooManySecrets(name.into()));
        }
    } else {
        transaction.execute(
            "DELETE FROM integration_secrets WHERE integration = ?1",
            [name],
        )?;
    }
    insert_secret(&transaction, name, secret, &now)?;
    bump_revision(&transaction)?;
    Ok(transaction.commit()?)
}

fn insert_secret(
    connection: &Connection,
    name: &str,
    secret: &Secret,
    now: &str,
) -> Result<(), StoreError> {
    connection.execute(
        "INSERT INTO integration_secrets (integration, secret, created_at) VALUES (?1, ?2, ?3)",
        params![name, secret.expose(), now],
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

/// The text columns of one `integrations` row.
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

/// The format as stored: its name, and for `mapping` the pointers as JSON.
fn stored_format(name: &str, mapping: Option<&str>) -> Result<Format, StoreError> {
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

fn with_secrets(connection: &Connection, raw: RawIntegration) -> Result<Integration, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT secret FROM integration_secrets WHERE integration = ?1 ORDER BY created_at DESC, rowid DESC",
    )?;
    let secrets = statement
        .query_map([&raw.name], |row| row.get::<_, String>(0).map(Secret::new))?
        .collect::<Result<Vec<_>, _>>()?;
    let auth = AuthMethod::from_parts(
        &raw.auth_mode,
        raw.auth_header.as_deref(),
        raw.auth_prefix.as_deref(),
        raw.auth_encoding.as_deref(),
    )
    .map_err(|(field, _)| corrupt("auth setting", field))?;
    let parse_time = |text: &str| time::parse(text).ok_or_else(|| corrupt("time", text));
    Ok(Integration {
        format: stored_format(&raw.format, raw.mapping.as_deref())?,
        auth,
        capture_payload: raw.capture_payload,
        enabled: raw.enabled,
        secrets,
        created_at: parse_time(&raw.created_at)?,
        updated_at: parse_time(&raw.updated_at)?,
        name: raw.name,
    })
}
