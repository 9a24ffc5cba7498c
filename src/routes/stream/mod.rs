//! `GET /v1/stream`: Server-Sent Events, one `alert` event per applied event (SPEC §5).
//!
//! Each client gets a task that first replays from the log what it missed (`Last-Event-ID`),
//! then forwards live events from the writer's broadcast. Subscribing before the replay and
//! skipping what the replay already sent means no event is lost or sent twice.
//!
//! What a client can make the server hold is bounded in bytes, not in events: a live event is
//! rendered once and its frame shared by every client; each client's waiting frames count
//! against its own budget and the one all clients share (`outbox`); a replay reads the log a
//! small page at a time and reads the next page only once the last is queued, so a client that
//! does not read holds its budget and nothing more. A client past a budget is dropped (it
//! resumes with `Last-Event-ID`), and ingest never waits for any client.

mod outbox;

use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{broadcast, watch};

pub use self::outbox::SharedCharges;
use self::outbox::{Outbox, Refused};
use super::api::{self, invalid, ApiAccess};
use super::AppState;
use crate::budget::ByteBudget;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::model::State;
use crate::store::{AppliedEvent, LiveEvent, Store, StoreError};
use crate::wire::{ErrorBody, StreamedAlert};

/// SPEC §5: a comment line at least this often keeps proxies from closing an idle stream.
const HEARTBEAT: Duration = Duration::from_secs(15);
/// Events read from the log per query while replaying.
const REPLAY_EVENTS: usize = 500;
/// The alert text one replay page reads at most (but always one event): a page of small alerts
/// is hundreds of events, one of the largest alerts is a page of its own.
const REPLAY_BYTES: usize = 256 * 1024;
/// What a replay page is taken to hold while it is read and rendered, before its real size is
/// known: its alert text, rendered as JSON.
const REPLAY_PAGE_ESTIMATE: usize = 2 * REPLAY_BYTES;
/// How long a replay waits for a client that takes nothing before dropping it.
const REPLAY_STALL: Duration = Duration::from_secs(30);

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
    let (outbox, body) = Outbox::new(state.memory.stream_client, state.memory.streams.clone());
    let client = Client {
        store: state.store.clone(),
        filter: Arc::new(filter),
        outbox,
        streams: state.memory.streams.clone(),
        replay_reads: state.memory.replay_reads.clone(),
        live_frames: state.memory.live_frames.clone(),
        closing: state.closing.clone(),
        metrics: state.metrics.clone(),
    };
    actix_web::rt::spawn(client.feed(live, last_event_id));
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(body))
}

/// One client, as its feeding task sees it.
struct Client {
    store: Arc<dyn Store>,
    filter: Arc<StreamFilter>,
    outbox: Outbox,
    /// The budget all clients share, which a replay page is held against until it is queued.
    streams: ByteBudget,
    /// Leave to read a replay page from the log, a few clients at a time.
    replay_reads: Arc<tokio::sync::Semaphore>,
    /// The shared budget's hold of each live frame, shared with every other client.
    live_frames: Arc<SharedCharges>,
    /// Becomes true when the server stops.
    closing: watch::Receiver<bool>,
    /// Counts the clients dropped.
    metrics: Arc<Metrics>,
}

/// A page of the log, rendered for one client.
struct Page {
    /// The frames of the events the client wants.
    frames: Vec<Bytes>,
    /// The last seq read, whether wanted or not; `None`: the log has nothing more.
    last: Option<i64>,
}

impl Client {
    /// Sends the client its replay, then live events and heartbeats, until it goes or falls
    /// behind, or the server stops.
    async fn feed(self, mut live: broadcast::Receiver<Arc<LiveEvent>>, last_event_id: Option<i64>) {
        if self
            .outbox
            .try_push(Bytes::from_static(b": connected\n\n"))
            .is_err()
        {
            return;
        }
        let mut sent_up_to = 0;
        if let Some(after) = last_event_id {
            match self.replay(after, &mut live).await {
                Some(last) => sent_up_to = last,
                None => return,
            }
        }
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        heartbeat.tick().await;
        let mut closing = self.closing.clone();
        loop {
            let (frame, seq) = tokio::select! {
                received = live.recv() => match received {
                    Ok(published)
                        if published.event.seq <= sent_up_to
                            || !self.filter.wants(&published.event) =>
                    {
                        continue
                    }
                    // The frame every client shares: rendered by the first to get here.
                    Ok(published) => (
                        Bytes::from_owner(published.rendered(render)),
                        Some(published.event.seq),
                    ),
                    Err(RecvError::Lagged(missed)) => {
                        return self.drop_client(&format!("it fell {missed} events behind"));
                    }
                    Err(RecvError::Closed) => return,
                },
                _ = heartbeat.tick() => (Bytes::from_static(b": heartbeat\n\n"), None),
                _ = closing.wait_for(|closing| *closing) => return,
            };
            // A full budget means the client is not reading: drop it rather than wait.
            let pushed = match seq {
                Some(seq) => self.outbox.try_push_shared(frame, seq, &self.live_frames),
                None => self.outbox.try_push(frame),
            };
            match pushed {
                Ok(()) => {}
                Err(Refused::Gone) => return,
                Err(refused) => return self.drop_client(refused.reason()),
            }
        }
    }

