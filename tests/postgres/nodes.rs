//! alertgate servers in this process, any number of them on one test database: what several
//! nodes behind a load balancer are, without the load balancer.

use std::net::TcpListener;
use std::sync::mpsc;

use alertgate::config::Config;
use alertgate::integration::IntegrationOptions;
use alertgate::startup::Application;
use alertgate::store::{Database, DbLocation};
use clap::Parser;

use crate::db::TestDb;

/// The integration every node serves: PagerTree's format, no authentication.
pub const INTEGRATION: &str = "open";

/// Adds `INTEGRATION` to `db`.
pub fn add_integration(db: &TestDb) {
    let mut database = Database::open(DbLocation::Postgres(Box::new(db.url()))).unwrap();
    let options = IntegrationOptions {
        name: INTEGRATION.into(),
        auth: Some("none".into()),
        ..IntegrationOptions::default()
    };
    database
        .add_integration(&options.validate().unwrap())
        .unwrap();
}

/// One node: a server on a free loopback port, on `db`, with the command line's defaults and
/// `extra` arguments. It serves until the test process ends.
pub fn start_node(db: &TestDb, extra: &[&str]) -> String {
    start_node_at(db.url_text(), extra)
}

/// One node on the database at `url` (a test's own path to it, a proxy say).
pub fn start_node_at(url: &str, extra: &[&str]) -> String {
    let mut arguments = vec!["alertgate", "--db", url, "--workers", "2"];
    arguments.extend_from_slice(extra);
    let cli = alertgate::cli::Cli::try_parse_from(arguments).unwrap();
    let config = Config::new(cli.serve, cli.db).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (port_sender, port) = mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let application = Application::build(&config, listener).unwrap();
            port_sender.send(application.port()).unwrap();
            application.run_until_stopped().await.unwrap();
        });
    });
    format!("http://127.0.0.1:{}", port.recv().unwrap())
}
