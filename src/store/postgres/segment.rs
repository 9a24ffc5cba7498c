//! One run of a group's requests between integration changes (or one request, when requests are
//! kept apart): what it claims and locks before anything is applied, and its alerts as the run
//! changes them, in memory, until `flush` writes the result.
//!
//! Every writer transaction, on any node, takes its row locks in one order, each step sorted by
//! bytes: its idempotency keys, then its alerts' keys (`alert_keys`), then the counters and last
//! `event_seq` (the flush). So two groups never wait on each other in a cycle, and one alert's
//! events are applied by one transaction at a time, whichever nodes they reach.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;

use super::rows::{alert_at, ms, ALERT_COLUMNS};
use crate::lifecycle::{self, Alert, AlertBook, Event, Transition};
use crate::store::counters::Tally;
use crate::store::stored::{self, IDEMPOTENCY_WINDOW};
use crate::store::writer::Work;
use crate::store::{IngestRequest, ManualAction, Receipt, StoreError};

/// One alert the run may touch: its locked key, and the alert as the run has it now.
pub(super) struct Slot {
    pub key: i64,
    pub current: Option<Alert>,
    /// The run's timeline entry that last changed it: the alert is written once, at the flush,
    /// with that entry's seq as its `change_seq`.
    pub changed_by: Option<usize>,
}

/// A timeline entry of the run, waiting for its seq.
pub(super) struct Entry {
    pub event: Event,
    pub transition: Transition,
    pub delivery: Option<String>,
    pub body: Option<String>,
}

/// What one event did, for the writer to publish and count once the group has committed.
pub(super) struct Applied {
    /// Its timeline entry, by its place among the run's entries.
    pub entry: Option<usize>,
    pub event: Event,
    pub transition: Transition,
}

/// An accepted delivery's row in the log.
pub(super) struct AcceptedDelivery {
    pub id: String,
    pub integration: String,
    pub at: DateTime<Utc>,
    pub status: u16,
    pub outcomes: String,
    pub duration_ms: i64,
    pub remote_addr: Option<String>,
    pub idempotency_key: Option<String>,
    pub body: Option<String>,
}

/// An idempotency key the run claimed, with the receipt its request came to.
pub(super) struct Remembered {
    pub integration: String,
    pub key: String,
    pub status: u16,
    pub receipt: String,
}

/// The run: what it locked and read, and what it did, not yet written.
#[derive(Default)]
pub(super) struct Segment {
    pub slots: HashMap<(String, String), Slot>,
    pub entries: Vec<Entry>,
    pub applied: Vec<Applied>,
    pub deliveries: Vec<AcceptedDelivery>,
    pub remembered: Vec<Remembered>,
    /// Keys this run claimed and has not applied yet (their first request applies them).
    claimed: BTreeSet<(String, String)>,
    /// The receipts of keys already taken: by an earlier delivery (read from the table) or by
    /// an earlier request of this run.
    replays: HashMap<(String, String), Receipt>,
    pub tally: Tally,
}

impl Segment {
    /// Claims the idempotency keys of `work`'s deliveries, claims and locks the keys of every
    /// alert it may touch, and reads those alerts, in that order, inside `client`'s transaction.
    pub(super) async fn load(
        client: &impl GenericClient,
        work: &[&Work],
        now: DateTime<Utc>,
    ) -> Result<Segment, StoreError> {
        let mut segment = Segment::default();
        let mut idempotency = BTreeSet::new();
        let mut creatable = BTreeSet::new();
        let mut touched = BTreeSet::new();
        for item in work {
            match item {
                Work::Ingest(request) => {
                    if let Some(key) = &request.idempotency_key {
                        idempotency.insert((request.integration.clone(), key.clone()));
                    }
                    for event in request.events.iter().filter(|event| !event.informational) {
                        let alert = (request.integration.clone(), event.id.clone());
                        if lifecycle::can_create(event.action, &event.fields) {
                            creatable.insert(alert.clone());
                        }
                        touched.insert(alert);
                    }
                }
                Work::Manual(action) => {
                    touched.insert((action.integration.clone(), action.id.clone()));
                }
                Work::Integration(_) | Work::Rejected(_) | Work::Unrecorded(_) => {}
            }
        }
        segment.claim_keys(client, &idempotency, now).await?;
        lock_alerts(client, &creatable, &touched, &mut segment.slots).await?;
        read_alerts(client, &mut segment.slots).await?;
        Ok(segment)
    }

