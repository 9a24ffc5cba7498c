//! Thin HTTP handlers, one module per resource. They translate between HTTP and the domain and
//! call into `auth`, `formats` and the store; no SQL and no lifecycle rules live here. A
//! delivery takes one pipeline (`ingest`) whichever endpoint it came to; every request passes
//! one middleware that logs and counts it (`observe`); bodies are the types of `wire`.

pub mod alerts;
pub mod api;
pub mod dashboard;
pub mod health;
pub mod hooks;
pub mod ingest;
pub mod intake;
pub mod integrations;
pub mod observe;
pub mod pagerduty;
pub mod stats;
pub mod stream;

use std::sync::Arc;

use actix_web::dev::ServiceResponse;
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{web, HttpResponse};

use crate::auth::ActiveSecret;
use crate::budget::ByteBudget;
use crate::config::MemoryLimits;
use crate::error::ApiError;
use crate::limits::DeliveryLimits;
use crate::metrics::Metrics;
use crate::registry::IntegrationRegistry;
use crate::store::Store;
use crate::time::Clock;

/// What every handler can reach.
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub integrations: Arc<IntegrationRegistry>,
    /// SPEC §3: the largest body accepted, in bytes.
    pub max_body: usize,
    /// The most header bytes a delivery may carry.
    pub max_header_bytes: usize,
    /// How deep a delivery's JSON may nest and how many events it may carry.
    pub limits: DeliveryLimits,
    /// How long a sender may take to send its body.
    pub request_timeout: std::time::Duration,
    /// The memory slow clients may hold.
    pub memory: MemoryBudgets,
    /// Bearer tokens that open `/v1` (the API and the admin token); empty: the API is open.
    pub api_tokens: Vec<ActiveSecret>,
    /// The token of `/v1/integrations`; unset, the admin API is off (`404`).
    pub admin_token: Option<ActiveSecret>,
    pub metrics: Arc<Metrics>,
    /// The OpenAPI document served at `/openapi.json`, made once at start.
    pub openapi: Arc<str>,
    /// What time it is: for authentication's timestamp window, receipt times and defaults.
    pub clock: Clock,
    /// Becomes true when the server starts stopping: long-lived streams end then.
    pub closing: tokio::sync::watch::Receiver<bool>,
}

/// Replay pages read at once, across every stream client.
const REPLAY_READS: usize = 4;

/// The memory slow clients may hold, shared by every worker; `/metrics` shows what is held.
pub struct MemoryBudgets {
    /// All request bodies being read and handled, together.
    pub bodies: ByteBudget,
    /// What one stream client may have waiting to be sent, in bytes.
    pub stream_client: usize,
    /// What all stream clients together may have waiting to be sent.
    pub streams: ByteBudget,
    /// Replay pages being read from the log at once: a page of large alerts takes several times
    /// its text while it is read and rendered, before its size is known.
    pub replay_reads: std::sync::Arc<tokio::sync::Semaphore>,
    /// The shared budget's hold of each live frame, taken once however many clients queue it.
    pub live_frames: std::sync::Arc<stream::SharedCharges>,
}

impl MemoryBudgets {
    pub fn new(limits: &MemoryLimits, metrics: &Metrics) -> MemoryBudgets {
        let budgets = MemoryBudgets {
            bodies: ByteBudget::new(limits.bodies),
            stream_client: limits.stream_client,
            streams: ByteBudget::new(limits.streams),
            replay_reads: std::sync::Arc::new(tokio::sync::Semaphore::new(REPLAY_READS)),
            live_frames: std::sync::Arc::default(),
        };
        metrics.watch_budget("bodies", budgets.bodies.clone());
        metrics.watch_budget("streams", budgets.streams.clone());
        budgets
    }
}

/// Mounts every route.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(web::resource("/hooks/{integration}").route(web::post().to(hooks::receive)))
        .service(
            web::resource(["/v2/enqueue", "/v2/enqueue/"])
                .route(web::post().to(pagerduty::enqueue)),
        )
        .service(
            web::resource(["/v2/change/enqueue", "/v2/change/enqueue/"])
                .route(web::post().to(pagerduty::change)),
        )
        .service(
            web::resource("/")
                .route(web::get().to(dashboard::page))
                .route(web::head().to(dashboard::page)),
        )
        .service(
            web::resource("/dashboard/{file}")
                .route(web::get().to(dashboard::asset))
                .route(web::head().to(dashboard::asset)),
        )
        .service(web::resource("/healthz").route(web::get().to(health::check)))
        .service(web::resource("/metrics").route(web::get().to(metrics)))
        .service(web::resource("/openapi.json").route(web::get().to(openapi)))
        .service(admin_scope())
        .service(api_scope())
        .default_service(web::to(not_found));
}

/// `/v1/integrations`, behind the admin token (SPEC §6).
fn admin_scope() -> actix_web::Scope {
    web::scope("/v1/integrations")
        .route("", web::get().to(integrations::list))
        .route("", web::post().to(integrations::create))
        .route("/{name}", web::get().to(integrations::show))
        .route("/{name}", web::patch().to(integrations::update))
        .route("/{name}", web::delete().to(integrations::remove))
        .route(
            "/{name}/rotate-secret",
            web::post().to(integrations::rotate_secret),
        )
        .route(
            "/{name}/deliveries",
            web::get().to(integrations::deliveries),
        )
        .route("/{name}/test", web::post().to(integrations::test))
        .default_service(web::to(admin_not_found))
}

/// The rest of `/v1`, behind the API token (SPEC §5).
fn api_scope() -> actix_web::Scope {
    web::scope("/v1")
        .route("/alerts", web::get().to(alerts::list))
        .route("/alerts/{integration}/{id}", web::get().to(alerts::show))
        .route(
            "/alerts/{integration}/{id}/events",
            web::get().to(alerts::timeline),
        )
        .route(
            "/alerts/{integration}/{id}/acknowledge",
            web::post().to(alerts::acknowledge),
        )
        .route(
            "/alerts/{integration}/{id}/resolve",
            web::post().to(alerts::resolve),
        )
        .route("/stats", web::get().to(stats::show))
        .route("/stream", web::get().to(stream::subscribe))
}

/// `GET /metrics`: open like `/healthz`, since Prometheus scrapes without a token; it holds
/// counts, sizes and times only.
#[utoipa::path(
    get,
    operation_id = "metrics",
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text", body = String))
)]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.render())
}

/// `GET /openapi.json`: this API, described.
#[utoipa::path(
    get,
    operation_id = "openapi",
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object))
)]
pub async fn openapi(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(state.openapi.to_string())
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NoSuchEndpoint)
}

/// For `ErrorHandlers`: a `405` (a route that exists, asked with another method) gets the same
/// JSON error body as every other refusal, in place of actix-web's empty one.
pub fn method_not_allowed<B>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let method = response.request().method().to_string();
    let (request, _) = response.into_parts();
    // Made from the error itself, so the request log names its code.
    let answer = HttpResponse::from_error(ApiError::MethodNotAllowed(method));
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(request, answer).map_into_right_body(),
    ))
}

/// Unknown paths under the admin API: still behind its token, so they tell nothing either.
async fn admin_not_found(_: api::AdminAccess) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NoSuchEndpoint)
}
