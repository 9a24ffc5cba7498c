//! What the writer is asked to do, and what it answers: data only. Which HTTP status or JSON
//! an answer becomes is for the routes to choose.

use chrono::{DateTime, Utc};

use crate::auth::Secret;
use crate::integration::{Integration, NewIntegration};
use crate::lifecycle::{self, Alert, AlertBook, Event, EventResult, Fields, Outcome, ParsedEvent};
use crate::model::{Action, Source};

/// One accepted request's events, ready to apply.
#[derive(Debug)]
pub struct IngestRequest {
    pub integration: String,
    pub delivery_id: String,
    pub events: Vec<ParsedEvent>,
    pub received_at: DateTime<Utc>,
    /// `Idempotency-Key`, `webhook-id` or `svix-id`, whichever came first.
    pub idempotency_key: Option<String>,
    /// The raw body, only when the integration captures payloads.
    pub captured_body: Option<String>,
    pub remote_addr: Option<String>,
    /// The status the request is answered with once applied, kept in the delivery log beside
    /// those of rejected requests. The store records it; it never chooses one.
    pub status: u16,
}

/// What an applied delivery did: its id and one result per event, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Receipt {
    pub delivery: String,
    pub results: Vec<EventResult>,
}

/// What the store answers to an ingest.
#[derive(Debug, Clone, PartialEq)]
pub enum IngestReply {
    /// Applied and committed now.
    Applied(Receipt),
    /// The idempotency key was seen within 24 hours: the first delivery's receipt, as it was
    /// stored with the key, and nothing applied now.
    Replayed(Receipt),
}

impl IngestReply {
    pub fn receipt(&self) -> &Receipt {
        match self {
            IngestReply::Applied(receipt) | IngestReply::Replayed(receipt) => receipt,
        }
    }
}

/// A change to integrations made over the admin API, applied by the writer like any write.
pub enum IntegrationChange {
    Add(NewIntegration),
    /// New settings for an existing integration; `secret`, when given, replaces all of its secrets.
    Update {
        integration: Box<Integration>,
        secret: Option<Secret>,
    },
    Remove {
        name: String,
        purge: bool,
    },
    /// `secret` becomes the newest; with `keep_old_for`, the current ones stay valid that long.
    RotateSecret {
        name: String,
        secret: Secret,
        keep_old_for: Option<chrono::Duration>,
    },
}

/// A person acknowledging or resolving an alert through the API.
#[derive(Debug, Clone)]
pub struct ManualAction {
    pub integration: String,
    pub id: String,
    /// `Acknowledge` or `Resolve`.
    pub action: Action,
    pub by: Option<String>,
    pub note: Option<String>,
}

impl ManualAction {
    /// Runs the action through the lifecycle against `book` (either store's transaction), as
    /// an event of source `api` at `at`: the one path a person's action takes.
    pub(super) fn apply<B: AlertBook>(
        &self,
        at: DateTime<Utc>,
        book: &mut B,
    ) -> Result<ManualReply, B::Error> {
        let Some(current) = book.current(&self.integration, &self.id)? else {
            return Ok(ManualReply::UnknownAlert);
        };
        let event = Event {
            integration: self.integration.clone(),
            id: self.id.clone(),
            action: self.action,
            fields: Fields::default(),
            occurred_at: None,
            source: Source::Api,
            at,
            by: self.by.clone(),
            note: self.note.clone(),
        };
        let transition = lifecycle::apply(Some(&current), &event);
        book.record(&event, Some(&current), &transition)?;
        Ok(ManualReply::Done {
            alert: Box::new(transition.alert.unwrap_or(current)),
            outcome: transition.outcome,
        })
    }
}

/// What a manual action did.
#[derive(Debug, Clone, PartialEq)]
pub enum ManualReply {
    /// There is no such alert; nothing was stored.
    UnknownAlert,
    /// The alert afterwards and the outcome, which may be `Ignored` (already resolved …).
    Done { alert: Box<Alert>, outcome: Outcome },
}

/// A request that was refused before anything was applied.
#[derive(Debug, Clone)]
pub struct RejectedDelivery {
    pub id: String,
    pub integration: String,
    pub at: DateTime<Utc>,
    /// The status it was answered with.
    pub status: u16,
    pub error_code: &'static str,
    pub duration_ms: i64,
    pub remote_addr: Option<String>,
    pub idempotency_key: Option<String>,
    /// Only when capturing payloads, and never for a `401`.
    pub captured_body: Option<String>,
}

/// Rejected deliveries of one integration that were counted but not recorded, because they
/// came faster than the rate of recorded rejections (SPEC §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnrecordedRejections {
    pub integration: String,
    pub count: u64,
    /// When the latest of them came.
    pub last_at: DateTime<Utc>,
}
