//! Bodies of `/v1/alerts`, `/v1/stats` and `/v1/stream` (SPEC §5).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::ErrorDetail;
use crate::lifecycle::Alert;
use crate::model::{Action, Severity, Source, State};
use crate::store::{AppliedEvent, StateCounts, Stats, TimelineEntry};
use crate::time;

/// An alert as it stands after its latest event.
#[derive(Serialize, ToSchema)]
#[schema(as = Alert)]
pub struct AlertJson<'a> {
    pub integration: &'a str,
    pub id: &'a str,
    pub state: State,
    pub title: &'a str,
    pub description: Option<&'a str>,
    pub severity: Option<Severity>,
    pub tags: &'a [String],
    #[schema(value_type = Option<Object>)]
    pub meta: Option<&'a Map<String, Value>>,
    pub occurrences: i64,
    pub episode: i64,
    /// When the alert was first ever seen.
    #[serde(serialize_with = "time::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    /// When the current episode opened.
    #[serde(serialize_with = "time::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub opened_at: DateTime<Utc>,
    #[serde(serialize_with = "time::serialize_optional")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<&'a str>,
    #[serde(serialize_with = "time::serialize_optional")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<&'a str>,
    #[serde(serialize_with = "time::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
    /// The ordering watermark: the latest `occurred_at` a sender has had applied.
    #[serde(serialize_with = "time::serialize_optional")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_occurred_at: Option<DateTime<Utc>>,
}

impl<'a> From<&'a Alert> for AlertJson<'a> {
    fn from(alert: &'a Alert) -> AlertJson<'a> {
        AlertJson {
            integration: &alert.integration,
            id: &alert.id,
            state: alert.state,
            title: &alert.title,
            description: alert.description.as_deref(),
            severity: alert.severity,
            tags: &alert.tags,
            meta: alert.meta.as_ref(),
            occurrences: alert.occurrences,
            episode: alert.episode,
            created_at: alert.created_at,
            opened_at: alert.opened_at,
            acknowledged_at: alert.acknowledged_at,
            acknowledged_by: alert.acknowledged_by.as_deref(),
            resolved_at: alert.resolved_at,
            resolved_by: alert.resolved_by.as_deref(),
            updated_at: alert.updated_at,
            last_occurred_at: alert.last_occurred_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AlertList<'a> {
    pub alerts: Vec<AlertJson<'a>>,
    /// Pass as `cursor` for the next page; null on the last one.
    pub next_cursor: Option<String>,
}

/// One entry of an alert's timeline.
#[derive(Serialize, ToSchema)]
#[schema(as = TimelineEntry)]
pub struct TimelineEntryJson<'a> {
    pub seq: i64,
    #[serde(serialize_with = "time::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub at: DateTime<Utc>,
    pub action: Action,
    /// created, deduplicated, updated, acknowledged, resolved, reopened or ignored.
    pub outcome: &'static str,
    /// Why it was ignored; null unless the outcome is `ignored`.
    pub reason: Option<&'static str>,
    /// Null on the entry that created the alert.
    pub from_state: Option<State>,
    pub to_state: State,
    pub source: Source,
    /// The delivery that carried it; null for a person's action.
    pub delivery: Option<&'a str>,
    pub by: Option<&'a str>,
    pub note: Option<&'a str>,
    /// When the sender says it happened; null when it did not say.
    #[serde(serialize_with = "time::serialize_optional")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub occurred_at: Option<DateTime<Utc>>,
}

impl<'a> From<&'a TimelineEntry> for TimelineEntryJson<'a> {
    fn from(entry: &'a TimelineEntry) -> TimelineEntryJson<'a> {
        TimelineEntryJson {
            seq: entry.seq,
            at: entry.at,
            action: entry.action,
            outcome: entry.outcome.as_str(),
            reason: entry.outcome.reason().map(crate::lifecycle::Reason::as_str),
            from_state: entry.from_state,
            to_state: entry.to_state,
            source: entry.source,
            delivery: entry.delivery.as_deref(),
            by: entry.by.as_deref(),
            note: entry.note.as_deref(),
            occurred_at: entry.occurred_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Timeline<'a> {
    pub events: Vec<TimelineEntryJson<'a>>,
    pub next_cursor: Option<String>,
}

/// The optional body of a manual acknowledge or resolve.
#[derive(Default, Deserialize, ToSchema)]
pub struct ManualActionBody {
    /// Who acts; at most 255 characters.
    pub by: Option<String>,
    /// Why; at most 4,096 characters.
    pub note: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ManualActionResult<'a> {
    pub alert: AlertJson<'a>,
    /// `acknowledged` or `resolved`.
    pub outcome: &'static str,
}

/// `409`: the action changes nothing; the code is the reason.
#[derive(Serialize, ToSchema)]
pub struct IgnoredAction<'a> {
    pub error: ErrorDetail<'a>,
    pub alert: AlertJson<'a>,
}

/// How many alerts are in each state.
#[derive(Serialize, ToSchema)]
#[schema(as = StateCounts)]
pub struct StateCountsJson {
    pub open: i64,
    pub acknowledged: i64,
    pub resolved: i64,
}

impl From<&StateCounts> for StateCountsJson {
    fn from(counts: &StateCounts) -> StateCountsJson {
        StateCountsJson {
            open: counts.open,
            acknowledged: counts.acknowledged,
            resolved: counts.resolved,
        }
    }
}

/// The stats document of SPEC §5.
#[derive(Serialize, ToSchema)]
#[schema(as = Stats)]
pub struct StatsJson<'a> {
    #[serde(serialize_with = "time::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub since: DateTime<Utc>,
    pub by_state: StateCountsJson,
    pub by_integration: BTreeMap<&'a str, StateCountsJson>,
    /// Mean time to acknowledge over the episodes opened since `since`; null with none.
    pub mtta_seconds: Option<f64>,
    /// Mean time to resolve over the episodes opened since `since`; null with none.
    pub mttr_seconds: Option<f64>,
}

impl<'a> From<&'a Stats> for StatsJson<'a> {
    fn from(stats: &'a Stats) -> StatsJson<'a> {
        StatsJson {
            since: stats.since,
            by_state: (&stats.by_state).into(),
            by_integration: stats
                .by_integration
                .iter()
                .map(|(name, counts)| (name.as_str(), counts.into()))
                .collect(),
            mtta_seconds: stats.mtta_seconds,
            mttr_seconds: stats.mttr_seconds,
        }
    }
}

/// The data of one `alert` event on `/v1/stream`: the alert as the event left it, with what
/// the event was and did.
#[derive(Serialize)]
pub struct StreamedAlert<'a> {
    #[serde(flatten)]
    pub alert: AlertJson<'a>,
    /// created, deduplicated, updated, acknowledged, resolved or reopened.
    pub outcome: &'static str,
    pub action: Action,
}

impl<'a> From<&'a AppliedEvent> for StreamedAlert<'a> {
    fn from(event: &'a AppliedEvent) -> StreamedAlert<'a> {
        StreamedAlert {
            alert: (&event.alert).into(),
            outcome: event.outcome.as_str(),
            action: event.action,
        }
    }
}
