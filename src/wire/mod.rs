//! The JSON of the HTTP API: one type per body, with `Serialize` and `ToSchema`, built from the
//! domain's data (or, for request bodies, read into it). Routes answer with these, `openapi`
//! describes exactly these, and the CLI prints the same shapes where it prints JSON. Nothing
//! below this layer (store, lifecycle, formats, auth) knows how it is shown.
//!
//! Response types borrow from the data they show, so answering costs no copies; where the
//! schema's name differs from the type's, `#[schema(as = …)]` keeps the published name.

mod alerts;
mod ingest;
mod integrations;

use serde::Serialize;
use utoipa::ToSchema;

pub use alerts::{
    AlertJson, AlertList, IgnoredAction, ManualActionBody, ManualActionResult, StateCountsJson,
    StatsJson, StreamedAlert, Timeline, TimelineEntryJson,
};
pub use ingest::{EventResultJson, Health, PagerDutyAccepted, PagerDutyRefused, ReceiptJson};
pub use integrations::{
    AuthCheckJson, AuthView, BodyErrorJson, CreatedIntegration, DeliveryCountsJson, DeliveryList,
    DeliveryRecordJson, DryRunJson, IntegrationDetail, IntegrationList, IntegrationView,
    RotateRequest, RotatedSecret, TestRequest, UpdatedIntegration,
};

/// Every error but PagerDuty's: SPEC §8.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody<'a> {
    pub error: ErrorDetail<'a>,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail<'a> {
    /// A stable snake_case code, e.g. `unauthorized`, `invalid_payload`.
    pub code: &'a str,
    /// A sentence a person can act on.
    pub message: String,
}
