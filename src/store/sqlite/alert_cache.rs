//! The writer's copy of the alerts it last read or wrote, so that the next event for the same
//! alert skips a SELECT and the parsing of its row (a fifth of the writer's work per event).
//!
//! Only the writer thread writes alerts, so a copy stays current with three exceptions, each of
//! which empties the cache: a savepoint or group that rolls back (its writes are undone), an
//! integration change applied by the writer (the admin API's purge deletes alerts), and any
//! integration change made by another process (the CLI), which moves the integrations revision
//! that the writer reads at the start of every group. No other process writes alerts today; the
//! revision check keeps the cache safe if one ever does it through an integration change.

use std::collections::HashMap;

use rusqlite::Connection;

use super::{integrations, StoreError};
use crate::lifecycle::Alert;

/// Alerts held at most; past it the cache starts again empty (bounded memory, no bookkeeping).
const CAPACITY: usize = 4096;

#[derive(Default)]
pub(super) struct AlertCache {
    /// Integration → sender Id → alert, so a lookup borrows both keys.
    alerts: HashMap<String, HashMap<String, Alert>>,
    len: usize,
    /// The integrations revision the copies were made under.
    revision: Option<i64>,
}

impl AlertCache {
    pub(super) fn get(&self, integration: &str, id: &str) -> Option<&Alert> {
        self.alerts.get(integration)?.get(id)
    }

    /// Keeps `alert` as it now stands in this transaction.
    pub(super) fn put(&mut self, alert: &Alert) {
        if self.len >= CAPACITY {
            self.clear();
        }
        let by_id = self.alerts.entry(alert.integration.clone()).or_default();
        if by_id.insert(alert.id.clone(), alert.clone()).is_none() {
            self.len += 1;
        }
    }

    pub(super) fn clear(&mut self) {
        self.alerts.clear();
        self.len = 0;
    }

    /// Empties the cache when another process changed integrations since the last group. Called
    /// inside the group's write transaction, so nothing can change it again until the commit.
    pub(super) fn check_revision(&mut self, connection: &Connection) -> Result<(), StoreError> {
        let revision = integrations::revision(connection)?;
        if self.revision != Some(revision) {
            self.clear();
            self.revision = Some(revision);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::{apply, Event, Fields};
    use crate::model::{Action, Source};

    fn alert(integration: &str, id: &str) -> Alert {
        let event = Event {
            integration: integration.into(),
            id: id.into(),
            action: Action::Create,
            fields: Fields {
                title: Some("t".into()),
                ..Fields::default()
            },
            occurred_at: None,
            source: Source::Hook,
            at: chrono::Utc::now(),
            by: None,
            note: None,
        };
        apply(None, &event).alert.expect("a create makes an alert")
    }

    #[test]
    fn it_finds_what_was_put_by_integration_and_id_and_stays_bounded() {
        let mut cache = AlertCache::default();
        cache.put(&alert("a", "1"));
        assert!(cache.get("a", "1").is_some());
        assert!(cache.get("b", "1").is_none() && cache.get("a", "2").is_none());
        for n in 0..CAPACITY + 10 {
            cache.put(&alert("a", &n.to_string()));
        }
        assert!(cache.len <= CAPACITY);
    }
}
