//! A direct connection to the database, for the CLI and for start-up: managing integrations and
//! reading alerts without a running server. SQLite's locking makes this safe beside a running
//! server; the server notices integration changes through the revision counter.

use std::path::Path;

use chrono::Utc;
use rusqlite::Connection;

use super::{
    alerts, integrations, listing, schema, AlertFilter, AlertPage, StoreError, TimelineEntry,
};
use crate::auth::Secret;
use crate::integration::{Integration, NewIntegration};
use crate::lifecycle::Alert;

pub struct SqliteDatabase {
    connection: Connection,
}

impl SqliteDatabase {
    /// Opens (creating and migrating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<SqliteDatabase, StoreError> {
        Ok(SqliteDatabase {
            connection: schema::open_for_writing(path)?,
        })
    }

    /// Copies the whole database, as of one moment, to the new file `target`.
    pub fn backup(&self, target: &Path) -> Result<(), StoreError> {
        schema::backup(&self.connection, target)
    }

    /// `PRAGMA integrity_check`: `ok`, or what SQLite found wrong.
    pub fn integrity(&self) -> Result<String, StoreError> {
        Ok(self
            .connection
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))?)
    }

    pub fn integrations(&self) -> Result<Vec<Integration>, StoreError> {
        integrations::all(&self.connection)
    }

    pub fn integration(&self, name: &str) -> Result<Integration, StoreError> {
        integrations::get(&self.connection, name)?
            .ok_or_else(|| StoreError::NoSuchIntegration(name.into()))
    }

    pub fn add_integration(&mut self, new: &NewIntegration) -> Result<Integration, StoreError> {
        self.change(|connection| integrations::add(connection, new, Utc::now()))?;
        self.integration(&new.name)
    }

    pub fn remove_integration(&mut self, name: &str) -> Result<(), StoreError> {
        self.change(|connection| integrations::remove(connection, name, false))
    }

    pub fn set_enabled(&mut self, name: &str, enabled: bool) -> Result<(), StoreError> {
        self.change(|connection| integrations::set_enabled(connection, name, enabled, Utc::now()))
    }

    pub fn rotate_secret(
        &mut self,
        name: &str,
        secret: &Secret,
        keep_old_for: Option<chrono::Duration>,
    ) -> Result<(), StoreError> {
        self.change(|connection| {
            integrations::rotate_secret(connection, name, secret, keep_old_for, Utc::now())
        })
    }

    /// Runs `change` in a transaction of its own.
    fn change(
        &mut self,
        change: impl FnOnce(&Connection) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let transaction = self.connection.transaction()?;
        change(&transaction)?;
        Ok(transaction.commit()?)
    }

    pub fn alert(&self, integration: &str, id: &str) -> Result<Option<Alert>, StoreError> {
        alerts::load(&self.connection, integration, id)
    }

    pub fn timeline(&self, integration: &str, id: &str) -> Result<Vec<TimelineEntry>, StoreError> {
        alerts::timeline(&self.connection, integration, id, 0, usize::MAX)
    }

    pub fn alerts(&self, filter: &AlertFilter) -> Result<AlertPage, StoreError> {
        listing::list(&self.connection, filter)
    }

    /// How SQLite runs the query for `filter`: `EXPLAIN QUERY PLAN`, one line per step.
    pub fn alerts_query_plan(&self, filter: &AlertFilter) -> Result<Vec<String>, StoreError> {
        listing::plan(&self.connection, filter)
    }
}
