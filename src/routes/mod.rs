//! Thin HTTP handlers, one module per resource. They translate between HTTP and the domain and
//! call into `auth`, `formats` and the store; no SQL and no lifecycle rules live here.

pub mod health;
pub mod hooks;

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};

use crate::error::ApiError;
use crate::registry::IntegrationRegistry;
use crate::store::Store;

/// What every handler can reach.
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub integrations: Arc<IntegrationRegistry>,
    /// SPEC §3: the largest body accepted, in bytes.
    pub max_body: usize,
    /// What time it is, for authentication's timestamp window; replaced in tests.
    pub clock: Clock,
}

/// A source of the current time.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Mounts every route.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(web::resource("/hooks/{integration}").route(web::post().to(hooks::receive)))
        .service(web::resource("/healthz").route(web::get().to(health::check)))
        .default_service(web::to(not_found));
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NoSuchEndpoint)
}
