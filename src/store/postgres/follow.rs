//! A node's live stream on PostgreSQL: every node's applied events, in `seq` order, none twice,
//! none skipped.
//!
//! The follower is the only thing that publishes to the node's broadcast. It keeps the seq it
//! has published through. Its own writer's groups arrive first-hand, with each alert as the
//! event left it (`FollowerSink`); before publishing one, the follower reads from the log any
//! seqs between (other nodes' groups, committed before this one since seqs follow commit order).
//! A notification, a reconnect of the listener, or a one-second tick tells it how far the log
//! has grown, and it reads the rest from the log (alerts as they are now, as a replay gives).
//! With no subscriber it only moves its mark: a subscriber that joins later reads the log first.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::{broadcast, mpsc};

use super::alerts;
use super::listen::Heard;
use crate::store::writer::Publish;
use crate::store::{LiveEvent, StoreError};
use crate::wake::Wake;

/// How often the follower looks at the log when it hears nothing.
const TICK: Duration = Duration::from_secs(1);
/// Events read from the log at a time, and their alerts' bytes at most.
const PAGE: usize = 256;
const PAGE_BYTES: usize = 1 << 20;

/// The writer's sink on PostgreSQL: each committed group's events go to the follower, which
/// decides whether anyone is listening when it publishes (after the commit), not before.
pub(super) struct FollowerSink(pub mpsc::UnboundedSender<Vec<Arc<LiveEvent>>>);

impl Publish for FollowerSink {
    fn wanted(&self) -> bool {
        true
    }

    fn committed(&mut self, events: Vec<Arc<LiveEvent>>) {
        // The follower goes only with the store.
        let _ = self.0.send(events);
    }
}

/// Where the registry's refresher waits, once it has asked to be woken.
pub(super) type IntegrationsWake = Arc<Mutex<Option<Arc<Wake>>>>;

pub(super) struct Follower {
    pub readers: Pool,
    pub live: broadcast::Sender<Arc<LiveEvent>>,
    pub integrations: IntegrationsWake,
}

impl Follower {
    /// Follows until the store is gone (its writer's sink closes).
    pub(super) async fn run(
        self,
        mut local: mpsc::UnboundedReceiver<Vec<Arc<LiveEvent>>>,
        heard: mpsc::UnboundedReceiver<Heard>,
    ) {
        let mut through = self.start().await;
        // This node's groups waiting for seqs before theirs that could not be read yet.
        let mut held = VecDeque::new();
        let mut heard = Some(heard);
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                group = local.recv() => match group {
                    Some(events) => {
                        held.push_back(events);
                        self.release(&mut held, &mut through).await;
                    }
                    None => return,
                },
                news = async { heard.as_mut()?.recv().await }, if heard.is_some() => {
                    match news {
                        Some(Heard::Events(last)) => {
                            // Our own groups first, as their writer saw them.
                            while let Ok(events) = local.try_recv() {
                                held.push_back(events);
                            }
                            self.release(&mut held, &mut through).await;
                            self.catch_up(last, &mut through).await;
                        }
                        Some(Heard::Integrations) => self.ring_integrations(),
                        Some(Heard::Reconnected) => {
                            self.ring_integrations();
                            self.release(&mut held, &mut through).await;
                            self.look(&mut through).await;
                        }
                        None => heard = None,
                    }
                }
                _ = tick.tick() => {
                    self.release(&mut held, &mut through).await;
                    self.look(&mut through).await;
                }
            }
        }
    }

    /// The log's last seq when the follower starts: what is older is a replay's to send.
    async fn start(&self) -> i64 {
        loop {
            match last_seq(&self.readers).await {
                Ok(last) => return last,
                Err(error) => {
                    log::warn!("the live stream waits for the database: {error}");
                    tokio::time::sleep(TICK).await;
                }
            }
        }
    }

    /// Reads how far the log has grown, and catches up to it.
    async fn look(&self, through: &mut i64) {
        match last_seq(&self.readers).await {
            Ok(last) => self.catch_up(last, through).await,
            Err(error) => log::debug!("the live stream cannot read the log now: {error}"),
        }
    }

    /// Publishes this node's groups in order, each once the seqs before it are published: a
    /// gap (another node's group, committed earlier) is read from the log first. When the log
    /// cannot be read now, the groups wait for the next try (a tick, a notification), so the
    /// stream is late rather than missing an event.
    async fn release(&self, held: &mut VecDeque<Vec<Arc<LiveEvent>>>, through: &mut i64) {
        while let Some(first) = held
            .front()
            .map(|events| events.first().map_or(i64::MIN, |event| event.event.seq))
        {
            if first > *through + 1 {
                self.catch_up(first - 1, through).await;
                if first > *through + 1 {
                    return;
                }
            }
            for event in held.pop_front().unwrap_or_default() {
                if event.event.seq > *through {
                    *through = event.event.seq;
                    // No receivers left is fine: the event is in the log for anyone who
                    // reconnects.
                    let _ = self.live.send(event);
                }
            }
        }
    }

    /// Publishes what the log holds after `through`, up to `last`.
    async fn catch_up(&self, last: i64, through: &mut i64) {
        while *through < last {
            if self.live.receiver_count() == 0 {
                *through = last;
                return;
            }
            let page = match self.page(*through, last).await {
                Ok(page) => page,
                Err(error) => {
                    log::debug!("the live stream cannot read the log now: {error}");
                    return;
                }
            };
            let Some(newest) = page.last().map(|event| event.seq) else {
                // Only ignored events up to `last`: nothing to send.
                *through = last;
                return;
            };
            for event in page {
                let _ = self.live.send(Arc::new(LiveEvent::new(event)));
            }
            *through = newest;
        }
    }

    async fn page(
        &self,
        after: i64,
        last: i64,
    ) -> Result<Vec<crate::store::AppliedEvent>, StoreError> {
        let client = self.readers.get().await?;
        alerts::applied_after(&client, after, last, PAGE, PAGE_BYTES).await
    }

    fn ring_integrations(&self) {
        if let Some(wake) = self.integrations.lock().expect("wake lock").as_ref() {
            wake.ring();
        }
    }
}

async fn last_seq(readers: &Pool) -> Result<i64, StoreError> {
    let client = readers.get().await?;
    let statement = client.prepare_cached("SELECT last FROM event_seq").await?;
    Ok(client.query_one(&statement, &[]).await?.try_get(0)?)
}
