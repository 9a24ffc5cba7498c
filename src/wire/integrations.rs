//! Bodies of the admin API, `/v1/integrations` (SPEC §6), which the CLI prints too.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::EventResultJson;
use crate::auth::{self, ActiveSecret, AuthMethod, Secret};
use crate::dry_run::{AuthCheck, BodyError, DryRun};
use crate::formats::Mapping;
use crate::integration::Integration;
use crate::lifecycle::EventResult;
use crate::model::Action;
use crate::store::{DeliveryCounts, DeliveryRecord};
use crate::time;

/// How an integration is shown: everything but its secrets, which are only counted, with when
/// each expires.
// No `Debug`: it holds a PagerDuty integration's routing keys.
#[derive(Serialize, ToSchema)]
pub struct IntegrationView<'a> {
    pub name: &'a str,
    pub format: &'static str,
    pub auth: AuthView<'a>,
    pub capture_payload: bool,
    pub enabled: bool,
    /// The secrets accepted now: the current one, and those a rotation with `keep_old` retired.
    pub active_secrets: usize,
    /// When each active secret stops being accepted, newest first; null for the current one,
    /// which stays until the next rotation.
    #[schema(value_type = Vec<Option<String>>, format = DateTime)]
    pub secrets_expire_at: Vec<Option<String>>,
    /// PagerDuty integrations: their routing keys, which are addresses as much as credentials
    /// and so are shown, as PagerDuty's own UI shows them (SPEC §2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing_keys: Option<Vec<&'a str>>,
    /// Format `mapping`: field → JSON Pointer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub map: Option<&'a BTreeMap<String, String>>,
    /// Format `mapping`: the sender's action values → ours.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_map: Option<&'a BTreeMap<String, Action>>,
    #[serde(serialize_with = "time::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "time::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct AuthView<'a> {
    pub mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<&'static str>,
}

