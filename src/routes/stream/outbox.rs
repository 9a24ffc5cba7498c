//! One stream client's frames waiting to be sent, bounded in bytes: by the client's own budget
//! and by the budget all clients share. The feeding task pushes frames in; the response body
//! takes them out as fast as the connection writes them.
//!
//! A frame counts as held from its push until the connection has written it out: the body gives
//! its bytes back only when the connection asks for the next frame, which actix-web does once
//! its write buffer has drained. A client whose frames would go past a budget is dropped: its
//! waiting frames are discarded at once (however long it takes to read, it holds nothing more)
//! and its stream ends after the frame being written, so it resumes with `Last-Event-ID`.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use actix_web::web::Bytes;
use futures_util::Stream;
use tokio::sync::Notify;

use crate::budget::{ByteBudget, Reservation};

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The client's own budget is full: it reads slower than events come.
    ClientFull,
    /// All clients together hold the shared budget.
    AllFull,
    /// The client has gone, or was dropped.
    Gone,
}

/// The feeding task's end.
pub struct Outbox {
    shared: Arc<Shared>,
}

struct Shared {
    queue: Mutex<Queue>,
    /// A frame was pushed, or the stream ended.
    pushed: Notify,
    /// The connection took a frame: bytes were given back.
    taken: Notify,
    client: ByteBudget,
    all: ByteBudget,
}

#[derive(Default)]
struct Queue {
    frames: VecDeque<(Bytes, Held)>,
    /// No more frames will come: the stream ends once the queued ones are sent.
    ended: bool,
    /// The connection is gone or the client was dropped: pushes are refused.
    closed: bool,
}

/// A frame's bytes, counted against the client's budget and the shared one. A live frame is one
/// allocation shared by every client that queues it, so its hold on the shared budget is shared
/// too (`SharedCharges`).
struct Held {
    _client: Reservation,
    _all: Arc<Reservation>,
}

/// Charges beyond this many prompt a sweep of those no client holds any more.
const MOST_CHARGES: usize = 4096;

/// The shared budget's hold of each live frame, by its event's seq: taken by the first client
/// that queues the frame and kept while any client holds it, so a frame every dashboard shows
/// counts once, as it is held once.
#[derive(Default)]
pub struct SharedCharges(Mutex<HashMap<i64, Weak<Reservation>>>);

impl SharedCharges {
    fn hold(&self, seq: i64, bytes: usize, all: &ByteBudget) -> Option<Arc<Reservation>> {
        let mut charges = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(held) = charges.get(&seq).and_then(Weak::upgrade) {
            return Some(held);
        }
        if charges.len() >= MOST_CHARGES {
            charges.retain(|_, charge| charge.strong_count() > 0);
        }
        let held = Arc::new(all.try_take(bytes)?);
        charges.insert(seq, Arc::downgrade(&held));
        Some(held)
    }
}

impl Outbox {
    /// An outbox for one client with `client_limit` bytes of its own within `all`, and the
    /// response body that sends what it holds.
    pub fn new(
        client_limit: usize,
        all: ByteBudget,
    ) -> (Outbox, impl Stream<Item = Result<Bytes, Infallible>>) {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            pushed: Notify::new(),
            taken: Notify::new(),
            client: ByteBudget::new(client_limit),
            all,
        });
        let body = Body {
            shared: shared.clone(),
            sending: None,
        };
        (
            Outbox { shared },
            futures_util::stream::unfold(body, Body::next),
        )
    }

    /// Queues `frame` when both budgets have room for it. A frame larger than a whole budget
    /// counts as the whole budget, so it goes out alone rather than never.
    pub fn try_push(&self, frame: Bytes) -> Result<(), Refused> {
        self.push(frame, None)
    }

    /// Queues the live frame of event `seq`, which other clients may queue too: the shared
    /// budget holds it once for all of them (see `try_push`).
    pub fn try_push_shared(
        &self,
        frame: Bytes,
        seq: i64,
        charges: &SharedCharges,
    ) -> Result<(), Refused> {
        self.push(frame, Some((seq, charges)))
    }

    fn push(&self, frame: Bytes, shared: Option<(i64, &SharedCharges)>) -> Result<(), Refused> {
        let mut queue = self.shared.lock();
        if queue.closed {
            return Err(Refused::Gone);
        }
        let bytes = |budget: &ByteBudget| frame.len().min(budget.limit());
        let client = (self.shared.client)
            .try_take(bytes(&self.shared.client))
            .ok_or(Refused::ClientFull)?;
        let all = &self.shared.all;
        let all = match shared {
            Some((seq, charges)) => charges.hold(seq, bytes(all), all),
            None => all.try_take(bytes(all)).map(Arc::new),
        }
        .ok_or(Refused::AllFull)?;
        queue.frames.push_back((
            frame,
            Held {
                _client: client,
                _all: all,
            },
        ));
        drop(queue);
        self.shared.pushed.notify_one();
        Ok(())
    }

    /// Resolves once the connection has taken a frame since the last call (or at once, if it
    /// did in between): for a push refused with `ClientFull` that can wait.
    pub async fn taken(&self) {
        self.shared.taken.notified().await;
    }

    /// Drops the client: what waits is discarded now, and the stream ends after the frame
    /// being written.
    pub fn drop_client(&self) {
        let mut queue = self.shared.lock();
        queue.frames.clear();
        queue.closed = true;
        queue.ended = true;
        drop(queue);
        self.shared.pushed.notify_one();
    }
}

