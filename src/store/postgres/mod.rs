//! The PostgreSQL store: several alertgate nodes on one database (SPEC §11).
//!
//! Connecting: `url` reads the URL people paste (with libpq's `sslmode`), `connect` makes
//! connections on the store's own tokio runtime with TLS and the session settings every
//! connection needs, `schema` applies the embedded migrations of `migrations/postgres/`, and
//! `errors` turns the server's failures into the store's, so that a database that cannot be
//! reached is answered `503`, not `500`.
//!
//! Writing: `backend` is what the group committer drives, `attempt` one try at a group; each run of a group claims and locks
//! what it touches in one global order and is applied in memory (`segment`), then written in
//! one statement per table with its seqs taken in commit order (`flush`); a COMMIT whose answer
//! was lost is asked about (`doubt`).
//!
//! Across nodes: `listen` hears the notifications commits send, `follow` publishes every
//! node's events to this node's live stream in seq order and wakes the integrations' refresher.
//!
//! Reading: one module of SQL per family (`integrations`, `alerts`, `listing`, `deliveries`,
//! `stats`, `counters`), rows read into domain types by `rows`. `store` is the server's store;
//! `database` the direct connection the CLI and start-up use; `import` the target of `migrate`.

mod alerts;
mod attempt;
mod backend;
mod connect;
mod counters;
mod database;
mod deliveries;
mod doubt;
mod errors;
mod flush;
mod follow;
mod import;
mod integrations;
mod listen;
mod listing;
mod rows;
mod schema;
mod segment;
mod stats;
mod store;
mod upkeep;
mod url;

pub use connect::PgSettings;
pub use database::PgDatabase;
pub(super) use import::PgImport;
pub use store::PgStore;
pub use url::{PgUrl, SslMode};
