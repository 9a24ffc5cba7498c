//! A direct connection to the database, for the CLI, start-up and tests: managing integrations
//! and reading alerts without a running server, on whichever store `--db` names.

use std::path::Path;

use super::{
    AlertFilter, AlertPage, DbLocation, PgDatabase, PgSettings, SqliteDatabase, StoreError,
    TimelineEntry,
};
use crate::auth::Secret;
use crate::integration::{Integration, NewIntegration};
use crate::lifecycle::Alert;

pub enum Database {
    Sqlite(SqliteDatabase),
    Postgres(Box<PgDatabase>),
}

impl Database {
    /// Opens (creating and migrating if needed) the database at `location`.
    pub fn open(location: impl Into<DbLocation>) -> Result<Database, StoreError> {
        match location.into() {
            DbLocation::Sqlite(path) => Ok(Database::Sqlite(SqliteDatabase::open(&path)?)),
            DbLocation::Postgres(url) => Ok(Database::Postgres(Box::new(PgDatabase::open(
                &url,
                &PgSettings::default(),
            )?))),
        }
    }

    /// Copies the whole database, as of one moment, to the new file `target`.
    pub fn backup(&self, target: &Path) -> Result<(), StoreError> {
        match self {
            Database::Sqlite(database) => database.backup(target),
            Database::Postgres(_) => Err(StoreError::NotOnPostgres(
                "backup copies a SQLite file; back a PostgreSQL database up with pg_dump \
                 (or the server's own backups)",
            )),
        }
    }

    /// `ok`, or what the database's own check found wrong.
    pub fn integrity(&self) -> Result<String, StoreError> {
        match self {
            Database::Sqlite(database) => database.integrity(),
            Database::Postgres(_) => Err(StoreError::NotOnPostgres(
                "the integrity check is SQLite's; PostgreSQL checks its own pages",
            )),
        }
    }

    pub fn integrations(&self) -> Result<Vec<Integration>, StoreError> {
        match self {
            Database::Sqlite(database) => database.integrations(),
            Database::Postgres(database) => database.integrations(),
        }
    }

    pub fn integration(&self, name: &str) -> Result<Integration, StoreError> {
        match self {
            Database::Sqlite(database) => database.integration(name),
            Database::Postgres(database) => database.integration(name),
        }
    }

    pub fn add_integration(&mut self, new: &NewIntegration) -> Result<Integration, StoreError> {
        match self {
            Database::Sqlite(database) => database.add_integration(new),
            Database::Postgres(database) => database.add_integration(new),
        }
    }

    pub fn remove_integration(&mut self, name: &str) -> Result<(), StoreError> {
        match self {
            Database::Sqlite(database) => database.remove_integration(name),
            Database::Postgres(database) => database.remove_integration(name),
        }
    }

    pub fn set_enabled(&mut self, name: &str, enabled: bool) -> Result<(), StoreError> {
        match self {
            Database::Sqlite(database) => database.set_enabled(name, enabled),
            Database::Postgres(database) => database.set_enabled(name, enabled),
        }
    }

    pub fn rotate_secret(
        &mut self,
        name: &str,
        secret: &Secret,
        keep_old_for: Option<chrono::Duration>,
    ) -> Result<(), StoreError> {
        match self {
            Database::Sqlite(database) => database.rotate_secret(name, secret, keep_old_for),
            Database::Postgres(database) => database.rotate_secret(name, secret, keep_old_for),
        }
    }

    pub fn alert(&self, integration: &str, id: &str) -> Result<Option<Alert>, StoreError> {
        match self {
            Database::Sqlite(database) => database.alert(integration, id),
            Database::Postgres(database) => database.alert(integration, id),
        }
    }

    pub fn timeline(&self, integration: &str, id: &str) -> Result<Vec<TimelineEntry>, StoreError> {
        match self {
            Database::Sqlite(database) => database.timeline(integration, id),
            Database::Postgres(database) => database.timeline(integration, id),
        }
    }

    pub fn alerts(&self, filter: &AlertFilter) -> Result<AlertPage, StoreError> {
        match self {
            Database::Sqlite(database) => database.alerts(filter),
            Database::Postgres(database) => database.alerts(filter),
        }
    }

    /// How the database runs the query for `filter`, one line per step.
    pub fn alerts_query_plan(&self, filter: &AlertFilter) -> Result<Vec<String>, StoreError> {
        match self {
            Database::Sqlite(database) => database.alerts_query_plan(filter),
            Database::Postgres(_) => Err(StoreError::NotOnPostgres(
                "query plans are shown for SQLite only; use EXPLAIN in psql",
            )),
        }
    }
}
