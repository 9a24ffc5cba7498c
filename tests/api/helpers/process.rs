//! The real `alertgate` binary as its own process: the server started with `serve`, and the CLI
//! run on a database file.

use std::sync::mpsc;

use reqwest::blocking::{Client, Response};

use super::integrations::{HMAC_KEY, TOKEN};

/// The real `alertgate` binary, for what only a separate process can show: the CLI, `kill -9`,
/// signals, first-run output.
pub fn alertgate(db: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
    with_test_environment(
        std::process::Command::new(env!("CARGO_BIN_EXE_alertgate")),
        db,
    )
}

/// The binary run by another program (a tracer, say): `wrapper`, its `arguments`, then the
/// binary, in the same environment as `alertgate`.
pub fn alertgate_under(
    wrapper: &str,
    arguments: &[&std::ffi::OsStr],
    db: impl AsRef<std::ffi::OsStr>,
) -> std::process::Command {
    let mut command = std::process::Command::new(wrapper);
    command.args(arguments).arg(env!("CARGO_BIN_EXE_alertgate"));
    with_test_environment(command, db)
}

fn with_test_environment(
    mut command: std::process::Command,
    db: impl AsRef<std::ffi::OsStr>,
) -> std::process::Command {
    command
        .env_remove("ALERTGATE_API_TOKEN")
        .env_remove("ALERTGATE_ADMIN_TOKEN")
        .env_remove("ALERTGATE_BIND")
        .env("ALERTGATE_DB", db.as_ref())
        .env("RUST_LOG", "warn");
    command
}

/// A server running as its own process.
pub struct ServerProcess {
    pub child: std::process::Child,
    pub address: String,
}

impl ServerProcess {
    /// Starts `alertgate serve` on a free port and waits until it listens.
    pub fn start(db: impl AsRef<std::ffi::OsStr>) -> ServerProcess {
        Self::start_with(alertgate(db))
    }

    /// Starts `command` (the binary with its environment set) on a free port.
    pub fn start_with(mut command: std::process::Command) -> ServerProcess {
        use std::io::BufRead;
        let mut child = command
            .args(["serve", "--bind", "127.0.0.1:0", "--workers", "2"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let stdout = child.stdout.take().unwrap();
        let (line_sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if line_sender.send(line).is_err() {
                    return;
                }
            }
        });
        let address = loop {
            let line = lines
                .recv_timeout(std::time::Duration::from_secs(30))
                .expect("the server says where it listens");
            if let Some(rest) = line.strip_prefix("alertgate listening on ") {
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        // Keep draining, so a full pipe never blocks the server.
        std::thread::spawn(move || while lines.recv().is_ok() {});
        ServerProcess { child, address }
    }

    pub fn post(&self, path: &str, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Response {
        let mut request = Client::new()
            .post(format!("{}{path}", self.address))
            .body(body.into());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().expect("the server answers")
    }

    /// SIGTERM: asks the server to stop as an init system would.
    #[cfg(unix)]
    pub fn terminate(&self) {
        let pid = self.child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIGTERM reached the server");
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill_hard(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the binary with `args` on `db`; answers (success, stdout, stderr).
pub fn run_cli(db: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> (bool, String, String) {
    let output = alertgate(db).args(args).output().expect("the binary runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The routing key that `integration add --format pagerduty` printed.
pub fn printed_routing_key(output: &str) -> String {
    output
        .lines()
        .find_map(|line| line.strip_prefix("routing key: "))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the routing key is printed")
        .to_string()
}

/// Adds, through the CLI, the two integrations the process-level tests send to: `tok` (token
/// auth with `TOKEN`) and `sig` (HMAC-SHA256 of the body in `X-Signature` with `HMAC_KEY`).
pub fn add_sender_integrations(db: &std::path::Path) {
    assert!(run_cli(db, &["integration", "add", "tok", "--secret", TOKEN]).0);
    let hmac = [
        "integration",
        "add",
        "sig",
        "--auth",
        "hmac-sha256",
        "--header",
        "X-Signature",
        "--secret",
        HMAC_KEY,
    ];
    assert!(run_cli(db, &hmac).0);
}
