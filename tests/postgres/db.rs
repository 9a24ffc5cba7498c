//! A database of its own for each test, on the server `ALERTGATE_TEST_PG` names: created empty
//! through that admin URL and dropped, connections and all, when the test ends, so that tests
//! running at once share no tables, advisory locks or settings.

use std::sync::atomic::{AtomicUsize, Ordering};

use alertgate::store::PgUrl;

/// The environment variable holding the admin URL.
pub const SERVER_VARIABLE: &str = "ALERTGATE_TEST_PG";

/// The admin URL, when a server is given.
pub fn admin_url() -> Option<String> {
    std::env::var(SERVER_VARIABLE)
        .ok()
        .filter(|url| !url.trim().is_empty())
}

/// A fresh, empty database, dropped on drop.
pub struct TestDb {
    admin: String,
    name: String,
    url: String,
}

impl TestDb {
    /// Creates `t_<pid>_<n>`; panics without a server (a test that needs one must not pass).
    pub fn fresh() -> TestDb {
        static CREATED: AtomicUsize = AtomicUsize::new(0);
        let admin = admin_url().expect("ALERTGATE_TEST_PG names the server");
        let name = format!(
            "t_{}_{}",
            std::process::id(),
            CREATED.fetch_add(1, Ordering::Relaxed)
        );
        raw_client(&admin)
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .unwrap();
        let url = with_database(&admin, &name);
        TestDb { admin, name, url }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its URL, as alertgate is given it.
    pub fn url(&self) -> PgUrl {
        PgUrl::parse(&self.url).unwrap()
    }

    /// Its URL as text, for URLs the test alters.
    pub fn url_text(&self) -> &str {
        &self.url
    }

    /// A plain session on it, of the test's own (no alertgate settings).
    pub fn client(&self) -> postgres::Client {
        raw_client(&self.url)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let dropped =
            postgres::Client::connect(&self.admin, postgres::NoTls).and_then(|mut admin| {
                admin.batch_execute(&format!(
                    "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                    self.name
                ))
            });
        if let Err(error) = dropped {
            eprintln!("cannot drop test database {}: {error}", self.name);
        }
    }
}

fn raw_client(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).unwrap()
}

/// `url` with its database name replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let query = path.split_once('?').map(|(_, query)| query);
    match query {
        Some(query) => format!("{scheme}://{authority}/{database}?{query}"),
        None => format!("{scheme}://{authority}/{database}"),
    }
}
