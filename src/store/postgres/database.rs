//! `PgDatabase`: one direct connection to PostgreSQL, for the CLI, start-up and tests.
//!
//! A short-lived process needs neither the pool nor the store's two IO threads: a current-thread
//! runtime and one client do, and opening migrates, as opening a SQLite file does.

use tokio_postgres::Client;

use super::connect::{self, PgRuntime, PgSettings};
use super::schema;
use super::url::PgUrl;
use crate::store::StoreError;

/// A migrated PostgreSQL database, through one connection of its own.
pub struct PgDatabase {
    runtime: tokio::runtime::Runtime,
    client: Client,
    /// The schema versions this open applied: none when the database was up to date.
    applied: Vec<i32>,
}

impl PgDatabase {
    /// Connects and brings the schema to this build's version; refuses a newer one.
    pub fn open(url: &PgUrl, settings: &PgSettings) -> Result<PgDatabase, StoreError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| StoreError::Database(Box::new(error)))?;
        let config = connect::session_config(url, settings);
        let tls = connect::tls(url)?;
        let (client, applied) = runtime
            .block_on(async {
                let mut client = connect::connect(&config, tls).await?;
                let applied = schema::migrate(&mut client).await?;
                Ok::<_, StoreError>((client, applied))
            })
            .map_err(|error| naming(url, error))?;
        Ok(PgDatabase {
            runtime,
            client,
            applied,
        })
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
