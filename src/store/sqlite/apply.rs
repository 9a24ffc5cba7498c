//! Applying each kind of work inside the group's transaction: a delivery's events (through the
//! one apply path of `lifecycle`), a person's action, an integration change, a rejected
//! delivery for the log.

use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::alert_cache::AlertCache;
use super::deliveries::{self, DeliveryRow};
use super::{alerts, integrations};
use crate::lifecycle::{self, Alert, AlertBook, Event, Transition};
use crate::store::counters::Tally;
use crate::store::stored;
use crate::store::writer::AfterCommit;
use crate::store::{
    IngestReply, IngestRequest, IntegrationChange, ManualAction, ManualReply, Receipt,
    RejectedDelivery, StoreError,
};

/// Everything one request's writes go through: the group's transaction, the writer's alert
/// cache, the stats counters' changes not yet written, what is published after the commit, and
/// the time the writes are made at.
pub(super) struct Writes<'a> {
    pub connection: &'a Connection,
    pub alerts: &'a mut AlertCache,
    pub tally: &'a mut Tally,
    pub after: &'a mut AfterCommit,
    pub now: DateTime<Utc>,
}

/// The alerts of one request as its transaction sees them: read through the cache, and every
/// event's result written to the timeline and the alert row.
struct TransactionBook<'w, 'a> {
    writes: &'w mut Writes<'a>,
    delivery: Option<&'w str>,
    captured_body: Option<&'w str>,
}

impl AlertBook for TransactionBook<'_, '_> {
    type Error = StoreError;

    fn current(&mut self, integration: &str, id: &str) -> Result<Option<Alert>, StoreError> {
        let writes = &mut *self.writes;
        if let Some(alert) = writes.alerts.get(integration, id) {
            return Ok(Some(alert.clone()));
        }
        let alert = alerts::load(writes.connection, integration, id)?;
        if let Some(alert) = &alert {
            writes.alerts.put(alert);
        }
        Ok(alert)
    }

    /// A timeline entry whenever the alert exists, and the alert itself when it changed.
    fn record(
        &mut self,
        event: &Event,
        current: Option<&Alert>,
        transition: &Transition,
    ) -> Result<(), StoreError> {
        let writes = &mut *self.writes;
        let mut seq = None;
        if let Some(alert) = &transition.alert {
            let entry = alerts::append_event(
                writes.connection,
                event,
                transition,
                alert.state,
                self.delivery,
                self.captured_body,
            )?;
            if transition.outcome.changes_alert() {
                alerts::save(writes.connection, current, alert, entry)?;
                writes.alerts.put(alert);
                writes.tally.record(current, alert, transition.outcome);
            }
            seq = Some(entry);
        }
        writes.after.record(seq, event, transition);
        Ok(())
    }
}

/// One delivery: the replay check, each event through the lifecycle, the delivery row and the
/// idempotency key, all in the caller's transaction.
pub(super) fn delivery(
    writes: &mut Writes<'_>,
    request: &IngestRequest,
) -> Result<IngestReply, StoreError> {
    let integration = request.integration.as_str();
    let now = writes.now;
    if let Some(key) = &request.idempotency_key {
        if let Some(receipt) = deliveries::remembered(writes.connection, integration, key, now)? {
            return Ok(IngestReply::Replayed(receipt));
        }
    }
    let mut book = TransactionBook {
        writes,
        delivery: Some(&request.delivery_id),
        captured_body: request.captured_body.as_deref(),
    };
    let results = lifecycle::apply_delivery(integration, &request.events, now, &mut book)?;
    let receipt = Receipt {
        delivery: request.delivery_id.clone(),
        results,
    };
    let connection = book.writes.connection;
    let outcomes = stored::outcome_counts(&receipt);
    deliveries::insert(
        connection,
        &DeliveryRow {
            id: &request.delivery_id,
            integration,
            at: request.received_at,
            status: request.status,
            error_code: None,
            outcomes: Some(&outcomes),
            duration_ms: (now - request.received_at).num_milliseconds(),
            remote_addr: request.remote_addr.as_deref(),
            idempotency_key: request.idempotency_key.as_deref(),
            body: request.captured_body.as_deref(),
        },
    )?;
    if let Some(key) = &request.idempotency_key {
        deliveries::remember(connection, integration, key, now, request.status, &receipt)?;
    }
    Ok(IngestReply::Applied(receipt))
}

/// A person's acknowledge or resolve from the API: the same lifecycle, source `api`.
pub(super) fn manual(
    writes: &mut Writes<'_>,
    action: &ManualAction,
) -> Result<ManualReply, StoreError> {
    let now = writes.now;
    let mut book = TransactionBook {
        writes,
        delivery: None,
        captured_body: None,
    };
    action.apply(now, &mut book)
}

/// An admin change to integrations, with the same SQL the CLI uses.
pub(super) fn integration_change(
    writes: &mut Writes<'_>,
    change: &IntegrationChange,
) -> Result<(), StoreError> {
    let (connection, now) = (writes.connection, writes.now);
    match change {
        IntegrationChange::Add(new) => integrations::add(connection, new, now),
        IntegrationChange::Update {
            integration,
            secret,
        } => integrations::update(connection, integration, secret.as_ref(), now),
        IntegrationChange::Remove { name, purge } => integrations::remove(connection, name, *purge),
        IntegrationChange::RotateSecret {
            name,
            secret,
            keep_old_for,
        } => integrations::rotate_secret(connection, name, secret, *keep_old_for, now),
    }
}

/// Logs a rejected delivery: best effort, unless the error took the whole transaction with it
/// (a full disk does). A failed INSERT undoes itself, so nothing half-written stays.
pub(super) fn rejected(
    connection: &Connection,
    delivery: &RejectedDelivery,
) -> Result<(), StoreError> {
    if let Err(error) = deliveries::insert(connection, &DeliveryRow::from(delivery)) {
        if connection.is_autocommit() {
            return Err(error);
        }
        log::warn!("could not log a rejected delivery: {error}");
    }
    Ok(())
}
