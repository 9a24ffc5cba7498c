//! `/v1/integrations`: the admin API (SPEC §6). Every change goes through the writer, then the
//! in-memory registry is reloaded before answering, so ingest sees it at once.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Duration;
use serde::Deserialize;
use serde_json::Value;

use super::api::{self, invalid, json_body, AdminAccess};
use super::AppState;
use crate::auth;
use crate::cursor;
use crate::dry_run;
use crate::error::ApiError;
use crate::integration::{Integration, IntegrationOptions, IntegrationPatch};
use crate::store::{DeliveryFilter, IntegrationChange};
use crate::wire::{
    CreatedIntegration, DeliveryCountsJson, DeliveryList, DryRunJson, ErrorBody, IntegrationDetail,
    IntegrationList, IntegrationView, RotateRequest, RotatedSecret, TestRequest,
    UpdatedIntegration,
};

/// The window of the `deliveries_24h` counters.
const COUNTER_WINDOW: Duration = Duration::hours(24);

/// `GET /v1/integrations`
#[utoipa::path(
    get,
    operation_id = "list_integrations",
    path = "/v1/integrations",
    tag = "integrations",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Never a secret (routing keys excepted)", body = IntegrationList),
        (status = 401, body = ErrorBody),
        (status = 404, description = "The admin API is off: no admin token is set", body = ErrorBody),
    )
)]
pub async fn list(_: AdminAccess, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let integrations = api::read(&state, crate::store::Store::integrations).await?;
    Ok(HttpResponse::Ok().json(IntegrationList {
        integrations: integrations
            .iter()
            .map(|integration| IntegrationView::at(integration, (state.clock)()))
            .collect(),
    }))
}

/// `POST /v1/integrations`: `201` with the integration and its secret, shown this once.
#[utoipa::path(
    post,
    operation_id = "create_integration",
    path = "/v1/integrations",
    tag = "integrations",
    security(("admin_token" = [])),
    request_body = IntegrationOptions,
    responses(
        (status = 201, description = "Created; the secret is shown this once", body = CreatedIntegration),
        (status = 409, description = "The name exists", body = ErrorBody),
        (status = 422, description = "Invalid; the message names the field", body = ErrorBody),
    )
)]
pub async fn create(
    _: AdminAccess,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let options: IntegrationOptions = json_body(&body)?;
    let new = options.validate()?;
    let name = new.name.clone();
    let secret = new.secret.clone();
    apply(&state, IntegrationChange::Add(new)).await?;
    let integration = load(&state, &name).await?;
    log::info!("integration `{name}` added over the admin API");
    Ok(HttpResponse::Created().json(CreatedIntegration {
        integration: IntegrationView::at(&integration, (state.clock)()),
        secret: secret.as_ref().map(crate::auth::Secret::expose),
    }))
}

