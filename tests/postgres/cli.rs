//! The command line on a PostgreSQL URL: what works on a server database, and what refuses.

use std::process::Command;

use crate::db::TestDb;

pub const TESTS: &[crate::Test] = &[(
    "backup_on_postgres_refuses_and_names_pg_dump",
    backup_refuses,
)];

fn backup_refuses() {
    let db = TestDb::fresh();
    let target = tempfile::tempdir().unwrap();
    let file = target.path().join("copy.db");
    let output = Command::new(env!("CARGO_BIN_EXE_alertgate"))
        .args(["backup", file.to_str().unwrap()])
        .env("ALERTGATE_DB", db.url_text())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("pg_dump"), "{stderr}");
    assert!(!file.exists(), "nothing was written");
    let password = db
        .url_text()
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(user, _)| user.split_once(':'))
        .map(|(_, password)| password.to_string())
        .unwrap();
    assert!(
        !stderr.contains(&password),
        "the password is never shown: {stderr}"
    );
}
