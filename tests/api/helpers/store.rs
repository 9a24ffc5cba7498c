//! Which store the suite runs on: SQLite unless `ALERTGATE_TEST_STORE=postgres`, which runs the
//! same tests against the PostgreSQL server `ALERTGATE_TEST_PG` names (each app on a database
//! of its own). A test of what only a SQLite file has (its size, its modes, a copy of it, a
//! process killed on it) runs on SQLite either way, or returns early on PostgreSQL.

/// The store the apps of this run are built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestStore {
    Sqlite,
    Postgres,
}

/// `ALERTGATE_TEST_STORE`: `sqlite` (or unset) or `postgres`. Anything else, or `postgres`
/// without a server to run on, panics: a misconfigured run must not pass.
pub fn test_store() -> TestStore {
    match std::env::var("ALERTGATE_TEST_STORE").as_deref() {
        Err(_) | Ok("" | "sqlite") => TestStore::Sqlite,
        Ok("postgres") => {
            assert!(
                super::pg_db::admin_url().is_some(),
                "ALERTGATE_TEST_STORE=postgres needs ALERTGATE_TEST_PG=postgres://… (the admin URL \
                 of a server the tests may create databases on)"
            );
            TestStore::Postgres
        }
        Ok(other) => panic!("ALERTGATE_TEST_STORE is `{other}`; say sqlite or postgres"),
    }
}

/// Whether this run is on SQLite: for a test of what only a SQLite file has.
#[allow(dead_code)]
pub fn only_on_sqlite() -> bool {
    test_store() == TestStore::Sqlite
}
