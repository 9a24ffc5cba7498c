//! The PostgreSQL store: several alertgate nodes on one database (SPEC §11).
//!
//! `url` reads the URL people paste (with libpq's `sslmode`), `connect` makes connections on the
//! store's own tokio runtime with TLS and the session settings every connection needs, `schema`
//! applies the embedded migrations of `migrations/postgres/`, and `database` is the direct
//! connection the CLI and start-up use. `errors` turns the server's failures into the store's,
//! so that a database that cannot be reached is answered `503`, not `500`.

mod connect;
mod database;
mod errors;
mod schema;
mod url;

pub use connect::PgSettings;
pub use database::PgDatabase;
pub use url::{PgUrl, SslMode};
