//! What every `/v1` handler shares: the API token check and the paging parameters.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

use super::AppState;
use crate::auth::{self, ActiveSecret, AuthMethod};
use crate::cursor;
use crate::error::ApiError;
use crate::formats::FormatError;
use crate::store::{Store, StoreError};

/// SPEC §5: pages hold 1-500 items, 50 unless asked.
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 500;

/// Proof that the caller may use the `/v1` API: with `ALERTGATE_API_TOKEN` set, the request
/// carries it (or the admin token) as a Bearer token; unset, the API is open (loopback only).
pub struct ApiAccess;

impl FromRequest for ApiAccess {
    type Error = ApiError;
    type Future = Ready<Result<ApiAccess, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(check_access(request))
    }
}

fn check_access(request: &HttpRequest) -> Result<ApiAccess, ApiError> {
    let state = app_state(request);
    if state.api_tokens.is_empty() {
        return Ok(ApiAccess);
    }
    bearer(request, state, &state.api_tokens).map(|()| ApiAccess)
}

/// Proof that the caller holds the admin token. With none configured the admin API is off and
/// answers `404` whatever the request carries (SPEC §6).
pub struct AdminAccess;

impl FromRequest for AdminAccess {
    type Error = ApiError;
    type Future = Ready<Result<AdminAccess, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(check_admin(request))
    }
}

fn check_admin(request: &HttpRequest) -> Result<AdminAccess, ApiError> {
    let state = app_state(request);
    let Some(token) = &state.admin_token else {
        return Err(ApiError::NoSuchEndpoint);
    };
    bearer(request, state, std::slice::from_ref(token)).map(|()| AdminAccess)
}

fn app_state(request: &HttpRequest) -> &AppState {
    request
        .app_data::<web::Data<AppState>>()
        .expect("AppState is registered with the app")
}

/// `Authorization: Bearer` with one of `tokens`: the same constant-time check as hooks use.
fn bearer(
    request: &HttpRequest,
    state: &AppState,
    tokens: &[ActiveSecret],
) -> Result<(), ApiError> {
    let now = (state.clock)();
    auth::verify(&AuthMethod::Bearer, request.headers(), b"", tokens, now).map_err(|_| {
        ApiError::Unauthorized {
            challenge: auth::challenge(&AuthMethod::Bearer),
        }
    })
}

/// Deserializes the query string, naming the parameter that is wrong or unknown.
pub fn query<T: DeserializeOwned>(request: &HttpRequest) -> Result<T, ApiError> {
    web::Query::<T>::from_query(request.query_string())
        .map(web::Query::into_inner)
        .map_err(|error| {
            let message = error.to_string();
            let name = message.split('`').nth(1).unwrap_or("query").to_string();
            ApiError::InvalidParameter { name, message }
        })
}

/// `limit`: 1-500, default 50.
pub fn limit(given: Option<&str>) -> Result<usize, ApiError> {
    let Some(text) = given else {
        return Ok(DEFAULT_LIMIT);
    };
    text.parse::<usize>()
        .ok()
        .filter(|limit| (1..=MAX_LIMIT).contains(limit))
        .ok_or_else(|| {
            invalid(
                "limit",
                format!("must be a whole number from 1 to {MAX_LIMIT}"),
            )
        })
}

/// `cursor`: a position from an earlier page's `next_cursor`.
pub fn position(given: Option<&str>) -> Result<Option<i64>, ApiError> {
    given
        .map(|text| {
            cursor::decode(text)
                .ok_or_else(|| invalid("cursor", "is not a cursor this server gave out"))
        })
        .transpose()
}

/// `open,acknowledged` into states, naming the parameter when a value is unknown.
pub fn comma_list<T>(
    name: &str,
    given: Option<&str>,
    parse: fn(&str) -> Option<T>,
    expected: fn() -> String,
) -> Result<Vec<T>, ApiError> {
    let Some(text) = given.filter(|text| !text.is_empty()) else {
        return Ok(Vec::new());
    };
    text.split(',')
        .map(|value| {
            let value = value.trim();
            parse(value)
                .ok_or_else(|| invalid(name, format!("`{value}` is not one of {}", expected())))
        })
        .collect()
}

/// An RFC 3339 time parameter.
pub fn time(name: &str, given: Option<String>) -> Result<Option<DateTime<Utc>>, ApiError> {
    given
        .map(|text| {
            crate::time::parse(&text)
                .ok_or_else(|| invalid(name, format!("`{text}` is not an RFC 3339 time")))
        })
        .transpose()
}

/// Runs a blocking store read on the blocking pool, off the actix workers.
pub async fn read<T: Send + 'static>(
    state: &AppState,
    read: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = state.store.clone();
    web::block(move || read(store.as_ref()))
        .await
        .map_err(|_| ApiError::Internal)?
        .map_err(ApiError::from)
}

/// A JSON request body: `400` when it is not JSON, `422` naming the field when it does not fit.
pub fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|error| {
        if error.is_data() {
            ApiError::InvalidPayload(FormatError::new("body", error.to_string()))
        } else {
            ApiError::InvalidJson(error.to_string())
        }
    })
}

pub fn invalid(name: &str, message: impl Into<String>) -> ApiError {
    ApiError::InvalidParameter {
        name: name.to_string(),
        message: message.into(),
    }
}
