//! The OpenAPI 3.1 document of every HTTP endpoint, generated from the handlers' annotations and
//! the wire types they answer with (`wire`), served at `GET /openapi.json` and committed as
//! `openapi.json`; a test fails when the two differ, and another when a handler's body and its
//! documented schema do.

use utoipa::OpenApi;

use crate::integration::{IntegrationOptions, IntegrationPatch};
use crate::wire::{
    AlertJson, AuthCheckJson, AuthView, BodyErrorJson, DeliveryCountsJson, DeliveryRecordJson,
    DryRunJson, ErrorBody, EventResultJson, IntegrationView, ReceiptJson, StateCountsJson,
    StatsJson, TimelineEntryJson,
};

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
        AlertJson, AuthCheckJson, AuthView, BodyErrorJson, DeliveryCountsJson, DeliveryRecordJson,
        DryRunJson, ErrorBody, EventResultJson, IntegrationOptions, IntegrationPatch,
        IntegrationView, ReceiptJson, StateCountsJson, StatsJson, TimelineEntryJson,
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
