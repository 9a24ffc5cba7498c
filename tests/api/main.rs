//! Integration tests: the real server on a free port with a temporary database, spoken to over
//! HTTP as a monitoring tool would.

// In tests a failed unwrap is a failed test, a scenario reads best whole, and metrics keep
// counts as floats that are compared exactly. A test spells its data the plainest way (casts of
// small counts, `json!` values passed by value, hex built by hand to stay independent of the
// code under test), so those pedantic lints are off here too.
#![allow(
    clippy::unwrap_used,
    clippy::too_many_lines,
    clippy::float_cmp,
    clippy::cast_possible_wrap,
    clippy::cast_possible_truncation,
    clippy::needless_pass_by_value,
    clippy::redundant_closure_for_method_calls,
    clippy::format_collect,
    clippy::format_push_string,
    clippy::match_same_arms,
    clippy::items_after_statements
)]

mod access;
mod admin;
mod auth;
mod cli;
mod crash;
mod dashboard;
mod durability;
mod errors;
mod fixtures;
mod flood;
mod formats;
mod helpers;
mod hostile;
mod hygiene;
mod idempotency;
mod lifecycle;
mod limits;
mod manual;
mod memory;
mod metrics;
mod openapi;
mod pagerduty;
mod query;
mod rotation;
mod schemas;
mod secrets_at_rest;
mod stats;
mod stream;
