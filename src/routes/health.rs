//! `GET /healthz`: 200 when the database answers and takes writes, 503 otherwise (`storage_full`
//! while the store is full).

use actix_web::{web, HttpResponse};

use super::AppState;
use crate::error::ApiError;
use crate::store::StoreError;
use crate::wire::{ErrorBody, Health};

#[utoipa::path(
    get,
    operation_id = "health",
    path = "/healthz",
    tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = ErrorBody))
)]
pub async fn check(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    log::debug!("GET /healthz");
    let store = state.store.clone();
    // The ping is blocking SQLite work: it runs on the blocking pool, not an actix worker.
    match web::block(move || store.ping()).await {
        Ok(Ok(())) => Ok(HttpResponse::Ok().json(Health { status: "ok" })),
        Ok(Err(StoreError::Full)) => Err(ApiError::StorageFull),
        Ok(Err(error)) => {
            log::warn!("health check failed: {error}");
            Err(ApiError::DatabaseUnavailable)
        }
        Err(_) => Err(ApiError::DatabaseUnavailable),
    }
}
