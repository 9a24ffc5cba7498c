//! The OpenAPI 3.1 document of every HTTP endpoint, generated from the handlers' annotations and
//! the response types themselves (utoipa), served at `GET /openapi.json` and committed as
//! `openapi.json`; a test fails when the two differ.
//!
//! The envelope types below exist only to describe bodies that handlers build with `json!`; each
//! sits next to the handler text it mirrors in `routes/`.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use crate::dry_run::{AuthCheck, BodyError, DryRun};
use crate::integration::{AuthView, IntegrationOptions, IntegrationPatch, IntegrationView};
use crate::lifecycle::Alert;
use crate::store::{
    DeliveryCounts, DeliveryRecord, EventResult, Receipt, StateCounts, Stats, TimelineEntry,
};

/// Every error but PagerDuty's: SPEC §8.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable snake_case code, e.g. `unauthorized`, `invalid_payload`.
    pub code: String,
    /// A sentence a person can act on.
    pub message: String,
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
}

#[derive(Serialize, ToSchema)]
pub struct AlertList {
    pub alerts: Vec<Alert>,
    /// Pass as `cursor` for the next page; null on the last one.
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Timeline {
    pub events: Vec<TimelineEntry>,
    pub next_cursor: Option<String>,
}

/// The optional body of a manual acknowledge or resolve.
#[derive(Serialize, ToSchema)]
pub struct ManualActionBody {
    /// Who acts; at most 255 characters.
    pub by: Option<String>,
    /// Why; at most 4,096 characters.
    pub note: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ManualActionResult {
    pub alert: Alert,
    /// `acknowledged` or `resolved`.
    pub outcome: String,
}

/// `409`: the action changes nothing; the code is the reason.
#[derive(Serialize, ToSchema)]
pub struct IgnoredAction {
    pub error: ErrorDetail,
    pub alert: Alert,
}

#[derive(Serialize, ToSchema)]
pub struct IntegrationList {
    pub integrations: Vec<IntegrationView<'static>>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedIntegration {
    pub integration: IntegrationView<'static>,
    /// Shown this once; null for auth mode `none`.
    pub secret: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct IntegrationDetail {
    #[serde(flatten)]
    pub integration: IntegrationView<'static>,
    pub deliveries_24h: DeliveryCounts,
}

#[derive(Serialize, ToSchema)]
pub struct RotateRequest {
    /// Keep the current secrets valid too (up to 5 in all).
    pub keep_old: bool,
}

#[derive(Serialize, ToSchema)]
pub struct RotatedSecret {
    /// Shown this once.
    pub secret: String,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryList {
    pub deliveries: Vec<DeliveryRecord>,
    pub next_cursor: Option<String>,
}

/// A dry run: the headers and body a sender would send.
#[derive(Serialize, ToSchema)]
pub struct TestRequest {
    pub headers: BTreeMap<String, String>,
    /// A string is the raw body, byte for byte; anything else is sent as compact JSON.
    #[schema(value_type = Object)]
    pub body: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
pub struct PagerDutyAccepted {
    /// `success`.
    pub status: String,
    /// `Event processed`.
    pub message: String,
    /// The alert's key, generated for a trigger without one.
    pub dedup_key: String,
}

#[derive(Serialize, ToSchema)]
pub struct PagerDutyRefused {
    /// `invalid event`.
    pub status: String,
    /// `Event object is invalid`.
    pub message: String,
    pub errors: Vec<String>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "alertgate",
        description = "Receives alert webhooks, proves who sent them, and keeps each alert's lifecycle.",
        license(name = "MIT")
    ),
    paths(
        crate::routes::hooks::receive,
        crate::routes::pagerduty::enqueue,
        crate::routes::pagerduty::change,
        crate::routes::alerts::list,
        crate::routes::alerts::show,
        crate::routes::alerts::timeline,
        crate::routes::alerts::acknowledge,
        crate::routes::alerts::resolve,
        crate::routes::stats::show,
        crate::routes::stream::subscribe,
        crate::routes::integrations::list,
        crate::routes::integrations::create,
        crate::routes::integrations::show,
        crate::routes::integrations::update,
        crate::routes::integrations::remove,
        crate::routes::integrations::rotate_secret,
        crate::routes::integrations::deliveries,
        crate::routes::integrations::test,
        crate::routes::health::check,
        crate::routes::metrics,
        crate::routes::openapi,
    ),
    components(schemas(
        Alert, AuthCheck, AuthView, BodyError, DeliveryCounts, DeliveryRecord, DryRun, EventResult,
        IntegrationOptions, IntegrationPatch, IntegrationView, Receipt, StateCounts, Stats, TimelineEntry,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "ingest", description = "Senders post alerts"),
        (name = "alerts", description = "Dashboards read and act on alerts (API token)"),
        (name = "integrations", description = "Managing integrations (admin token)"),
        (name = "operations", description = "Health, metrics and this document"),
    )
)]
pub struct ApiDoc;

/// Declares the Bearer scheme the `/v1` endpoints use.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        for name in ["api_token", "admin_token"] {
            let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build();
            components.add_security_scheme(name, SecurityScheme::Http(scheme));
        }
    }
}

/// The document as committed in `openapi.json`.
pub fn document() -> String {
    let mut text = ApiDoc::openapi()
        .to_pretty_json()
        .expect("the document serializes");
    text.push('\n');
    text
}
