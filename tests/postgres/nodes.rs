//! alertgate servers in this process, any number of them on one test database: what several
//! nodes behind a load balancer are, without the load balancer.

use std::io::BufRead;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

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

/// `alertgate serve` as a process of its own, on `url`; killed when dropped.
pub struct Node {
    child: Child,
    pub address: String,
    /// What it printed after it said where it listens.
    pub printed: mpsc::Receiver<String>,
}

impl Node {
    pub fn start(url: &str) -> Node {
        let mut child = Command::new(env!("CARGO_BIN_EXE_alertgate"))
            .args(["serve", "--bind", "127.0.0.1:0", "--workers", "2"])
            .env("ALERTGATE_DB", url)
            .env_remove("ALERTGATE_API_TOKEN")
            .env_remove("ALERTGATE_ADMIN_TOKEN")
            .env("RUST_LOG", "error")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        let address = loop {
            let line = lines.recv_timeout(Duration::from_secs(30)).unwrap();
            if let Some(rest) = line.strip_prefix("alertgate listening on ") {
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        Node {
            child,
            address,
            printed: lines,
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
