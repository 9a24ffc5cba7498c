//! Integration tests: the real server on a free port with a temporary database, spoken to over
//! HTTP as a monitoring tool would.

// In tests a failed unwrap is a failed test, a scenario reads best whole, and metrics keep
// counts as floats that are compared exactly.
#![allow(clippy::unwrap_used, clippy::too_many_lines, clippy::float_cmp)]

mod admin;
mod auth;
mod cli;
mod crash;
mod dashboard;
mod durability;
mod errors;
mod fixtures;
mod formats;
mod helpers;
mod hostile;
mod hygiene;
mod idempotency;
mod lifecycle;
mod limits;
mod manual;
mod metrics;
mod openapi;
mod pagerduty;
mod query;
mod schemas;
mod stats;
mod stream;
