//! Writing what a run did, in its transaction: one statement per table, however many rows.
//!
//! The seqs of the run's timeline entries are taken last, after the counters' rows are locked
//! (in key order), by bumping `event_seq` once for all of them. That row's lock is held to the
//! commit, so the next run to bump it, on any node, waits until this
//! one is committed and visible: seqs appear in the log in commit order, and a reader following
//! the log by seq never skips one.

use std::collections::BTreeMap;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use deadpool_postgres::GenericClient;

use tokio_postgres::types::ToSql;

use super::rows::ms;
use super::segment::{Entry, Segment};
use crate::lifecycle::Alert;
use crate::model::{Severity, State};
use crate::store::{RejectedDelivery, StoreError, UnrecordedRejections};

/// The channel a committed group is announced on; its payload is the group's last seq.
pub(super) const EVENTS_CHANNEL: &str = "alertgate_events";

/// What a flushed run's timeline entries were numbered from: entry `n` has seq `base + n`.
pub(super) struct Flushed {
    pub base: i64,
    pub entries: usize,
}

/// Writes the run's timeline, alerts, deliveries, remembered keys and counters.
pub(super) async fn segment(
    client: &impl GenericClient,
    segment: &mut Segment,
) -> Result<Flushed, StoreError> {
    let entries = segment.entries.len();
    let base = if entries == 0 {
        0
    } else {
        super::counters::write(&mut segment.tally, client).await?;
        let count = i64::try_from(entries).expect("a run holds far fewer than 2^63 entries");
        let bump = client
            .prepare_cached("UPDATE event_seq SET last = last + $1 RETURNING last")
            .await?;
        let last: i64 = client.query_one(&bump, &[&count]).await?.try_get(0)?;
        let base = last - count + 1;
        timeline(client, segment, base).await?;
        alerts(client, segment, base).await?;
        base
    };
    accepted(client, segment).await?;
    remembered(client, segment).await?;
    Ok(Flushed { base, entries })
}

async fn timeline(
    client: &impl GenericClient,
    segment: &Segment,
    base: i64,
) -> Result<(), StoreError> {
    let mut columns = EntryColumns::default();
    for (ordinal, entry) in (0i64..).zip(&segment.entries) {
        columns.push(base + ordinal, entry);
    }
    let statement = client
        .prepare_cached(
            "INSERT INTO alert_events (seq, integration, alert_id, at, action, outcome, reason, \
                 from_state, to_state, source, delivery, by_whom, note, occurred_at, body) \
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[], \
                 $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], \
                 $11::text[], $12::text[], $13::text[], $14::timestamptz[], $15::text[])",
        )
        .await?;
    client.execute(&statement, &columns.params()).await?;
    Ok(())
}

/// The timeline entries of a run, column by column, as `unnest` takes them.
#[derive(Default)]
struct EntryColumns<'a> {
    seqs: Vec<i64>,
    integrations: Vec<&'a str>,
    ids: Vec<&'a str>,
    at: Vec<DateTime<Utc>>,
    actions: Vec<&'static str>,
    outcomes: Vec<&'static str>,
    reasons: Vec<Option<&'static str>>,
    froms: Vec<Option<&'static str>>,
    tos: Vec<&'static str>,
    sources: Vec<&'static str>,
    deliveries: Vec<Option<&'a str>>,
    by: Vec<Option<&'a str>>,
    notes: Vec<Option<&'a str>>,
    occurred: Vec<Option<DateTime<Utc>>>,
    bodies: Vec<Option<&'a str>>,
}

impl<'a> EntryColumns<'a> {
    fn push(&mut self, seq: i64, entry: &'a Entry) {
        let (event, transition) = (&entry.event, &entry.transition);
        self.seqs.push(seq);
        self.integrations.push(&event.integration);
        self.ids.push(&event.id);
        self.at.push(ms(event.at));
        self.actions.push(event.action.as_str());
        self.outcomes.push(transition.outcome.as_str());
        self.reasons.push(
            transition
                .outcome
                .reason()
                .map(crate::lifecycle::Reason::as_str),
        );
        self.froms.push(transition.from.map(State::as_str));
        // An entry is written only for an event that left an alert.
        let to = transition
            .alert
            .as_ref()
            .map_or(State::Open, |alert| alert.state);
        self.tos.push(to.as_str());
        self.sources.push(event.source.as_str());
        self.deliveries.push(entry.delivery.as_deref());
        self.by.push(event.by.as_deref());
        self.notes.push(event.note.as_deref());
        self.occurred.push(event.occurred_at.map(ms));
        self.bodies.push(entry.body.as_deref());
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 15] {
        [
            &self.seqs,
            &self.integrations,
            &self.ids,
            &self.at,
            &self.actions,
            &self.outcomes,
            &self.reasons,
            &self.froms,
            &self.tos,
            &self.sources,
            &self.deliveries,
            &self.by,
            &self.notes,
            &self.occurred,
            &self.bodies,
        ]
    }
}

