//! SQL for integrations and their secrets. Every change bumps `integrations_revision` in the same
//! transaction and notifies `alertgate_integrations`, so every node's registry reloads at once
//! (and within its poll when a notification is missed).

use chrono::{DateTime, Duration, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::rows::ms;
use crate::auth::{AuthMethod, Secret, MAX_SECRETS};
use crate::integration::{Integration, NewIntegration};
use crate::store::{stored, IntegrationChange, StoreError};

/// The channel a change is announced on; its payload is the new revision.
pub(super) const CHANNEL: &str = "alertgate_integrations";

/// An integration with its secrets, newest first, read in one statement so that the settings
/// and the secrets come from one snapshot.
const SELECT: &str = "SELECT i.name, i.format, i.auth_mode, i.auth_header, i.auth_prefix, \
     i.auth_encoding, i.capture_payload, i.enabled, i.created_at, i.updated_at, i.mapping, \
     coalesce(array_agg(s.secret ORDER BY s.id DESC) FILTER (WHERE s.id IS NOT NULL), '{}'), \
     coalesce(array_agg(s.salt ORDER BY s.id DESC) FILTER (WHERE s.id IS NOT NULL), '{}'), \
     coalesce(array_agg(s.sha256 ORDER BY s.id DESC) FILTER (WHERE s.id IS NOT NULL), '{}'), \
     coalesce(array_agg(s.expires_at ORDER BY s.id DESC) FILTER (WHERE s.id IS NOT NULL), '{}') \
     FROM integrations i LEFT JOIN integration_secrets s ON s.integration = i.name";

pub(super) async fn revision(client: &impl GenericClient) -> Result<i64, StoreError> {
    let statement = client
        .prepare_cached("SELECT revision FROM integrations_revision")
        .await?;
    Ok(client.query_one(&statement, &[]).await?.try_get(0)?)
}

pub(super) async fn all(client: &impl GenericClient) -> Result<Vec<Integration>, StoreError> {
    let sql = format!("{SELECT} GROUP BY i.name ORDER BY i.name");
    let statement = client.prepare_cached(&sql).await?;
    let rows = client.query(&statement, &[]).await?;
    rows.iter().map(integration).collect()
}

pub(super) async fn get(
    client: &impl GenericClient,
    name: &str,
) -> Result<Option<Integration>, StoreError> {
    let sql = format!("{SELECT} WHERE i.name = $1 GROUP BY i.name");
    let statement = client.prepare_cached(&sql).await?;
    let row = client.query_opt(&statement, &[&name]).await?;
    row.as_ref().map(integration).transpose()
}

fn integration(row: &Row) -> Result<Integration, StoreError> {
    let texts: Vec<Option<String>> = row.try_get(11)?;
    let salts: Vec<Option<Vec<u8>>> = row.try_get(12)?;
    let digests: Vec<Option<Vec<u8>>> = row.try_get(13)?;
    let expiries: Vec<Option<DateTime<Utc>>> = row.try_get(14)?;
    let secrets = texts
        .into_iter()
        .zip(salts)
        .zip(digests)
        .zip(expiries)
        .map(|(((text, salt), digest), expires_at)| {
            stored::secret((text, salt, digest), expires_at)
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let columns = stored::IntegrationRow {
        name: row.try_get(0)?,
        format: row.try_get(1)?,
        auth_mode: row.try_get(2)?,
        auth_header: row.try_get(3)?,
        auth_prefix: row.try_get(4)?,
        auth_encoding: row.try_get(5)?,
        capture_payload: row.try_get(6)?,
        enabled: row.try_get(7)?,
        created_at: row.try_get(8)?,
        updated_at: row.try_get(9)?,
        mapping: row.try_get(10)?,
    };
    stored::integration(columns, secrets)
}

/// Applies `change` in the caller's transaction.
pub(super) async fn change(
    client: &impl GenericClient,
    change: &IntegrationChange,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let now = ms(now);
    match change {
        IntegrationChange::Add(new) => add(client, new, now).await,
        IntegrationChange::Update {
            integration,
            secret,
        } => update(client, integration, secret.as_ref(), now).await,
        IntegrationChange::Remove { name, purge } => remove(client, name, *purge).await,
        IntegrationChange::RotateSecret {
            name,
            secret,
            keep_old_for,
        } => rotate_secret(client, name, secret, *keep_old_for, now).await,
    }
}

pub(super) async fn add(
    client: &impl GenericClient,
    new: &NewIntegration,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let now = ms(now);
    // `ON CONFLICT DO NOTHING`: a name taken (by another node, even now) is an answer, not an
    // error that would abort the transaction.
    let statement = client
        .prepare_cached(
            "INSERT INTO integrations (name, format, auth_mode, auth_header, auth_prefix, \
             auth_encoding, capture_payload, enabled, created_at, updated_at, mapping) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, true, $8, $8, $9) \
             ON CONFLICT (name) DO NOTHING",
        )
        .await?;
    let added = client
        .execute(
            &statement,
            &[
                &new.name,
                &new.format.as_str(),
                &new.auth.mode(),
                &new.auth.header(),
                &new.auth.prefix(),
                &new.auth.encoding().map(crate::auth::Encoding::as_str),
                &new.capture_payload,
                &now,
                &stored::mapping_json(&new.format),
            ],
        )
        .await?;
    if added == 0 {
        return Err(StoreError::IntegrationExists(new.name.clone()));
    }
    if let Some(secret) = &new.secret {
        insert_secret(client, &new.name, &new.auth, secret, now).await?;
    }
    announce(client).await
}

async fn update(
    client: &impl GenericClient,
    changed: &Integration,
    secret: Option<&Secret>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let statement = client
        .prepare_cached(
            "UPDATE integrations SET format = $2, auth_mode = $3, auth_header = $4, \
             auth_prefix = $5, auth_encoding = $6, capture_payload = $7, enabled = $8, \
             mapping = $9, updated_at = $10 WHERE name = $1",
        )
        .await?;
    let updated = client
        .execute(
            &statement,
            &[
                &changed.name,
                &changed.format.as_str(),
                &changed.auth.mode(),
                &changed.auth.header(),
                &changed.auth.prefix(),
                &changed.auth.encoding().map(crate::auth::Encoding::as_str),
                &changed.capture_payload,
                &changed.enabled,
                &stored::mapping_json(&changed.format),
                &now,
            ],
        )
        .await?;
    if updated == 0 {
        return Err(StoreError::NoSuchIntegration(changed.name.clone()));
    }
    if secret.is_some() || !changed.auth.needs_secret() {
        delete_secrets(client, &changed.name).await?;
    }
    if let Some(secret) = secret {
        insert_secret(client, &changed.name, &changed.auth, secret, now).await?;
    }
    announce(client).await
}

/// Removes the integration and its secrets; with `purge`, its alerts, their timelines, its
/// deliveries and its share of the counters too.
async fn remove(client: &impl GenericClient, name: &str, purge: bool) -> Result<(), StoreError> {
    let statement = client
        .prepare_cached("DELETE FROM integrations WHERE name = $1")
        .await?;
    if client.execute(&statement, &[&name]).await? == 0 {
        return Err(StoreError::NoSuchIntegration(name.into()));
    }
    // Its secrets go by cascade; its idempotency keys by hand, so a name added again later
    // starts with none (SPEC §6).
    client
        .execute(
            "DELETE FROM idempotency_keys WHERE integration = $1",
            &[&name],
        )
        .await?;
    if purge {
        super::counters::forget_integration(client, name).await?;
        // Its alerts go with their keys (cascade).
        for table in [
            "alert_keys",
            "alert_events",
            "deliveries",
            "rejection_tallies",
        ] {
            let sql = format!("DELETE FROM {table} WHERE integration = $1");
            client.execute(&sql, &[&name]).await?;
        }
    }
    announce(client).await
}

/// Makes `secret` the newest active secret. With `keep_old_for`, the current ones stay valid
/// that much longer (never longer than an earlier rotation gave them); without it, `secret`
/// becomes the only one. The integration's row is locked first, so two rotations at once (on
/// two nodes) count the secrets one after the other and never make six.
async fn rotate_secret(
    client: &impl GenericClient,
    name: &str,
    secret: &Secret,
    keep_old_for: Option<Duration>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let lock = client
        .prepare_cached("SELECT name FROM integrations WHERE name = $1 FOR UPDATE")
        .await?;
    if client.query_opt(&lock, &[&name]).await?.is_none() {
        return Err(StoreError::NoSuchIntegration(name.into()));
    }
    // The mode as it is in this transaction decides how the secret is held.
    let integration = get(client, name)
        .await?
        .ok_or_else(|| StoreError::NoSuchIntegration(name.into()))?;
    client
        .execute(
            "UPDATE integrations SET updated_at = $2 WHERE name = $1",
            &[&name, &now],
        )
        .await?;
    // Expired secrets are refused anyway; they go here, where they would count against the five.
    client
        .execute(
            "DELETE FROM integration_secrets WHERE integration = $1 AND expires_at <= $2",
            &[&name, &now],
        )
        .await?;
    if let Some(keep_for) = keep_old_for {
        let active: i64 = client
            .query_one(
                "SELECT count(*) FROM integration_secrets WHERE integration = $1",
                &[&name],
            )
            .await?
            .try_get(0)?;
        if usize::try_from(active).is_ok_and(|active| active >= MAX_SECRETS) {
            return Err(StoreError::TooManySecrets(name.into()));
        }
        let until = ms(now
            .checked_add_signed(keep_for)
            .unwrap_or(DateTime::<Utc>::MAX_UTC));
        client
            .execute(
                "UPDATE integration_secrets SET expires_at = least(coalesce(expires_at, $2), $2) \
                 WHERE integration = $1",
                &[&name, &until],
            )
            .await?;
    } else {
        delete_secrets(client, name).await?;
    }
    insert_secret(client, name, &integration.auth, secret, now).await?;
    announce(client).await
}

async fn delete_secrets(client: &impl GenericClient, name: &str) -> Result<(), StoreError> {
    client
        .execute(
            "DELETE FROM integration_secrets WHERE integration = $1",
            &[&name],
        )
        .await?;
    Ok(())
}

/// Stores `secret` as `method` holds it: whole, or only its salted hash.
async fn insert_secret(
    client: &impl GenericClient,
    name: &str,
    method: &AuthMethod,
    secret: &Secret,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let (text, salt, digest) = stored::secret_columns(method, secret);
    let statement = client
        .prepare_cached(
            "INSERT INTO integration_secrets (integration, secret, salt, sha256, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .await?;
    client
        .execute(&statement, &[&name, &text, &salt, &digest, &now])
        .await?;
    Ok(())
}

/// Bumps the revision and tells every listening node, both at the commit.
async fn announce(client: &impl GenericClient) -> Result<(), StoreError> {
    let statement = client
        .prepare_cached(
            "WITH bumped AS (UPDATE integrations_revision SET revision = revision + 1 \
                             RETURNING revision) \
             SELECT pg_notify($1, revision::text) FROM bumped",
        )
        .await?;
    client.query_one(&statement, &[&CHANNEL]).await?;
    Ok(())
}
