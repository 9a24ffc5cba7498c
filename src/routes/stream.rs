//! `GET /v1/stream`: Server-Sent Events, one `alert` event per applied event (SPEC §5).
//!
//! Each client gets a task that first replays from the log what it missed (`Last-Event-ID`),
//! then forwards live events from the writer's broadcast. Subscribing before the replay and
//! skipping what the replay already sent means no event is lost or sent twice. A client that
//! falls too far behind is dropped: its buffer is bounded, and ingest never waits for it.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc};

use super::api::{self, invalid, ApiAccess};
use super::AppState;
use crate::error::ApiError;
use crate::model::State;
use crate::store::{AppliedEvent, Store};
use crate::wire::{ErrorBody, StreamedAlert};

/// SPEC §5: a comment line at least this often keeps proxies from closing an idle stream.
const HEARTBEAT: Duration = Duration::from_secs(15);
/// Frames buffered for one client before it counts as too slow and is dropped.
const CLIENT_BUFFER: usize = 1024;
/// Events read from the log per query while replaying.
const REPLAY_PAGE: usize = 500;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamParams {
    integration: Option<String>,
    state: Option<String>,
}

/// Which events a client asked for.
struct StreamFilter {
    integration: Option<String>,
    states: Vec<State>,
}

impl StreamFilter {
    fn wants(&self, event: &AppliedEvent) -> bool {
        self.integration
            .as_ref()
            .is_none_or(|name| *name == event.alert.integration)
            && (self.states.is_empty() || self.states.contains(&event.alert.state))
    }
}

#[utoipa::path(
    get,
    operation_id = "stream_alerts",
    path = "/v1/stream",
    tag = "alerts",
    security(("api_token" = [])),
    params(
        ("integration" = Option<String>, Query),
        ("state" = Option<String>, Query, description = "Comma list of states"),
        ("Last-Event-ID" = Option<i64>, Header, description = "Replay every applied event after this seq first"),
    ),
    responses(
        (status = 200, description = "Server-Sent Events: `alert` events, id = seq, data = the alert with outcome and action", content_type = "text/event-stream", body = String),
        (status = 400, description = "A bad filter or Last-Event-ID", body = ErrorBody),
    )
)]
pub async fn subscribe(
    _: ApiAccess,
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params: StreamParams = api::query(&request)?;
    let states = api::comma_list(
        "state",
        params.state.as_deref(),
        State::parse,
        State::expected,
    )?;
    let filter = StreamFilter {
        integration: params.integration.filter(|name| !name.is_empty()),
        states,
    };
    let last_event_id = match request.headers().get("last-event-id") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|text| text.trim().parse::<i64>().ok())
                .ok_or_else(|| {
                    invalid(
                        "Last-Event-ID",
                        "must be the id of an event this stream sent",
                    )
                })?,
        ),
    };
    // Subscribe before replaying, so nothing committed in between is missed.
    let live = state.store.subscribe();
    let (frames, receiver) = mpsc::channel::<Bytes>(CLIENT_BUFFER);
    actix_web::rt::spawn(feed(
        state.store.clone(),
        live,
        last_event_id,
        filter,
        frames,
        state.closing.clone(),
    ));
    let body = futures_util::stream::unfold(receiver, |mut receiver| async move {
        let frame = receiver.recv().await?;
        Some((Ok::<_, Infallible>(frame), receiver))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(body))
}

/// Sends one client its replay, then live events and heartbeats, until it goes or lags, or the
/// server stops.
async fn feed(
    store: Arc<dyn Store>,
    mut live: broadcast::Receiver<Arc<AppliedEvent>>,
    last_event_id: Option<i64>,
    filter: StreamFilter,
    frames: mpsc::Sender<Bytes>,
    mut closing: tokio::sync::watch::Receiver<bool>,
) {
    if frames
        .send(Bytes::from_static(b": connected\n\n"))
        .await
        .is_err()
    {
        return;
    }
    let mut sent_up_to = 0;
    if let Some(after) = last_event_id {
        match replay(&store, after, &filter, &frames).await {
            Some(last) => sent_up_to = last,
            None => return,
        }
    }
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.tick().await;
    loop {
        let frame = tokio::select! {
            received = live.recv() => match received {
                Ok(event) if event.seq <= sent_up_to || !filter.wants(&event) => continue,
                Ok(event) => frame(&event),
                Err(RecvError::Lagged(missed)) => {
                    log::info!("dropping a stream client that fell {missed} events behind");
                    return;
                }
                Err(RecvError::Closed) => return,
            },
            _ = heartbeat.tick() => Bytes::from_static(b": heartbeat\n\n"),
            _ = closing.wait_for(|closing| *closing) => return,
        };
        // A full buffer means the client is not reading: drop it rather than wait.
        if frames.try_send(frame).is_err() {
            return;
        }
    }
}

/// Sends every wanted event after `after` from the log; answers the last seq read, or `None`
/// when the client went away or the log could not be read.
async fn replay(
    store: &Arc<dyn Store>,
    mut after: i64,
    filter: &StreamFilter,
    frames: &mpsc::Sender<Bytes>,
) -> Option<i64> {
    loop {
        let reader = store.clone();
        let page = match web::block(move || reader.applied_after(after, REPLAY_PAGE)).await {
            Ok(Ok(page)) => page,
            Ok(Err(error)) => {
                log::error!("stream replay failed: {error}");
                return None;
            }
            Err(_) => return None,
        };
        for event in &page {
            if filter.wants(event) && frames.send(frame(event)).await.is_err() {
                return None;
            }
        }
        match page.last() {
            Some(last) if page.len() == REPLAY_PAGE => after = last.seq,
            Some(last) => return Some(last.seq),
            None => return Some(after),
        }
    }
}

/// One SSE frame: `id:` the seq, `event: alert`, `data:` the alert with `outcome` and `action`.
fn frame(event: &AppliedEvent) -> Bytes {
    let data = serde_json::to_string(&StreamedAlert::from(event)).expect("an alert serializes");
    Bytes::from(format!("id: {}\nevent: alert\ndata: {data}\n\n", event.seq))
}