/// `GET /v1/integrations/{name}`: the integration and its delivery counters.
#[utoipa::path(
    get,
    operation_id = "get_integration",
    path = "/v1/integrations/{name}",
    tag = "integrations",
    security(("admin_token" = [])),
    params(("name" = String, Path)),
    responses(
        (status = 200, body = IntegrationDetail),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn show(
    _: AdminAccess,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let name = path.into_inner();
    let integration = load(&state, &name).await?;
    let since = (state.clock)() - COUNTER_WINDOW;
    let counts = api::read(&state, move |store| store.delivery_counts(&name, since)).await?;
    Ok(HttpResponse::Ok().json(IntegrationDetail {
        integration: IntegrationView::at(&integration, (state.clock)()),
        deliveries_24h: DeliveryCountsJson::from(&counts),
    }))
}

/// `PATCH /v1/integrations/{name}`: all of it valid, or `422` and nothing changed.
#[utoipa::path(
    patch,
    operation_id = "update_integration",
    path = "/v1/integrations/{name}",
    tag = "integrations",
    security(("admin_token" = [])),
    params(("name" = String, Path)),
    request_body = IntegrationPatch,
    responses(
        (status = 200, description = "With `secret` when the old ones no longer fit the auth mode", body = UpdatedIntegration),
        (status = 404, body = ErrorBody),
        (status = 422, description = "Invalid; nothing changed", body = ErrorBody),
    )
)]
pub async fn update(
    _: AdminAccess,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let patch: IntegrationPatch = json_body(&body)?;
    let current = load(&state, &path).await?;
    let patched = current.patched(patch)?;
    let secret = patched.new_secret.clone();
    apply(
        &state,
        IntegrationChange::Update {
            integration: Box::new(patched.integration),
            secret: patched.new_secret,
        },
    )
    .await?;
    let integration = load(&state, &path).await?;
    let integration = IntegrationView::at(&integration, (state.clock)());
    Ok(HttpResponse::Ok().json(match &secret {
        // The old secrets did not fit the new auth mode: this one replaces them, shown once.
        Some(secret) => UpdatedIntegration::Rekeyed {
            integration,
            secret: secret.expose(),
        },
        None => UpdatedIntegration::Kept(integration),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoveParams {
    purge: Option<bool>,
}

/// `DELETE /v1/integrations/{name}`: its alerts stay unless `?purge=true`.
#[utoipa::path(
    delete,
    operation_id = "delete_integration",
    path = "/v1/integrations/{name}",
    tag = "integrations",
    security(("admin_token" = [])),
    params(("name" = String, Path), ("purge" = Option<bool>, Query, description = "Remove its alerts too")),
    responses((status = 204, description = "Removed"), (status = 404, body = ErrorBody))
)]
pub async fn remove(
    _: AdminAccess,
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params: RemoveParams = api::query(&request)?;
    let name = path.into_inner();
    let purge = params.purge.unwrap_or(false);
    apply(
        &state,
        IntegrationChange::Remove {
            name: name.clone(),
            purge,
        },
    )
    .await?;
    if purge {
        // Purged alerts left without a transition each: count the table once more.
        let counts = api::read(&state, crate::store::Store::alert_counts).await?;
        state.metrics.set_alert_counts(&counts);
    }
    log::info!("integration `{name}` removed over the admin API (purge: {purge})");
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /v1/integrations/{name}/rotate-secret`: the new secret, shown once.
#[utoipa::path(
    post,
    operation_id = "rotate_integration_secret",
    path = "/v1/integrations/{name}/rotate-secret",
    tag = "integrations",
    security(("admin_token" = [])),
    params(("name" = String, Path)),
    request_body(content = Option<RotateRequest>),
    responses(
        (status = 200, description = "The new secret, shown once", body = RotatedSecret),
        (status = 409, description = "Already 5 active secrets with keep_old", body = ErrorBody),
    )
)]
pub async fn rotate_secret(
    _: AdminAccess,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let request: RotateRequest = if body.trim_ascii().is_empty() {
        RotateRequest::default()
    } else {
        json_body(&body)?
    };
    let keep_old_for = request
        .keep_old_for()
        .map_err(|(field, message)| invalid_field(field, &message))?;
    let integration = load(&state, &path).await?;
    if !integration.auth.needs_secret() {
        return Err(invalid_field(
            "auth",
            "auth mode `none` has no secret to rotate",
        ));
    }
    let secret = auth::generate_secret(&integration.auth);
    let change = IntegrationChange::RotateSecret {
        name: integration.name.clone(),
        secret: secret.clone(),
        keep_old_for,
    };
    apply(&state, change).await?;
    Ok(HttpResponse::Ok().json(RotatedSecret {
        secret: secret.expose(),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveryParams {
    status: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// `GET /v1/integrations/{name}/deliveries`: the delivery log, newest first.
#[utoipa::path(
    get,
    operation_id = "list_deliveries",
    path = "/v1/integrations/{name}/deliveries",
    tag = "integrations",
    security(("admin_token" = [])),
    params(
        ("name" = String, Path),
        ("status" = Option<u16>, Query),
        ("limit" = Option<u32>, Query, description = "1-500, default 50"),
        ("cursor" = Option<String>, Query),
    ),
    responses((status = 200, description = "Newest first", body = DeliveryList), (status = 404, body = ErrorBody))
)]
pub async fn deliveries(
    _: AdminAccess,
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params: DeliveryParams = api::query(&request)?;
    let name = path.into_inner();
    let integration = name.clone();
    let status = params
        .status
        .map(|text| {
            text.parse::<u16>()
                .ok()
                .filter(|status| (100..=599).contains(status))
                .ok_or_else(|| invalid("status", "must be an HTTP status such as 202 or 401"))
        })
        .transpose()?;
    let before = params
        .cursor
        .map(|text| {
            cursor::decode_key(&text)
                .ok_or_else(|| invalid("cursor", "is not a cursor this server gave out"))
        })
        .transpose()?;
    let filter = DeliveryFilter {
        integration: integration.clone(),
        status,
        before,
        limit: api::limit(params.limit.as_deref())?,
    };
    let (known, page) = api::read(&state, move |store| {
        Ok((
            store.integration(&integration)?.is_some(),
            store.deliveries(&filter)?,
        ))
    })
    .await?;
    if !known && page.deliveries.is_empty() {
        return Err(ApiError::UnknownIntegration(name));
    }
    Ok(HttpResponse::Ok().json(DeliveryList {
        deliveries: page.deliveries.iter().map(Into::into).collect(),
        next_cursor: page.next.as_deref().map(cursor::encode_key),
    }))
}

/// `POST /v1/integrations/{name}/test`: what this delivery would do, nothing stored.
#[utoipa::path(
    post,
    operation_id = "test_integration",
    path = "/v1/integrations/{name}/test",
    tag = "integrations",
    security(("admin_token" = [])),
    params(("name" = String, Path)),
    request_body = TestRequest,
    responses((status = 200, description = "What the delivery would do; nothing stored", body = DryRunJson))
)]
pub async fn test(
    _: AdminAccess,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let TestRequest { headers, body } = json_body(&body)?;
    // A string is the raw body, byte for byte (what a signature covers); anything else is sent
    // as its compact JSON text.
    let raw = match body {
        Value::String(text) => text.into_bytes(),
        other => other.to_string().into_bytes(),
    };
    let headers: Vec<(String, String)> = headers.into_iter().collect();
    let integration = load(&state, &path).await?;
    let now = (state.clock)();
    let limits = state.limits;
    let run = api::read(&state, move |store| {
        dry_run::dry_run(&integration, &limits, Some(&headers), &raw, now, |id| {
            store.alert(&integration.name, id)
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(DryRunJson::from(&run)))
}

/// Applies a change through the writer, then reloads the registry so ingest sees it now.
async fn apply(state: &AppState, change: IntegrationChange) -> Result<(), ApiError> {
    state.store.change_integration(change).await?;
    let registry = state.integrations.clone();
    api::read(state, move |store| registry.refresh(store).map(|_| ())).await
}

async fn load(state: &AppState, name: &str) -> Result<Integration, ApiError> {
    let lookup = name.to_string();
    api::read(state, move |store| store.integration(&lookup))
        .await?
        .ok_or_else(|| ApiError::UnknownIntegration(name.to_string()))
}

fn invalid_field(field: &'static str, message: &str) -> ApiError {
    ApiError::InvalidIntegration(crate::integration::InvalidIntegration {
        field,
        message: message.to_string(),
    })
}