/// Each changed alert, once, as the run left it, marked with the seq of its last change.
async fn alerts(
    client: &impl GenericClient,
    segment: &Segment,
    base: i64,
) -> Result<(), StoreError> {
    let mut changed: Vec<_> = segment
        .slots
        .values()
        .filter_map(|slot| Some((slot.key, slot.changed_by?, slot.current.as_ref()?)))
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    changed.sort_by_key(|(key, _, _)| *key);
    let mut columns = AlertColumns::default();
    for (key, changed_by, alert) in changed {
        columns.push(
            key,
            alert,
            base + i64::try_from(changed_by).expect("a small ordinal"),
        );
    }
    let statement = client
        .prepare_cached(
            "INSERT INTO alerts AS a (key, integration, id, state, title, description, severity, \
                 tags, meta, occurrences, episode, created_at, opened_at, acknowledged_at, \
                 acknowledged_by, resolved_at, resolved_by, updated_at, last_occurred_at, \
                 change_seq) \
             SELECT k, i, d, st, ti, de, se, ARRAY(SELECT json_array_elements_text(tg::json)), \
                 me::json, oc, ep, ca, oa, aa, ab, ra, rb, ua, lo, cs \
             FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], \
                 $6::text[], $7::text[], $8::text[], $9::text[], $10::bigint[], $11::bigint[], \
                 $12::timestamptz[], $13::timestamptz[], $14::timestamptz[], $15::text[], \
                 $16::timestamptz[], $17::text[], $18::timestamptz[], $19::timestamptz[], \
                 $20::bigint[]) \
                 AS u (k, i, d, st, ti, de, se, tg, me, oc, ep, ca, oa, aa, ab, ra, rb, ua, lo, cs) \
             ON CONFLICT (key) DO UPDATE SET state = excluded.state, title = excluded.title, \
                 description = excluded.description, severity = excluded.severity, \
                 tags = excluded.tags, meta = excluded.meta, occurrences = excluded.occurrences, \
                 episode = excluded.episode, created_at = excluded.created_at, \
                 opened_at = excluded.opened_at, acknowledged_at = excluded.acknowledged_at, \
                 acknowledged_by = excluded.acknowledged_by, resolved_at = excluded.resolved_at, \
                 resolved_by = excluded.resolved_by, updated_at = excluded.updated_at, \
                 last_occurred_at = excluded.last_occurred_at, change_seq = excluded.change_seq",
        )
        .await?;
    client.execute(&statement, &columns.params()).await?;
    Ok(())
}

/// Alerts, column by column, as `unnest` takes them. Arrays of arrays cannot be ragged, so
/// each alert's tags travel as one JSON text, as its meta does.
#[derive(Default)]
struct AlertColumns<'a> {
    keys: Vec<i64>,
    integrations: Vec<&'a str>,
    ids: Vec<&'a str>,
    states: Vec<&'static str>,
    titles: Vec<&'a str>,
    descriptions: Vec<Option<&'a str>>,
    severities: Vec<Option<&'static str>>,
    tags: Vec<String>,
    metas: Vec<Option<String>>,
    occurrences: Vec<i64>,
    episodes: Vec<i64>,
    created: Vec<DateTime<Utc>>,
    opened: Vec<DateTime<Utc>>,
    acknowledged: Vec<Option<DateTime<Utc>>>,
    acknowledged_by: Vec<Option<&'a str>>,
    resolved: Vec<Option<DateTime<Utc>>>,
    resolved_by: Vec<Option<&'a str>>,
    updated: Vec<DateTime<Utc>>,
    last_occurred: Vec<Option<DateTime<Utc>>>,
    change_seqs: Vec<i64>,
}

