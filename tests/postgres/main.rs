//! PostgreSQL's own tests, against the server `ALERTGATE_TEST_PG` names (an admin URL: each test
//! creates a database of its own through it). `.ci/run` starts a throwaway cluster and sets it.
//!
//! A test run without it must not look like a pass: every test is then reported `ignored`, with
//! the reason, and the run says how to give a server. That needs a harness of our own
//! (libtest-mimic), since the built-in one cannot ignore a test at run time.

// In tests a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod across;
mod cli;
mod db;
mod failures;
mod kill;
mod migrate;
mod migrations;
mod nodes;
mod upkeep;
mod writer;

use libtest_mimic::{Arguments, Completion, Trial};

/// A test: it panics to fail.
type Test = (&'static str, fn());

/// Every module of tests, by name: a new module adds its line here.
const MODULES: &[(&str, &[Test])] = &[
    ("migrations", migrations::TESTS),
    ("writer", writer::TESTS),
    ("across", across::TESTS),
    ("failures", failures::TESTS),
    ("kill", kill::TESTS),
    ("migrate", migrate::TESTS),
    ("upkeep", upkeep::TESTS),
    ("cli", cli::TESTS),
];

fn main() {
    // The nodes' logs, when asked for (as in the API suite).
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = env_logger::builder().is_test(true).try_init();
    }
    let arguments = Arguments::from_args();
    let server = db::admin_url();
    if server.is_none() {
        println!(
            "PostgreSQL tests skipped: set {}=postgres://… (.ci/run starts a server)",
            db::SERVER_VARIABLE
        );
    }
    let trials = MODULES
        .iter()
        .flat_map(|&(module, tests)| tests.iter().map(move |&test| (module, test)))
        .map(|(module, (name, test))| {
            let skip = server.is_none();
            Trial::ignorable_test(format!("{module}::{name}"), move || {
                if skip {
                    return Ok(Completion::ignored_with(format!(
                        "no PostgreSQL: {} is not set",
                        db::SERVER_VARIABLE
                    )));
                }
                test();
                Ok(Completion::Completed)
            })
        })
        .collect();
    libtest_mimic::run(&arguments, trials).exit();
}
