//! `PgDatabase`: one direct connection to PostgreSQL, for the CLI, start-up and tests.
//!
//! A short-lived process needs neither a pool of readers nor the store's two IO threads: a
//! current-thread runtime and one connection do (held as a pool of one, for its cache of
//! prepared statements), and opening migrates, as opening a SQLite file does. Changes to
//! integrations bump the revision and notify every running node, as the server's own do.

use chrono::Utc;
use deadpool_postgres::Object;
use tokio_postgres::Client;

use super::connect::{self, PgRuntime, PgSettings};
use super::url::PgUrl;
use super::{alerts, integrations, listing, schema};
use crate::auth::Secret;
use crate::integration::{Integration, NewIntegration};
use crate::lifecycle::Alert;
use crate::store::{AlertFilter, AlertPage, IntegrationChange, StoreError, TimelineEntry};

/// A migrated PostgreSQL database, through one connection of its own.
pub struct PgDatabase {
    client: Object,
    /// The schema versions this open applied: none when the database was up to date.
    applied: Vec<i32>,
    /// Last, so that it outlives the connection whose IO it runs.
    runtime: tokio::runtime::Runtime,
}

impl PgDatabase {
    /// Connects and brings the schema to this build's version; refuses a newer one.
    pub fn open(url: &PgUrl, settings: &PgSettings) -> Result<PgDatabase, StoreError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| StoreError::Database(Box::new(error)))?;
        let config = connect::session_config(url, settings);
        let one = PgSettings {
            pool_size: 1,
            ..*settings
        };
        let pool = connect::pool(config, connect::tls(url)?, &one)?;
        let (client, applied) = runtime
            .block_on(async {
                let mut client = pool.get().await?;
                let applied = schema::migrate(&mut client).await?;
                Ok::<_, StoreError>((client, applied))
            })
            .map_err(|error| naming(url, error))?;
        Ok(PgDatabase {
            client,
            applied,
            runtime,
        })
    }

    pub fn integrations(&self) -> Result<Vec<Integration>, StoreError> {
        self.runtime.block_on(integrations::all(&self.client))
    }

    pub fn integration(&self, name: &str) -> Result<Integration, StoreError> {
        self.runtime
            .block_on(integrations::get(&self.client, name))?
            .ok_or_else(|| StoreError::NoSuchIntegration(name.into()))
    }

    pub fn add_integration(&mut self, new: &NewIntegration) -> Result<Integration, StoreError> {
        self.runtime.block_on(async {
            let transaction = self.client.transaction().await?;
            integrations::add(&transaction, new, Utc::now()).await?;
            transaction.commit().await?;
            Ok::<_, StoreError>(())
        })?;
        self.integration(&new.name)
    }

    pub fn remove_integration(&mut self, name: &str) -> Result<(), StoreError> {
        self.change(&IntegrationChange::Remove {
            name: name.into(),
            purge: false,
        })
    }

    pub fn set_enabled(&mut self, name: &str, enabled: bool) -> Result<(), StoreError> {
        let mut integration = self.integration(name)?;
        integration.enabled = enabled;
        self.change(&IntegrationChange::Update {
            integration: Box::new(integration),
            secret: None,
        })
    }

    pub fn rotate_secret(
        &mut self,
        name: &str,
        secret: &Secret,
        keep_old_for: Option<chrono::Duration>,
    ) -> Result<(), StoreError> {
        self.change(&IntegrationChange::RotateSecret {
            name: name.into(),
            secret: secret.clone(),
            keep_old_for,
        })
    }

    /// Applies `change` in a transaction of its own.
    fn change(&mut self, change: &IntegrationChange) -> Result<(), StoreError> {
        self.runtime.block_on(async {
            let transaction = self.client.transaction().await?;
            integrations::change(&transaction, change, Utc::now()).await?;
            transaction.commit().await?;
            Ok(())
        })
    }

    pub fn alert(&self, integration: &str, id: &str) -> Result<Option<Alert>, StoreError> {
        self.runtime
            .block_on(alerts::load(&self.client, integration, id))
    }

    pub fn timeline(&self, integration: &str, id: &str) -> Result<Vec<TimelineEntry>, StoreError> {
        self.runtime.block_on(alerts::timeline(
            &self.client,
            integration,
            id,
            0,
            usize::MAX,
        ))
    }

    pub fn alerts(&self, filter: &AlertFilter) -> Result<AlertPage, StoreError> {
        self.runtime.block_on(listing::list(&self.client, filter))
    }

    /// The schema versions this open applied.
    #[doc(hidden)]
    pub fn applied_at_open(&self) -> &[i32] {
        &self.applied
    }

    /// A setting of this connection's session, as `SHOW` gives it.
    #[doc(hidden)]
    pub fn session_setting(&self, name: &str) -> Result<String, StoreError> {
        self.runtime.block_on(show(&self.client, name))
    }

    /// A setting of a session of the readers' pool on the store's runtime, as the server's
    /// requests will see it.
    #[doc(hidden)]
    pub fn pooled_session_setting(
        url: &PgUrl,
        settings: &PgSettings,
        name: &str,
    ) -> Result<String, StoreError> {
        let runtime = PgRuntime::new()?;
        let pool = connect::pool(
            connect::session_config(url, settings),
            connect::tls(url)?,
            settings,
        )?;
        runtime.block_on(async {
            let client = pool
                .get()
                .await
                .map_err(|error| naming(url, error.into()))?;
            show(&client, name).await
        })
    }
}

async fn show(client: &Client, name: &str) -> Result<String, StoreError> {
    let row = client
        .query_one("SELECT current_setting($1)", &[&name])
        .await?;
    Ok(row.get(0))
}

/// An unreachable database's error with the URL it was at (never its password).
fn naming(url: &PgUrl, error: StoreError) -> StoreError {
    match error {
        StoreError::Unavailable(why) => StoreError::Unavailable(format!("{url}: {why}")),
        other => other,
    }
}