    /// Sends every wanted event after `after` from the log; answers the last seq read, or
    /// `None` when the client went or was dropped, or the log could not be read.
    ///
    /// Live events that arrive meanwhile are let go rather than kept: each was committed before
    /// the next page is read, so that page or a later one has it. The replay ends on a page that
    /// finds nothing, after which the live events are kept, so none is lost.
    async fn replay(
        &self,
        mut after: i64,
        live: &mut broadcast::Receiver<Arc<LiveEvent>>,
    ) -> Option<i64> {
        loop {
            // A page is held outside the outbox while it is read and queued: it is taken from
            // the budget all clients share first, so replays too are bounded in total, however
            // many clients replay at once.
            let limit = self.streams.limit();
            let Some(mut held) = self.streams.try_take(REPLAY_PAGE_ESTIMATE.min(limit)) else {
                self.drop_client(Refused::AllFull.reason());
                return None;
            };
            let page = self.read_page(after).await?;
            let size = page.frames.iter().map(Bytes::len).sum::<usize>().min(limit);
            if !held.try_grow(size.saturating_sub(held.bytes())) {
                self.drop_client(Refused::AllFull.reason());
                return None;
            }
            let Some(last) = page.last else {
                return Some(after);
            };
            for frame in page.frames {
                self.push_when_read(frame, live).await?;
            }
            drop(held);
            let_go(live)?;
            after = last;
        }
    }

    /// A page of the log after `after`, read and rendered off the HTTP workers, a few clients'
    /// pages at a time.
    async fn read_page(&self, after: i64) -> Option<Page> {
        let _reading = self.replay_reads.acquire().await.ok()?;
        let (store, filter) = (self.store.clone(), self.filter.clone());
        let read = web::block(move || -> Result<Page, StoreError> {
            let events = store.applied_after(after, REPLAY_EVENTS, REPLAY_BYTES)?;
            Ok(Page {
                frames: events
                    .iter()
                    .filter(|event| filter.wants(event))
                    .map(|event| Bytes::from(render(event)))
                    .collect(),
                last: events.last().map(|event| event.seq),
            })
        });
        match read.await {
            Ok(Ok(page)) => Some(page),
            Ok(Err(error)) => {
                log::error!("stream replay failed: {error}");
                None
            }
            Err(_) => None,
        }
    }

    /// Queues a replayed frame, waiting while the client's own budget is full (the client is
    /// reading what it asked for), but not for ever, and not when all clients' budget is full.
    async fn push_when_read(
        &self,
        frame: Bytes,
        live: &mut broadcast::Receiver<Arc<LiveEvent>>,
    ) -> Option<()> {
        let stalled = tokio::time::sleep(REPLAY_STALL);
        tokio::pin!(stalled);
        let mut closing = self.closing.clone();
        loop {
            match self.outbox.try_push(frame.clone()) {
                Ok(()) => return Some(()),
                Err(Refused::ClientFull) => {}
                Err(Refused::Gone) => return None,
                Err(refused) => {
                    self.drop_client(refused.reason());
                    return None;
                }
            }
            tokio::select! {
                () = self.outbox.taken() => {}
                // Let go of live events while waiting (see `replay`).
                received = live.recv() => {
                    if matches!(received, Err(RecvError::Closed)) {
                        return None;
                    }
                }
                () = &mut stalled => {
                    self.drop_client("it read nothing of its replay for 30 s");
                    return None;
                }
                _ = closing.wait_for(|closing| *closing) => return None,
            }
        }
    }

    fn drop_client(&self, why: &str) {
        log::info!("dropping a stream client: {why}; it can resume with Last-Event-ID");
        self.metrics.stream_client_dropped();
        self.outbox.drop_client();
    }
}

impl Refused {
    fn reason(self) -> &'static str {
        match self {
            Refused::ClientFull => "it holds all the memory one client may",
            Refused::AllFull => "stream clients hold all the memory they may together",
            Refused::Gone => "it has gone",
        }
    }
}

/// Lets go of the live events waiting: the replay reads them from the log. `None` when the
/// writer has stopped.
fn let_go(live: &mut broadcast::Receiver<Arc<LiveEvent>>) -> Option<()> {
    loop {
        match live.try_recv() {
            Ok(_) | Err(TryRecvError::Lagged(_)) => {}
            Err(TryRecvError::Empty) => return Some(()),
            Err(TryRecvError::Closed) => return None,
        }
    }
}

/// One SSE frame: `id:` the seq, `event: alert`, `data:` the alert with `outcome` and `action`.
fn render(event: &AppliedEvent) -> Vec<u8> {
    let mut frame = format!("id: {}\nevent: alert\ndata: ", event.seq).into_bytes();
    serde_json::to_writer(&mut frame, &StreamedAlert::from(event)).expect("an alert serializes");
    frame.extend_from_slice(b"\n\n");
    frame
}