    /// Claims each key not taken within the window: a key another transaction is claiming now
    /// makes this one wait for it, then replay its answer (or claim the key, if it rolled back).
    async fn claim_keys(
        &mut self,
        client: &impl GenericClient,
        keys: &BTreeSet<(String, String)>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let (integrations, names): (Vec<&str>, Vec<&str>) = keys
            .iter()
            .map(|(integration, key)| (integration.as_str(), key.as_str()))
            .unzip();
        let claim = client
            .prepare_cached(
                "INSERT INTO idempotency_keys AS k (integration, key, created_at, status, body) \
                 SELECT i, c, $3, 0, '' FROM unnest($1::text[], $2::text[]) AS u (i, c) \
                 ORDER BY i, c \
                 ON CONFLICT (integration, key) DO UPDATE \
                 SET created_at = excluded.created_at, status = 0, body = '' \
                 WHERE k.created_at <= $4 \
                 RETURNING k.integration, k.key",
            )
            .await?;
        let cutoff = ms(now - IDEMPOTENCY_WINDOW);
        for row in client
            .query(&claim, &[&integrations, &names, &ms(now), &cutoff])
            .await?
        {
            self.claimed.insert((row.try_get(0)?, row.try_get(1)?));
        }
        if self.claimed.len() == keys.len() {
            return Ok(());
        }
        let taken = client
            .prepare_cached(
                "SELECT k.integration, k.key, k.body FROM idempotency_keys k \
                 JOIN unnest($1::text[], $2::text[]) AS u (i, c) \
                   ON k.integration = u.i AND k.key = u.c",
            )
            .await?;
        for row in client.query(&taken, &[&integrations, &names]).await? {
            let key: (String, String) = (row.try_get(0)?, row.try_get(1)?);
            if !self.claimed.contains(&key) {
                let body: String = row.try_get(2)?;
                self.replays.insert(key, stored::read_receipt(&body)?);
            }
        }
        Ok(())
    }

    /// One delivery: a replay when its key was taken, else its events through the lifecycle.
    pub(super) fn delivery(
        &mut self,
        request: &IngestRequest,
        now: DateTime<Utc>,
    ) -> Result<crate::store::IngestReply, StoreError> {
        let integration = request.integration.as_str();
        let key = request
            .idempotency_key
            .as_ref()
            .map(|key| (integration.to_string(), key.clone()));
        if let Some(key) = &key {
            if let Some(receipt) = self.replays.get(key) {
                return Ok(crate::store::IngestReply::Replayed(receipt.clone()));
            }
            if !self.claimed.remove(key) {
                return Err(StoreError::Corrupt(format!(
                    "idempotency key `{}` was neither claimed nor taken",
                    crate::text::cut_short(&key.1)
                )));
            }
        }
        let mut book = SegmentBook {
            segment: self,
            delivery: Some(&request.delivery_id),
            body: request.captured_body.as_deref(),
        };
        let results = lifecycle::apply_delivery(integration, &request.events, now, &mut book)?;
        let receipt = Receipt {
            delivery: request.delivery_id.clone(),
            results,
        };
        self.deliveries.push(AcceptedDelivery {
            id: request.delivery_id.clone(),
            integration: integration.to_string(),
            at: request.received_at,
            status: request.status,
            outcomes: stored::outcome_counts(&receipt),
            duration_ms: (now - request.received_at).num_milliseconds(),
            remote_addr: request.remote_addr.clone(),
            idempotency_key: request.idempotency_key.clone(),
            body: request.captured_body.clone(),
        });
        if let Some(key) = key {
            self.remembered.push(Remembered {
                integration: key.0.clone(),
                key: key.1.clone(),
                status: request.status,
                receipt: stored::write_receipt(&receipt),
            });
            self.replays.insert(key, receipt.clone());
        }
        Ok(crate::store::IngestReply::Applied(receipt))
    }

    /// A person's acknowledge or resolve: the same lifecycle, source `api`.
    pub(super) fn manual(
        &mut self,
        action: &ManualAction,
        now: DateTime<Utc>,
    ) -> Result<crate::store::ManualReply, StoreError> {
        let mut book = SegmentBook {
            segment: self,
            delivery: None,
            body: None,
        };
        action.apply(now, &mut book)
    }
}

/// The run's alerts as one request sees them: what earlier events of the run did included.
struct SegmentBook<'s, 'r> {
    segment: &'s mut Segment,
    delivery: Option<&'r str>,
    body: Option<&'r str>,
}

