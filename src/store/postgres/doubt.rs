//! A COMMIT whose answer was lost: the connection died after the transaction's COMMIT was sent,
//! so it may or may not have happened. The server knows: `pg_xact_status` of the transaction's
//! id says `committed` or `aborted` (or `in progress`, until the server notices the connection
//! is gone), asked on a new connection.

use std::time::{Duration, Instant};

use deadpool_postgres::Pool;

/// Whether the transaction committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Committed {
    Yes,
    No,
}

/// Asks until `budget` has passed; `None` when the server could not tell in time.
pub(super) async fn status(pool: &Pool, xid: &str, budget: Duration) -> Option<Committed> {
    let deadline = Instant::now() + budget;
    while Instant::now() < deadline {
        match ask(pool, xid).await {
            Ok(Some(committed)) => return Some(committed),
            Ok(None) => {}
            Err(error) => log::debug!("cannot ask whether a commit happened yet: {error}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// The server's answer, `None` while the transaction still counts as in progress.
async fn ask(pool: &Pool, xid: &str) -> Result<Option<Committed>, crate::store::StoreError> {
    let client = pool.get().await?;
    let row = client
        .query_one("SELECT pg_xact_status($1::text::xid8)::text", &[&xid])
        .await?;
    Ok(match row.try_get::<_, Option<String>>(0)?.as_deref() {
        Some("committed") => Some(Committed::Yes),
        Some("aborted") => Some(Committed::No),
        _ => None,
    })
}