impl<'a> AlertColumns<'a> {
    fn push(&mut self, key: i64, alert: &'a Alert, change_seq: i64) {
        self.keys.push(key);
        self.integrations.push(&alert.integration);
        self.ids.push(&alert.id);
        self.states.push(alert.state.as_str());
        self.titles.push(&alert.title);
        self.descriptions.push(alert.description.as_deref());
        self.severities.push(alert.severity.map(Severity::as_str));
        self.tags
            .push(serde_json::to_string(&alert.tags).expect("strings serialize"));
        self.metas.push(
            alert
                .meta
                .as_ref()
                .map(|meta| serde_json::to_string(meta).expect("JSON serializes")),
        );
        self.occurrences.push(alert.occurrences);
        self.episodes.push(alert.episode);
        self.created.push(ms(alert.created_at));
        self.opened.push(ms(alert.opened_at));
        self.acknowledged.push(alert.acknowledged_at.map(ms));
        self.acknowledged_by.push(alert.acknowledged_by.as_deref());
        self.resolved.push(alert.resolved_at.map(ms));
        self.resolved_by.push(alert.resolved_by.as_deref());
        self.updated.push(ms(alert.updated_at));
        self.last_occurred.push(alert.last_occurred_at.map(ms));
        self.change_seqs.push(change_seq);
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 20] {
        [
            &self.keys,
            &self.integrations,
            &self.ids,
            &self.states,
            &self.titles,
            &self.descriptions,
            &self.severities,
            &self.tags,
            &self.metas,
            &self.occurrences,
            &self.episodes,
            &self.created,
            &self.opened,
            &self.acknowledged,
            &self.acknowledged_by,
            &self.resolved,
            &self.resolved_by,
            &self.updated,
            &self.last_occurred,
            &self.change_seqs,
        ]
    }
}

/// The accepted deliveries' rows of the log.
async fn accepted(client: &impl GenericClient, segment: &Segment) -> Result<(), StoreError> {
    if segment.deliveries.is_empty() {
        return Ok(());
    }
    let rows: Vec<DeliveryRow<'_>> = segment
        .deliveries
        .iter()
        .map(|delivery| DeliveryRow {
            id: &delivery.id,
            integration: &delivery.integration,
            at: delivery.at,
            status: delivery.status,
            error_code: None,
            outcomes: Some(&delivery.outcomes),
            duration_ms: delivery.duration_ms,
            remote_addr: delivery.remote_addr.as_deref(),
            idempotency_key: delivery.idempotency_key.as_deref(),
            body: delivery.body.clone(),
        })
        .collect();
    insert_deliveries(client, &rows).await
}

/// Rejected deliveries' rows. A rejected body is whatever bytes came, and PostgreSQL's text
/// cannot hold U+0000: it is kept with each NUL as U+FFFD.
pub(super) async fn rejected(
    client: &impl GenericClient,
    rejected: &[&RejectedDelivery],
) -> Result<(), StoreError> {
    if rejected.is_empty() {
        return Ok(());
    }
    let rows: Vec<DeliveryRow<'_>> = rejected
        .iter()
        .map(|delivery| DeliveryRow {
            id: &delivery.id,
            integration: &delivery.integration,
            at: delivery.at,
            status: delivery.status,
            error_code: Some(delivery.error_code),
            outcomes: None,
            duration_ms: delivery.duration_ms,
            remote_addr: delivery.remote_addr.as_deref(),
            idempotency_key: delivery.idempotency_key.as_deref(),
            body: delivery
                .captured_body
                .as_ref()
                .map(|body| body.replace('\0', "\u{fffd}")),
        })
        .collect();
    insert_deliveries(client, &rows).await
}

/// One row of the delivery log.
struct DeliveryRow<'a> {
    id: &'a str,
    integration: &'a str,
    at: DateTime<Utc>,
    status: u16,
    error_code: Option<&'a str>,
    outcomes: Option<&'a str>,
    duration_ms: i64,
    remote_addr: Option<&'a str>,
    idempotency_key: Option<&'a str>,
    body: Option<String>,
}

