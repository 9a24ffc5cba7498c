//! Bodies of ingest: the `202` receipt, PagerDuty's own answers, and the health check.

use serde::{Serialize, Serializer};
use utoipa::ToSchema;

use crate::lifecycle::EventResult;
use crate::model::{Action, State};
use crate::store::Receipt;

/// The answer to an accepted delivery (SPEC §3).
#[derive(Serialize, ToSchema)]
#[schema(as = Receipt)]
pub struct ReceiptJson<'a> {
    pub delivery: &'a str,
    /// One per event, in the order the body gave them.
    #[serde(serialize_with = "results")]
    #[schema(value_type = Vec<EventResultJson>)]
    pub results: &'a [EventResult],
}

impl<'a> From<&'a Receipt> for ReceiptJson<'a> {
    fn from(receipt: &'a Receipt) -> ReceiptJson<'a> {
        ReceiptJson {
            delivery: &receipt.delivery,
            results: &receipt.results,
        }
    }
}

/// The results as they are, without collecting them first: this is every `202`'s body.
pub(super) fn results<S: Serializer>(
    results: &&[EventResult],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(results.iter().map(EventResultJson::from))
}

/// What one event did, as the `202` body lists it.
#[derive(Serialize, ToSchema)]
#[schema(as = EventResult)]
pub struct EventResultJson<'a> {
    pub id: &'a str,
    pub action: Action,
    /// created, deduplicated, updated, acknowledged, resolved, reopened or ignored.
    pub outcome: &'static str,
    /// The alert's state afterwards; null when no alert exists.
    pub state: Option<State>,
    /// Why it was ignored; null unless the outcome is `ignored`.
    pub reason: Option<&'static str>,
}

impl<'a> From<&'a EventResult> for EventResultJson<'a> {
    fn from(result: &'a EventResult) -> EventResultJson<'a> {
        EventResultJson {
            id: &result.id,
            action: result.action,
            outcome: result.outcome.as_str(),
            state: result.state,
            reason: result
                .outcome
                .reason()
                .map(crate::lifecycle::Reason::as_str),
        }
    }
}

/// PagerDuty's `202`.
#[derive(Serialize, ToSchema)]
pub struct PagerDutyAccepted<'a> {
    /// `success`.
    pub status: &'static str,
    /// `Event processed`, or `Change event processed`.
    pub message: &'static str,
    /// The alert's key, generated for a trigger without one; absent for change events.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub dedup_key: Option<&'a str>,
}

/// PagerDuty's refusal.
#[derive(Serialize, ToSchema)]
pub struct PagerDutyRefused<'a> {
    /// `invalid event` for what the sender got wrong, `error` for what it should retry.
    pub status: &'static str,
    /// `Event object is invalid`, or what kept the event from being processed.
    pub message: &'static str,
    pub errors: &'a [String],
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
}