impl AlertBook for SegmentBook<'_, '_> {
    type Error = StoreError;

    fn current(&mut self, integration: &str, id: &str) -> Result<Option<Alert>, StoreError> {
        let key = (integration.to_string(), id.to_string());
        Ok(self
            .segment
            .slots
            .get(&key)
            .and_then(|slot| slot.current.clone()))
    }

    fn record(
        &mut self,
        event: &Event,
        current: Option<&Alert>,
        transition: &Transition,
    ) -> Result<(), StoreError> {
        let segment = &mut *self.segment;
        let mut entry = None;
        if let Some(alert) = &transition.alert {
            let ordinal = segment.entries.len();
            if transition.outcome.changes_alert() {
                let key = (alert.integration.clone(), alert.id.clone());
                // Every alert an event can create had its key claimed and locked by `load`.
                let slot = segment.slots.get_mut(&key).ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "alert `{}` changed without its key locked",
                        crate::text::cut_short(&alert.id)
                    ))
                })?;
                slot.current = Some(alert.clone());
                slot.changed_by = Some(ordinal);
                segment.tally.record(current, alert, transition.outcome);
            }
            segment.entries.push(Entry {
                event: event.clone(),
                transition: transition.clone(),
                delivery: self.delivery.map(str::to_string),
                body: self.body.map(str::to_string),
            });
            entry = Some(ordinal);
        }
        segment.applied.push(Applied {
            entry,
            event: event.clone(),
            transition: transition.clone(),
        });
        Ok(())
    }
}

/// Inserts the keys of alerts that events may create (missing ones only), then locks the key of
/// every alert the run may touch, both in (integration, id) order. An alert no event can create
/// and that has no key does not exist: its events are answered `unknown_alert` without a row.
async fn lock_alerts(
    client: &impl GenericClient,
    creatable: &BTreeSet<(String, String)>,
    touched: &BTreeSet<(String, String)>,
    slots: &mut HashMap<(String, String), Slot>,
) -> Result<(), StoreError> {
    if !creatable.is_empty() {
        let (integrations, ids): (Vec<&str>, Vec<&str>) = creatable
            .iter()
            .map(|(integration, id)| (integration.as_str(), id.as_str()))
            .unzip();
        let insert = client
            .prepare_cached(
                "INSERT INTO alert_keys (integration, id) \
                 SELECT i, d FROM unnest($1::text[], $2::text[]) AS u (i, d) ORDER BY i, d \
                 ON CONFLICT DO NOTHING",
            )
            .await?;
        client.execute(&insert, &[&integrations, &ids]).await?;
    }
    if touched.is_empty() {
        return Ok(());
    }
    let (integrations, ids): (Vec<&str>, Vec<&str>) = touched
        .iter()
        .map(|(integration, id)| (integration.as_str(), id.as_str()))
        .unzip();
    let lock = client
        .prepare_cached(
            "SELECT k.integration, k.id, k.key FROM alert_keys k \
             JOIN unnest($1::text[], $2::text[]) AS u (i, d) ON k.integration = u.i AND k.id = u.d \
             ORDER BY k.integration, k.id FOR UPDATE OF k",
        )
        .await?;
    for row in client.query(&lock, &[&integrations, &ids]).await? {
        slots.insert(
            (row.try_get(0)?, row.try_get(1)?),
            Slot {
                key: row.try_get(2)?,
                current: None,
                changed_by: None,
            },
        );
    }
    Ok(())
}

/// Reads the locked alerts, in a statement of its own: under READ COMMITTED a row that the
/// locking statement waited for is not read again when the lock is granted, so joining
/// `alerts` into it would read the state from before the other transaction's commit.
async fn read_alerts(
    client: &impl GenericClient,
    slots: &mut HashMap<(String, String), Slot>,
) -> Result<(), StoreError> {
    if slots.is_empty() {
        return Ok(());
    }
    let keys: Vec<i64> = slots.values().map(|slot| slot.key).collect();
    let sql = format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE key = ANY($1::bigint[])");
    let statement = client.prepare_cached(&sql).await?;
    for row in client.query(&statement, &[&keys]).await? {
        let alert = alert_at(&row, 0)?;
        if let Some(slot) = slots.get_mut(&(alert.integration.clone(), alert.id.clone())) {
            slot.current = Some(alert);
        }
    }
    Ok(())
}
