//! What the tests share, one job to a file:
//!
//! - `app`: the server in-process (`spawn_app()`, `TestApp` and its requests, the standard
//!   integrations, settings, the test clock, waiting for things);
//! - `process`: the real binary as its own process (`ServerProcess`, the CLI);
//! - `signing`: credentials computed for a request (HMAC signatures, signed requests).
//!
//! Everything is re-exported here, so a test needs only `use crate::helpers::*;`.

mod app;
mod process;
mod signing;

pub use app::*;
pub use process::*;
pub use signing::*;