impl Drop for Outbox {
    /// The feeding task is done (the server is stopping, or the log could not be read): the
    /// stream ends once what waits is sent.
    fn drop(&mut self) {
        self.shared.lock().ended = true;
        self.shared.pushed.notify_one();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Nothing panics while holding it; a poisoned queue is still a queue.
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The response body's end.
struct Body {
    shared: Arc<Shared>,
    /// The frame handed to the connection last, held until the connection asks for another.
    sending: Option<Held>,
}

impl Body {
    async fn next(mut self) -> Option<(Result<Bytes, Infallible>, Body)> {
        if self.sending.take().is_some() {
            self.shared.taken.notify_one();
        }
        loop {
            {
                let mut queue = self.shared.lock();
                if let Some((frame, held)) = queue.frames.pop_front() {
                    drop(queue);
                    self.sending = Some(held);
                    return Some((Ok(frame), self));
                }
                if queue.ended {
                    return None;
                }
            }
            self.shared.pushed.notified().await;
        }
    }
}

impl Drop for Body {
    /// The connection is gone: nothing more is queued, and what waits goes now. A feeding task
    /// waiting for room wakes to find it gone.
    fn drop(&mut self) {
        let mut queue = self.shared.lock();
        queue.closed = true;
        queue.frames.clear();
        drop(queue);
        self.shared.taken.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn frame(bytes: usize) -> Bytes {
        Bytes::from(vec![b'x'; bytes])
    }

    #[actix_web::test]
    async fn frames_wait_within_the_clients_budget_and_go_back_once_written() {
        let all = ByteBudget::new(1000);
        let (outbox, body) = Outbox::new(100, all.clone());
        let mut body = Box::pin(body);
        outbox.try_push(frame(60)).unwrap();
        outbox.try_push(frame(40)).unwrap();
        assert_eq!(outbox.try_push(frame(1)), Err(Refused::ClientFull));
        assert_eq!(all.taken(), 100);
        assert_eq!(body.next().await.unwrap().unwrap().len(), 60);
        assert_eq!(all.taken(), 100, "the frame being written still counts");
        outbox.try_push(frame(1)).expect_err("still full");
        assert_eq!(body.next().await.unwrap().unwrap().len(), 40);
        assert_eq!(all.taken(), 40, "the first is written and given back");
        outbox.taken().await;
    }

    #[actix_web::test]
    async fn the_shared_budget_bounds_all_clients_together() {
        let all = ByteBudget::new(100);
        let (first, _first_body) = Outbox::new(100, all.clone());
        let (second, _second_body) = Outbox::new(100, all.clone());
        first.try_push(frame(70)).unwrap();
        assert_eq!(second.try_push(frame(40)), Err(Refused::AllFull));
        second.try_push(frame(30)).unwrap();
        first.drop_client();
        assert_eq!(
            all.taken(),
            30,
            "a dropped client's frames are given back at once"
        );
        assert_eq!(first.try_push(frame(1)), Err(Refused::Gone));
    }

    #[actix_web::test]
    async fn a_live_frame_queued_by_many_clients_counts_once_while_any_holds_it() {
        let all = ByteBudget::new(100);
        let charges = SharedCharges::default();
        let clients: Vec<_> = (0..5).map(|_| Outbox::new(200, all.clone())).collect();
        let shared = frame(60);
        for (outbox, _) in &clients {
            outbox.try_push_shared(shared.clone(), 7, &charges).unwrap();
        }
        assert_eq!(all.taken(), 60, "five clients, one frame, one charge");
        assert_eq!(
            clients[0].0.try_push_shared(frame(60), 8, &charges),
            Err(Refused::AllFull),
            "another frame is charged on its own"
        );
        let (mut remaining, mut bodies): (Vec<_>, Vec<_>) = clients.into_iter().unzip();
        let last = remaining.pop().unwrap();
        drop(remaining);
        bodies.truncate(1);
        assert_eq!(all.taken(), 60, "one client still holds it");
        drop(bodies);
        drop(last);
        assert_eq!(all.taken(), 0, "given back once no client holds it");
    }

    #[actix_web::test]
    async fn a_frame_larger_than_a_budget_goes_out_alone() {
        let (outbox, body) = Outbox::new(10, ByteBudget::new(20));
        let mut body = Box::pin(body);
        outbox
            .try_push(frame(500))
            .expect("an empty outbox takes it");
        assert_eq!(outbox.try_push(frame(1)), Err(Refused::ClientFull));
        assert_eq!(body.next().await.unwrap().unwrap().len(), 500);
    }

    #[actix_web::test]
    async fn a_dropped_client_gets_no_more_and_its_stream_ends() {
        let (outbox, body) = Outbox::new(100, ByteBudget::new(100));
        let mut body = Box::pin(body);
        outbox.try_push(frame(10)).unwrap();
        outbox.drop_client();
        assert!(body.next().await.is_none(), "waiting frames were discarded");
    }

    #[actix_web::test]
    async fn a_finished_feed_lets_what_waits_go_out_first() {
        let (outbox, body) = Outbox::new(100, ByteBudget::new(100));
        outbox.try_push(frame(10)).unwrap();
        drop(outbox);
        let frames: Vec<_> = body.collect().await;
        assert_eq!(frames.len(), 1);
    }

    #[actix_web::test]
    async fn a_gone_connection_refuses_pushes_and_gives_back_what_waited() {
        let all = ByteBudget::new(100);
        let (outbox, body) = Outbox::new(100, all.clone());
        outbox.try_push(frame(10)).unwrap();
        drop(body);
        assert_eq!(all.taken(), 0);
        assert_eq!(outbox.try_push(frame(1)), Err(Refused::Gone));
    }
}