impl<'a> IntegrationView<'a> {
    /// `integration` as shown at `now`: a secret past its expiry is no longer counted.
    pub fn at(integration: &'a Integration, now: DateTime<Utc>) -> IntegrationView<'a> {
        let active: Vec<&ActiveSecret> = integration
            .secrets
            .iter()
            .filter(|secret| secret.valid_at(now))
            .collect();
        IntegrationView {
            name: &integration.name,
            format: integration.format.as_str(),
            auth: AuthView {
                mode: integration.auth.mode(),
                header: integration.auth.header(),
                prefix: integration.auth.prefix(),
                encoding: integration
                    .auth
                    .encoding()
                    .map(crate::auth::Encoding::as_str),
            },
            capture_payload: integration.capture_payload,
            enabled: integration.enabled,
            active_secrets: active.len(),
            secrets_expire_at: active
                .iter()
                .map(|secret| secret.expires_at.map(time::format))
                .collect(),
            routing_keys: (integration.auth == AuthMethod::RoutingKey).then(|| {
                active
                    .iter()
                    .filter_map(|secret| secret.kept().map(Secret::expose))
                    .collect()
            }),
            map: integration.format.mapping().map(Mapping::pointers),
            action_map: integration.format.mapping().map(Mapping::actions),
            created_at: integration.created_at,
            updated_at: integration.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct IntegrationList<'a> {
    pub integrations: Vec<IntegrationView<'a>>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedIntegration<'a> {
    pub integration: IntegrationView<'a>,
    /// Shown this once; null for auth mode `none`.
    pub secret: Option<&'a str>,
}

/// One integration with its delivery counters.
#[derive(Serialize, ToSchema)]
pub struct IntegrationDetail<'a> {
    #[serde(flatten)]
    pub integration: IntegrationView<'a>,
    pub deliveries_24h: DeliveryCountsJson,
}

/// An integration after a PATCH: the integration itself, or, when the new auth mode did not fit
/// the old secrets, the integration with the one secret that replaces them all, shown this once
/// (SPEC §6: the only time PATCH wraps the integration).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum UpdatedIntegration<'a> {
    Rekeyed {
        integration: IntegrationView<'a>,
        /// Shown this once.
        secret: &'a str,
    },
    Kept(IntegrationView<'a>),
}

/// The body of `rotate-secret`; none at all is `keep_old: false`.
#[derive(Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RotateRequest {
    /// Keep the current secrets valid too (up to 5 in all), for 24 hours.
    #[schema(value_type = bool, default = false)]
    pub keep_old: Option<bool>,
    /// Keep the current secrets valid this many seconds instead (1 to 31,536,000); implies
    /// `keep_old`.
    #[schema(minimum = 1, maximum = 31_536_000)]
    pub keep_old_for_seconds: Option<i64>,
}

impl RotateRequest {
    /// How long the current secrets stay valid beside the new one; `None` drops them at once.
    /// An error names the field and says why.
    pub fn keep_old_for(&self) -> Result<Option<Duration>, (&'static str, String)> {
        match (self.keep_old, self.keep_old_for_seconds) {
            (Some(false), Some(_)) => Err((
                "keep_old_for_seconds",
                "keeping the old secrets for a while needs keep_old true (or left out)".into(),
            )),
            (_, Some(seconds)) => Duration::try_seconds(seconds)
                .ok_or_else(|| "out of range".to_string())
                .and_then(auth::validate_keep_old)
                .map(Some)
                .map_err(|message| ("keep_old_for_seconds", message)),
            (Some(true), None) => Ok(Some(auth::DEFAULT_KEEP_OLD)),
            (_, None) => Ok(None),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RotatedSecret<'a> {
    /// Shown this once.
    pub secret: &'a str,
}

/// One row of the delivery log.
#[derive(Serialize, ToSchema)]
#[schema(as = DeliveryRecord)]
pub struct DeliveryRecordJson<'a> {
    pub id: &'a str,
    #[serde(serialize_with = "time::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub at: DateTime<Utc>,
    pub status: u16,
    pub error_code: Option<&'a str>,
    /// Outcome → count, for accepted deliveries.
    #[schema(value_type = Option<Object>)]
    pub outcomes: Option<&'a BTreeMap<String, u64>>,
    pub duration_ms: Option<i64>,
    pub remote_addr: Option<&'a str>,
    pub idempotency_key: Option<&'a str>,
    /// The raw body, when the integration captures payloads.
    pub body: Option<&'a str>,
}

impl<'a> From<&'a DeliveryRecord> for DeliveryRecordJson<'a> {
    fn from(record: &'a DeliveryRecord) -> DeliveryRecordJson<'a> {
        DeliveryRecordJson {
            id: &record.id,
            at: record.at,
            status: record.status,
            error_code: record.error_code.as_deref(),
            outcomes: record.outcomes.as_ref(),
            duration_ms: record.duration_ms,
            remote_addr: record.remote_addr.as_deref(),
            idempotency_key: record.idempotency_key.as_deref(),
            body: record.body.as_deref(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryList<'a> {
    pub deliveries: Vec<DeliveryRecordJson<'a>>,
    pub next_cursor: Option<String>,
}

/// Elastio-style success and failure counters.
#[derive(Serialize, ToSchema)]
#[schema(as = DeliveryCounts)]
pub struct DeliveryCountsJson {
    pub accepted: i64,
    /// Every rejection, whether or not the delivery log holds it.
    pub rejected: i64,
    /// Of `rejected`, those only counted: beyond the rate of recorded rejections
    /// (`--recorded-rejections`) or the rows each integration keeps.
    pub rejected_unrecorded: i64,
    #[serde(serialize_with = "time::serialize_optional")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_accepted_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "time::serialize_optional")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_rejected_at: Option<DateTime<Utc>>,
}

impl From<&DeliveryCounts> for DeliveryCountsJson {
    fn from(counts: &DeliveryCounts) -> DeliveryCountsJson {
        DeliveryCountsJson {
            accepted: counts.accepted,
            rejected: counts.rejected,
            rejected_unrecorded: counts.unrecorded,
            last_accepted_at: counts.last_accepted_at,
            last_rejected_at: counts.last_rejected_at,
        }
    }
}

/// A dry run: the headers and body a sender would send.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A string is the raw body, byte for byte; anything else is sent as compact JSON.
    #[schema(value_type = Object)]
    pub body: Value,
}

/// What a delivery would do; nothing stored.
#[derive(Serialize, ToSchema)]
#[schema(as = DryRun)]
pub struct DryRunJson<'a> {
    /// Null when no headers were given and authentication was skipped.
    pub auth: Option<AuthCheckJson>,
    #[serde(serialize_with = "super::ingest::results")]
    #[schema(value_type = Vec<EventResultJson>)]
    pub results: &'a [EventResult],
    /// Present when the body could not be read, as the real request would be answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<BodyErrorJson<'a>>,
}

impl<'a> From<&'a DryRun> for DryRunJson<'a> {
    fn from(run: &'a DryRun) -> DryRunJson<'a> {
        DryRunJson {
            auth: run.auth.as_ref().map(AuthCheckJson::from),
            results: &run.results,
            error: run.error.as_ref().map(BodyErrorJson::from),
        }
    }
}

/// Whether authentication would pass, and if not which check failed.
#[derive(Serialize, ToSchema)]
#[schema(as = AuthCheck)]
pub struct AuthCheckJson {
    pub ok: bool,
    pub failed_check: Option<&'static str>,
}

impl From<&AuthCheck> for AuthCheckJson {
    fn from(check: &AuthCheck) -> AuthCheckJson {
        AuthCheckJson {
            ok: check.ok,
            failed_check: check.failed_check,
        }
    }
}

/// Why the body could not be read, as the real request would be answered.
#[derive(Serialize, ToSchema)]
#[schema(as = BodyError)]
pub struct BodyErrorJson<'a> {
    pub code: &'static str,
    pub message: &'a str,
}

impl<'a> From<&'a BodyError> for BodyErrorJson<'a> {
    fn from(error: &'a BodyError) -> BodyErrorJson<'a> {
        BodyErrorJson {
            code: error.code,
            message: &error.message,
        }
    }
}
