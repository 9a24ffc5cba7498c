//! Integration tests: the real server on a free port with a temporary database, spoken to over
//! HTTP as a monitoring tool would.

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
