//! alertgate receives alert webhooks, proves who sent each one, and keeps every alert's
//! lifecycle (open → acknowledged → resolved) in SQLite. The contract is SPEC.md.
//!
//! # Layout
//!
//! Data flows one way: route → ingest pipeline → auth (raw bytes) → format (JSON → events) →
//! store (the lifecycle and SQL in one transaction) → response. Nothing below `routes` knows
//! HTTP; nothing outside `store` knows SQL; `lifecycle`, `formats` and `auth` know neither
//! (`tests/architecture.rs` checks these arrows).
//!
//! - `cli`: the command line: `serve`, `integration …`, `alerts`, `alert`, `sign`, `backup`.
//! - `config`: the server's settings, each a flag, a variable and a default.
//! - `startup`: builds the actix-web app on a bound listener and runs it.
//! - `routes`: thin HTTP handlers, one module per resource; the one ingest pipeline; the
//!   middleware that logs and counts every request.
//! - `wire`: the JSON bodies of the API (`Serialize` + `ToSchema`), built from domain data.
//! - `openapi`: the OpenAPI document, generated from the handlers and their wire types.
//! - `error`: the one HTTP error type and its status map (SPEC §8).
//! - `registry`: integrations held in memory, refreshed when the CLI changes them.
//! - `wake`: a doorbell between threads (a store that hears of changes wakes the registry).
//! - `auth`: pure verification of each auth mode on the raw body (SPEC §2).
//! - `formats`: pure readers of sender payloads into events (SPEC §3).
//! - `lifecycle`: the pure alert state machine (SPEC §4) and the one path that applies a
//!   delivery's events through it.
//! - `integration`: what an integration is and the one place that validates one.
//! - `limits`: how deep a delivery's JSON may nest and how many events it may carry.
//! - `budget`: byte budgets that bound the memory slow clients can hold (bodies, streams).
//! - `dry_run`: what a delivery would do, through the real functions, storing nothing.
//! - `store`: the only SQL: the group committer, the SQLite store (writer backend, readers,
//!   migrations, upkeep), behind a trait that speaks data.
//! - `metrics`: the Prometheus metrics, fed by the request middleware and the writer's observer.
//! - `model`: shared vocabularies (state, action, severity, source) and their spellings.
//! - `ids`, `time`, `cursor`: ids and hex, the one text form of time, pagination cursors.
//! - `fuzz`: the properties the fuzz targets check, shared with the test suite.

pub mod auth;
pub mod budget;
pub mod cli;
pub mod config;
pub mod cursor;
pub mod dry_run;
pub mod error;
pub mod formats;
pub mod fuzz;
pub mod ids;
pub mod integration;
pub mod lifecycle;
pub mod limits;
pub mod metrics;
pub mod model;
pub mod openapi;
pub mod registry;
pub mod routes;
pub mod startup;
pub mod store;
pub mod text;
pub mod time;
pub mod wake;
pub mod wire;
