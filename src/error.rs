//! The one error type of the HTTP layer: each variant with its status, the whole status map in
//! one `match`, and the body of SPEC §8. Internal causes are logged, never sent to the client.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::formats::FormatError;
use crate::integration::InvalidIntegration;
use crate::lifecycle::{Alert, Reason};
use crate::limits::JsonError;
use crate::store::StoreError;
use crate::wire::{ErrorBody, ErrorDetail, IgnoredAction};

/// Seconds a sender should wait before retrying a `503`.
pub const RETRY_AFTER_SECONDS: &str = "1";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 404: no such integration, or it is disabled (the two are indistinguishable on purpose).
    #[error("there is no enabled integration named `{}`", crate::text::cut_short(.0))]
    UnknownIntegration(String),
    /// 404: no route matches.
    #[error("there is no such endpoint")]
    NoSuchEndpoint,
    /// 405: the route exists, but not for this method.
    #[error("this endpoint does not take {0} requests")]
    MethodNotAllowed(String),
    /// 404: no such alert.
    #[error("there is no alert `{id}` in integration `{integration}`")]
    UnknownAlert { integration: String, id: String },
    /// 409: the action changes nothing (already resolved …); the code is the reason and the body
    /// carries the alert as it stands.
    #[error("the alert is {}, so this changes nothing", .reason.as_str().replace('_', " "))]
    IgnoredTransition { reason: Reason, alert: Box<Alert> },
    /// 409: an integration of that name exists.
    #[error("an integration named `{0}` exists already")]
    IntegrationExists(String),
    /// 409: rotating with `keep_old` would exceed five active secrets.
    #[error(
        "integration `{0}` already has 5 active secrets; rotate without keep_old to replace them"
    )]
    TooManySecrets(String),
    /// 422: the integration asked for is not valid; the message names the field.
    #[error("{0}")]
    InvalidIntegration(#[from] InvalidIntegration),
    /// 431: the request's headers are too large.
    #[error("the request headers are larger than the limit of {limit} bytes")]
    HeadersTooLarge { limit: usize },
    /// 408: the body did not arrive in time.
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    /// 413: the body exceeds the configured limit.
    #[error("the body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// 401: authentication failed; `challenge` goes into `WWW-Authenticate`.
    #[error("authentication failed: send the credential this integration was set up with")]
    Unauthorized { challenge: String },
    /// 415: a `Content-Type` that is present and not JSON.
    #[error("the content type `{0}` is not JSON; send application/json")]
    UnsupportedMediaType(String),
    /// 400: the body is not JSON.
    #[error("the body is not valid JSON: {0}")]
    InvalidJson(String),
    /// 400: a delivery's body is not JSON, or nests deeper than `--max-json-depth`.
    #[error("{0}")]
    DeliveryJson(#[from] JsonError),
    /// 400: a request header alertgate reads is unusable.
    #[error("{0}")]
    InvalidHeader(String),
    /// 400: a query parameter is unusable; the message names it.
    #[error("`{name}`: {message}")]
    InvalidParameter { name: String, message: String },
    /// 400: the body could not be read off the connection.
    #[error("the request body could not be read")]
    UnreadableBody,
    /// 422: JSON that the integration's format cannot read; the message names the field.
    #[error("{0}")]
    InvalidPayload(#[from] FormatError),
    /// 503: the store cannot take more work right now; retry.
    #[error("alertgate is busy and applied nothing; retry shortly")]
    Busy,
    /// 503: the bodies being read already hold all the memory `--max-body-memory` allows.
    #[error(
        "alertgate is reading as many request bodies as its memory limit allows and applied \
         nothing; retry shortly"
    )]
    BodyMemoryFull,
    /// 503: the disk (or the configured size limit) is full; retry once space returns.
    #[error("the database is full and applied nothing; retry once space is freed")]
    StorageFull,
    /// 503: the database does not answer; nothing was applied, retry.
    #[error("the database does not answer; retry shortly")]
    DatabaseUnavailable,
    /// 500: a fault of ours; the cause is logged, not shown.
    #[error("internal error; nothing was applied, and the cause is in the server log")]
    Internal,
}

impl ApiError {
    /// The stable, snake_case code of SPEC §8.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::UnknownIntegration(_) => "integration_not_found",
            ApiError::NoSuchEndpoint => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::UnknownAlert { .. } => "alert_not_found",
            ApiError::IgnoredTransition { reason, .. } => reason.as_str(),
            ApiError::InvalidParameter { .. } => "invalid_parameter",
            ApiError::IntegrationExists(_) => "integration_exists",
            ApiError::TooManySecrets(_) => "too_many_secrets",
            ApiError::InvalidIntegration(_) => "invalid_integration",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::RequestTimeout => "request_timeout",
            ApiError::HeadersTooLarge { .. } => "headers_too_large",
            ApiError::Unauthorized { .. } => "unauthorized",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::DeliveryJson(error) => error.code(),
            ApiError::InvalidHeader(_) => "invalid_header",
            ApiError::UnreadableBody => "unreadable_body",
            ApiError::InvalidPayload(_) => "invalid_payload",
            ApiError::Busy => "busy",
            ApiError::BodyMemoryFull => "body_memory_full",
            ApiError::StorageFull => "storage_full",
            ApiError::DatabaseUnavailable => "database_unavailable",
            ApiError::Internal => "internal_error",
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        match error {
            StoreError::Busy | StoreError::Stopped => ApiError::Busy,
            StoreError::Full => {
                log::warn!("the database is full: answering 503 until space returns");
                ApiError::StorageFull
            }
            StoreError::Unavailable(cause) => {
                log::warn!("{}: answering 503", StoreError::Unavailable(cause));
                ApiError::DatabaseUnavailable
            }
            StoreError::NoSuchIntegration(name) => ApiError::UnknownIntegration(name),
            StoreError::IntegrationExists(name) => ApiError::IntegrationExists(name),
            StoreError::TooManySecrets(name) => ApiError::TooManySecrets(name),
            other => {
                log::error!("store error: {other}");
                ApiError::Internal
            }
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::UnknownIntegration(_)
            | ApiError::NoSuchEndpoint
            | ApiError::UnknownAlert { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::IgnoredTransition { .. }
            | ApiError::IntegrationExists(_)
            | ApiError::TooManySecrets(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::InvalidJson(_)
            | ApiError::DeliveryJson(_)
            | ApiError::InvalidHeader(_)
            | ApiError::InvalidParameter { .. }
            | ApiError::UnreadableBody => StatusCode::BAD_REQUEST,
            ApiError::InvalidPayload(_) | ApiError::InvalidIntegration(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::Busy
            | ApiError::BodyMemoryFull
            | ApiError::StorageFull
            | ApiError::DatabaseUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        match self {
            ApiError::Unauthorized { challenge } => {
                if let Ok(value) = HeaderValue::from_str(challenge) {
                    response.insert_header((header::WWW_AUTHENTICATE, value));
                }
            }
            ApiError::Busy
            | ApiError::BodyMemoryFull
            | ApiError::StorageFull
            | ApiError::DatabaseUnavailable => {
                response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECONDS));
            }
            _ => {}
        }
        let error = ErrorDetail {
            code: self.code(),
            message: self.to_string(),
        };
        match self {
            ApiError::IgnoredTransition { alert, .. } => response.json(IgnoredAction {
                error,
                alert: alert.as_ref().into(),
            }),
            _ => response.json(ErrorBody { error }),
        }
    }
}
