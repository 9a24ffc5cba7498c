//! The one request log and the request metrics, for every route: an actix middleware keyed on
//! the matched route pattern, never the raw path, so label values stay few and carry nothing a
//! client chose. A log line shows a client's text in two places only, escaped and cut short: the
//! path of a request that matched no route, and a name that is no integration.
//!
//! One line per request: method, route, status, a summary, duration. A handler may attach a
//! `RequestNote` to its response: the configured integration it served (filled into the route's
//! `{integration}`, or named beside it) and a summary such as the outcome counts. Without one,
//! an error's code is the summary. Never a secret, a token or a body: a note holds only what a
//! handler put there, and an error's code is a fixed word.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;

use super::AppState;
use crate::error::ApiError;
use crate::text;

/// The route label of requests that matched no route.
const UNMATCHED: &str = "unmatched";
/// The integration label of requests that served none (or an unknown one).
const NO_INTEGRATION: &str = "-";
/// Routes polled by machines, logged at debug so they do not drown the rest.
const QUIET_ROUTES: [&str; 2] = ["/healthz", "/metrics"];

/// What a handler tells the request log and metrics beyond the status.
#[derive(Debug, Clone, Default)]
pub struct RequestNote {
    /// The integration the request was for, when it is known to exist; the metrics label it
    /// only while it is configured.
    pub integration: Option<String>,
    /// A few words: outcome counts, `replayed`, an error code.
    pub summary: Option<String>,
}

impl RequestNote {
    /// Attaches the note to `response` for the middleware to read.
    pub fn attach(self, response: &mut actix_web::HttpResponse) {
        response.extensions_mut().insert(self);
    }
}

/// The middleware: times the request, then logs it and counts it.
pub async fn observe(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let state = request.app_data::<web::Data<AppState>>().cloned();
    let mut response = next.call(request).await?;
    let seconds = started.elapsed().as_secs_f64();
    let note = response
        .response_mut()
        .extensions_mut()
        .remove::<RequestNote>()
        .unwrap_or_default();
    let request = response.request();
    let pattern = request.match_pattern();
    let route = pattern
        .as_deref()
        .map_or(UNMATCHED, |pattern| normalized(pattern));
    let status = response.status().as_u16();
    let summary = note.summary.or_else(|| {
        let error = response.response().error()?;
        error
            .as_error::<ApiError>()
            .map(|error| error.code().to_string())
    });
    let line = LogLine {
        method: request.method().as_str(),
        route,
        path: pattern.is_none().then(|| escaped(request.path())),
        integration: note.integration.as_deref(),
        status,
        summary: summary.as_deref(),
        milliseconds: started.elapsed().as_millis(),
    };
    if QUIET_ROUTES.contains(&route) {
        log::debug!("{line}");
    } else {
        log::info!("{line}");
    }
    if let Some(state) = state {
        // A label names a configured integration or none, whatever a handler noted (an alert
        // may outlive its integration): label values stay as few as the integrations.
        let integration = note
            .integration
            .as_deref()
            .filter(|name| state.integrations.contains(name))
            .unwrap_or(NO_INTEGRATION);
        state
            .metrics
            .observe_request(route, integration, status, seconds);
    }
    Ok(response)
}

/// One request, as the log shows it.
struct LogLine<'a> {
    method: &'a str,
    route: &'a str,
    /// The raw path, escaped and cut short, only when no route matched.
    path: Option<String>,
    integration: Option<&'a str>,
    status: u16,
    summary: Option<&'a str>,
    milliseconds: u128,
}

impl std::fmt::Display for LogLine<'_> {
    /// `POST /hooks/tok 202 created=1 3ms`; the integration fills the route's `{integration}`,
    /// or follows the route when it has none (`POST /v2/enqueue pd 202 …`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let placeholder = "{integration}";
        match (self.integration, &self.path) {
            (_, Some(path)) => write!(f, "{} {path}", self.method)?,
            (Some(name), None) if self.route.contains(placeholder) => {
                write!(
                    f,
                    "{} {}",
                    self.method,
                    self.route.replace(placeholder, name)
                )?;
            }
            (Some(name), None) => write!(f, "{} {} {name}", self.method, self.route)?,
            (None, None) => write!(f, "{} {}", self.method, self.route)?,
        }
        write!(f, " {}", self.status)?;
        if let Some(summary) = self.summary {
            write!(f, " {summary}")?;
        }
        write!(f, " {}ms", self.milliseconds)
    }
}

/// A route as one resource, whichever of its spellings matched (`/v2/enqueue/` is `/v2/enqueue`).
fn normalized(pattern: &str) -> &str {
    match pattern.strip_suffix('/') {
        Some(trimmed) if !trimmed.is_empty() => trimmed,
        _ => pattern,
    }
}

/// A text a client chose, safe for one log line: cut short, control characters escaped.
pub fn escaped(text: &str) -> String {
    text::cut_short(text)
        .chars()
        .flat_map(char::escape_debug)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_integration_fills_the_route_and_an_unmatched_path_is_escaped() {
        let line = |integration, route, path| {
            LogLine {
                method: "POST",
                route,
                path,
                integration,
                status: 202,
                summary: Some("created=1"),
                milliseconds: 3,
            }
            .to_string()
        };
        assert_eq!(
            line(Some("tok"), "/hooks/{integration}", None),
            "POST /hooks/tok 202 created=1 3ms"
        );
        assert_eq!(
            line(None, "/hooks/{integration}", None),
            "POST /hooks/{integration} 202 created=1 3ms"
        );
        assert_eq!(
            line(Some("pd"), "/v2/enqueue", None),
            "POST /v2/enqueue pd 202 created=1 3ms"
        );
        assert_eq!(escaped("/a\nb"), "/a\\nb");
        assert_eq!(
            escaped(&"x".repeat(100)).chars().count(),
            text::MAX_SHOWN_CHARS + 1
        );
    }

    #[test]
    fn one_spelling_per_route() {
        assert_eq!(normalized("/v2/enqueue/"), "/v2/enqueue");
        assert_eq!(normalized("/"), "/");
    }
}
