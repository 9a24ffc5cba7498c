//! Hearing the other nodes: one connection of the node's own (never pooled) that LISTENs on the
//! channels a commit notifies, so a node learns of another's events and integration changes
//! within milliseconds instead of at its next poll.
//!
//! A notification can be missed (the connection drops, the server restarts): after every
//! reconnect the listener says so (`Heard::Reconnected`), and its listeners look for themselves;
//! they also poll on a timer, so a lost notification delays, never loses.

use std::time::Duration;

use futures_util::future::poll_fn;
use tokio::sync::mpsc;
use tokio_postgres::AsyncMessage;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::connect;
use super::flush::EVENTS_CHANNEL;
use super::integrations::CHANNEL as INTEGRATIONS_CHANNEL;

/// What the listener heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Heard {
    /// A group committed somewhere; the log holds seqs up to this one.
    Events(i64),
    /// Integrations changed somewhere.
    Integrations,
    /// The connection was made again: anything may have been missed while it was down.
    Reconnected,
}

/// The longest the listener waits before connecting again after a failure.
const MOST_BACKOFF: Duration = Duration::from_secs(2);

/// Listens until `heard` is closed, connecting again (0.1 s, then doubling to 2 s) whenever
/// the connection fails. Runs as a task on the store's runtime.
pub(super) async fn listen(
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    heard: mpsc::UnboundedSender<Heard>,
) {
    let mut backoff = Duration::from_millis(100);
    let mut first = true;
    loop {
        match session(&config, tls.clone(), &heard, first).await {
            Ended::Closed => return,
            Ended::Failed(why) => {
                log::warn!(
                    "lost the PostgreSQL notifications ({why}); polling until they are back"
                );
            }
        }
        first = false;
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MOST_BACKOFF);
        if heard.is_closed() {
            return;
        }
    }
}

enum Ended {
    /// Nobody listens any more.
    Closed,
    Failed(String),
}

/// One connection's life: LISTEN, then forward what comes until it fails.
async fn session(
    config: &tokio_postgres::Config,
    tls: MakeRustlsConnect,
    heard: &mpsc::UnboundedSender<Heard>,
    first: bool,
) -> Ended {
    let (client, mut connection) = match connect::handshake(config, tls).await {
        Ok(pair) => pair,
        Err(error) => return Ended::Failed(error.to_string()),
    };
    let (messages, mut received) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        loop {
            match poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(message)) => {
                    if messages.send(message).is_err() {
                        return String::from("closed");
                    }
                }
                Some(Err(error)) => return error.to_string(),
                None => return String::from("the server closed the connection"),
            }
        }
    });
    let listening = client
        .batch_execute(&format!(
            "LISTEN {EVENTS_CHANNEL}; LISTEN {INTEGRATIONS_CHANNEL}"
        ))
        .await;
    if let Err(error) = listening {
        driver.abort();
        return Ended::Failed(error.to_string());
    }
    if !first && heard.send(Heard::Reconnected).is_err() {
        driver.abort();
        return Ended::Closed;
    }
    while let Some(message) = received.recv().await {
        let AsyncMessage::Notification(notification) = message else {
            continue;
        };
        let what = if notification.channel() == EVENTS_CHANNEL {
            notification
                .payload()
                .parse()
                .map_or(Heard::Reconnected, Heard::Events)
        } else {
            Heard::Integrations
        };
        if heard.send(what).is_err() {
            driver.abort();
            return Ended::Closed;
        }
    }
    drop(client);
    Ended::Failed(driver.await.unwrap_or_else(|error| error.to_string()))
}
