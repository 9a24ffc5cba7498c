//! What the tests share, one job to a file:
//!
//! - `app`: the server in-process (`spawn_app()`, `TestApp` and its requests, settings, the test
//!   clock, waiting for things);
//! - `integrations`: the integrations every test app starts with, and their secrets;
//! - `process`: the real binary as its own process (`ServerProcess`, the CLI);
//! - `signing`: credentials computed for a request (HMAC and Standard Webhooks signatures,
//!   signed requests);
//! - `store`: which store the suite runs on (`ALERTGATE_TEST_STORE`), and `pg_db` a PostgreSQL
//!   database of each app's own (shared with the PostgreSQL tests).
//!
//! Everything is re-exported here, so a test needs only `use crate::helpers::*;`.

mod app;
mod integrations;
// Shared with the PostgreSQL tests, which use all of it.
#[allow(dead_code)]
#[path = "../../postgres/db.rs"]
mod pg_db;
mod process;
mod signing;
mod store;

pub use app::*;
pub use integrations::*;
pub use process::*;
pub use signing::*;