async fn insert_deliveries(
    client: &impl GenericClient,
    rows: &[DeliveryRow<'_>],
) -> Result<(), StoreError> {
    let ids: Vec<&str> = rows.iter().map(|row| row.id).collect();
    let integrations: Vec<&str> = rows.iter().map(|row| row.integration).collect();
    let at: Vec<DateTime<Utc>> = rows.iter().map(|row| ms(row.at)).collect();
    let statuses: Vec<i32> = rows.iter().map(|row| i32::from(row.status)).collect();
    let codes: Vec<Option<&str>> = rows.iter().map(|row| row.error_code).collect();
    let outcomes: Vec<Option<&str>> = rows.iter().map(|row| row.outcomes).collect();
    let durations: Vec<i64> = rows.iter().map(|row| row.duration_ms).collect();
    let addresses: Vec<Option<&str>> = rows.iter().map(|row| row.remote_addr).collect();
    let keys: Vec<Option<&str>> = rows.iter().map(|row| row.idempotency_key).collect();
    let bodies: Vec<Option<&str>> = rows.iter().map(|row| row.body.as_deref()).collect();
    let statement = client
        .prepare_cached(
            "INSERT INTO deliveries (id, integration, at, status, error_code, outcomes, \
                 duration_ms, remote_addr, idempotency_key, body) \
             SELECT i, n, a, s, e, o::json, d, r, k, b \
             FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::int[], $5::text[], \
                 $6::text[], $7::bigint[], $8::text[], $9::text[], $10::text[]) \
                 AS u (i, n, a, s, e, o, d, r, k, b)",
        )
        .await?;
    client
        .execute(
            &statement,
            &[
                &ids,
                &integrations,
                &at,
                &statuses,
                &codes,
                &outcomes,
                &durations,
                &addresses,
                &keys,
                &bodies,
            ],
        )
        .await?;
    Ok(())
}

/// The answers remembered with the keys the run claimed.
async fn remembered(client: &impl GenericClient, segment: &Segment) -> Result<(), StoreError> {
    if segment.remembered.is_empty() {
        return Ok(());
    }
    let integrations: Vec<&str> = segment
        .remembered
        .iter()
        .map(|key| key.integration.as_str())
        .collect();
    let keys: Vec<&str> = segment
        .remembered
        .iter()
        .map(|key| key.key.as_str())
        .collect();
    let statuses: Vec<i32> = segment
        .remembered
        .iter()
        .map(|key| i32::from(key.status))
        .collect();
    let bodies: Vec<&str> = segment
        .remembered
        .iter()
        .map(|key| key.receipt.as_str())
        .collect();
    let statement = client
        .prepare_cached(
            "UPDATE idempotency_keys k SET status = u.s, body = u.b \
             FROM unnest($1::text[], $2::text[], $3::int[], $4::text[]) AS u (i, c, s, b) \
             WHERE k.integration = u.i AND k.key = u.c",
        )
        .await?;
    client
        .execute(&statement, &[&integrations, &keys, &statuses, &bodies])
        .await?;
    Ok(())
}

/// Adds counted rejections to their integrations' tallies, one row per integration and minute.
pub(super) async fn unrecorded(
    client: &impl GenericClient,
    tallies: &[&UnrecordedRejections],
) -> Result<(), StoreError> {
    // One upsert may touch a row once: sum by (integration, minute) first, in key order.
    // (integration, minute) -> (count, latest).
    type Minutes<'a> = BTreeMap<(&'a str, DateTime<Utc>), (i64, DateTime<Utc>)>;
    let mut by_minute = Minutes::new();
    for tally in tallies {
        let minute = tally
            .last_at
            .duration_trunc(TimeDelta::minutes(1))
            .unwrap_or(tally.last_at);
        let sum = by_minute
            .entry((tally.integration.as_str(), minute))
            .or_insert((0, tally.last_at));
        sum.0 = sum
            .0
            .saturating_add(i64::try_from(tally.count).unwrap_or(i64::MAX));
        sum.1 = sum.1.max(tally.last_at);
    }
    if by_minute.is_empty() {
        return Ok(());
    }
    let integrations: Vec<&str> = by_minute
        .keys()
        .map(|(integration, _)| *integration)
        .collect();
    let minutes: Vec<DateTime<Utc>> = by_minute.keys().map(|(_, minute)| *minute).collect();
    let counts: Vec<i64> = by_minute.values().map(|(count, _)| *count).collect();
    let last: Vec<DateTime<Utc>> = by_minute.values().map(|(_, last)| ms(*last)).collect();
    let statement = client
        .prepare_cached(
            "INSERT INTO rejection_tallies AS r (integration, minute, count, last_at) \
             SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::bigint[], $4::timestamptz[]) \
             ON CONFLICT (integration, minute) DO UPDATE \
             SET count = r.count + excluded.count, last_at = greatest(r.last_at, excluded.last_at)",
        )
        .await?;
    client
        .execute(&statement, &[&integrations, &minutes, &counts, &last])
        .await?;
    Ok(())
}

/// Tells every listening node that the log grew to `last`; sent at the commit, once per group.
pub(super) async fn announce(client: &impl GenericClient, last: i64) -> Result<(), StoreError> {
    let statement = client.prepare_cached("SELECT pg_notify($1, $2)").await?;
    client
        .execute(&statement, &[&EVENTS_CHANNEL, &last.to_string()])
        .await?;
    Ok(())
}
