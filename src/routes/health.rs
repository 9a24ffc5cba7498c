//! `GET /healthz`: 200 when the database answers, 503 otherwise.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::AppState;

pub async fn check(state: web::Data<AppState>) -> HttpResponse {
    log::debug!("GET /healthz");
    let store = state.store.clone();
    // The ping is blocking SQLite work: it runs on the blocking pool, not an actix worker.
    match web::block(move || store.ping()).await {
        Ok(Ok(())) => HttpResponse::Ok().json(json!({"status": "ok"})),
        Ok(Err(error)) => {
            log::warn!("health check: the database does not answer: {error}");
            unavailable()
        }
        Err(_) => unavailable(),
    }
}

fn unavailable() -> HttpResponse {
    HttpResponse::ServiceUnavailable().json(json!({
        "error": {"code": "database_unavailable", "message": "the database does not answer"}
    }))
}
