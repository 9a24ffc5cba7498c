//! The command line, run as a user would run it.

use reqwest::blocking::Client;

use crate::helpers::*;

#[test]
fn integration_commands_manage_integrations_and_never_reprint_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("alertgate.db");
    let (ok, stdout, _) = run_cli(
        &db,
        &["integration", "add", "plerion", "--preset", "plerion"],
    );
    assert!(ok);
    let secret = stdout
        .lines()
        .find_map(|line| line.strip_prefix("secret (shown only now): "))
        .expect("a generated secret is printed once")
        .to_string();
    assert_eq!(secret.len(), 64);

    let (ok, list, _) = run_cli(&db, &["integration", "list"]);
    assert!(ok && list.contains("plerion-signature"), "{list}");
    let (ok, show, _) = run_cli(&db, &["integration", "show", "plerion"]);
    assert!(ok && show.contains("\"mode\": \"hmac-sha256\""), "{show}");
    assert!(
        !list.contains(&secret) && !show.contains(&secret),
        "secrets are never shown again"
    );

    let (ok, rotated, _) = run_cli(&db, &["integration", "rotate-secret", "plerion"]);
    assert!(ok && rotated.contains("new secret"), "{rotated}");
    assert!(run_cli(&db, &["integration", "disable", "plerion"]).0);
    assert!(run_cli(&db, &["integration", "enable", "plerion"]).0);
    assert!(run_cli(&db, &["integration", "remove", "plerion"]).0);
    let (ok, _, stderr) = run_cli(&db, &["integration", "show", "plerion"]);
    assert!(
        !ok && stderr.contains("no integration named `plerion`"),
        "{stderr}"
    );
}

#[test]
fn bad_options_are_refused_with_a_message_and_a_nonzero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("alertgate.db");
    let cases: [(&[&str], &str); 6] = [
        (&["integration", "add", "Bad Name"], "name"),
        (&["integration", "add", "a", "--format", "xml"], "format"),
        (&["integration", "add", "a", "--auth", "magic"], "auth"),
        (
            &[
                "integration",
                "add",
                "a",
                "--auth",
                "bearer",
                "--header",
                "x",
            ],
            "header",
        ),
        (
            &[
                "integration",
                "add",
                "a",
                "--preset",
                "github",
                "--auth",
                "basic",
            ],
            "auth",
        ),
        (
            &[
                "integration",
                "add",
                "a",
                "--auth",
                "basic",
                "--secret",
                "nocolon",
            ],
            "secret",
        ),
    ];
    for (args, field) in cases {
        let (ok, _, stderr) = run_cli(&db, args);
        assert!(!ok, "{args:?} must fail");
        assert!(stderr.contains(&format!("{field}:")), "{args:?}: {stderr}");
    }
    let (ok, _, _) = run_cli(&db, &["integration", "add", "a"]);
    assert!(ok);
    let (ok, _, stderr) = run_cli(&db, &["integration", "add", "a"]);
    assert!(!ok && stderr.contains("exists already"), "{stderr}");
}

#[test]
fn secret_env_reads_the_secret_without_printing_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("alertgate.db");
    let output = alertgate(&db)
        .args([
            "integration",
            "add",
            "pingara",
            "--header",
            "X-Pingara-Secret",
            "--secret-env",
            "PINGARA_SECRET",
        ])
        .env("PINGARA_SECRET", "from-the-env")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(!String::from_utf8_lossy(&output.stdout).contains("from-the-env"));
}

#[test]
fn a_running_server_sees_cli_changes_within_a_second() {
    let app = spawn_app();
    let (ok, _, stderr) = run_cli(&app.db, &["integration", "add", "late", "--secret", TOKEN]);
    assert!(ok, "{stderr}");
    let started = std::time::Instant::now();
    while app
        .post_hook(
            "late",
            &[("pagertree-token", TOKEN)],
            create("x").to_string(),
        )
        .status()
        != 202
    {
        assert!(
            started.elapsed().as_millis() < 1000,
            "not seen within a second"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn sign_prints_headers_that_the_server_accepts() {
    let app = spawn_app();
    let body_file = app.db_path.with_file_name("body.json");
    let body = create("signed").to_string();
    std::fs::write(&body_file, &body).unwrap();
    for integration in ["hmac", "plerion", "sw"] {
        let (ok, stdout, stderr) = run_cli(
            &app.db,
            &[
                "sign",
                "--integration",
                integration,
                body_file.to_str().unwrap(),
            ],
        );
        assert!(ok, "{stderr}");
        let headers: Vec<(&str, &str)> = stdout
            .lines()
            .filter_map(|line| line.split_once(": "))
            .collect();
        assert!(!headers.is_empty());
        let response = app.post_hook(integration, &headers, body.clone());
        assert_eq!(response.status(), 202, "{integration}: {stdout}");
    }
    let (ok, _, stderr) = run_cli(
        &app.db,
        &[
            "sign",
            "--integration",
            "default",
            body_file.to_str().unwrap(),
        ],
    );
    assert!(!ok && stderr.contains("signs nothing"), "{stderr}");
}

#[test]
fn the_first_run_creates_default_and_prints_a_curl_line_that_works() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("alertgate.db");
    let mut child = alertgate(&db)
        .args(["--bind", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let curl = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|line| line.starts_with("curl "))
        .expect("a curl line is printed");
    let url = curl
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .unwrap();
    let header = curl
        .split("-H '")
        .nth(2)
        .unwrap()
        .split('\'')
        .next()
        .unwrap();
    let (name, value) = header.split_once(": ").unwrap();
    let data = curl.split("-d '").nth(1).unwrap().trim_end_matches('\'');
    let response = Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header(name, value)
        .body(data.to_string())
        .send()
        .unwrap();
    assert_eq!(response.status(), 202);
    child.kill().unwrap();
    child.wait().unwrap();
    let (ok, list, _) = run_cli(&db, &["integration", "list"]);
    assert!(ok && list.contains("default"), "{list}");
}

#[test]
fn a_public_bind_without_an_api_token_is_refused_with_how_to_fix_it() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = run_cli(dir.path().join("x.db"), &["--bind", "0.0.0.0:0"]);
    assert!(!ok);
    assert!(stderr.contains("ALERTGATE_API_TOKEN"), "{stderr}");
}

#[test]
fn rotation_keeps_at_most_five_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("alertgate.db");
    assert!(run_cli(&db, &["integration", "add", "r"]).0);
    for _ in 0..4 {
        assert!(run_cli(&db, &["integration", "rotate-secret", "r", "--keep-old"]).0);
    }
    let (ok, _, stderr) = run_cli(&db, &["integration", "rotate-secret", "r", "--keep-old"]);
    assert!(!ok && stderr.contains("5 active secrets"), "{stderr}");
    let (ok, show, _) = run_cli(&db, &["integration", "show", "r"]);
    assert!(ok && show.contains("\"active_secrets\": 5"), "{show}");
    assert!(run_cli(&db, &["integration", "rotate-secret", "r"]).0);
    let (_, show, _) = run_cli(&db, &["integration", "show", "r"]);
    assert!(
        show.contains("\"active_secrets\": 1"),
        "without --keep-old the old ones go: {show}"
    );
}

#[test]
fn alerts_and_alert_print_tables_from_the_database() {
    let app = spawn_app();
    app.send(&create("cli-open"));
    app.send(&create("cli-done"));
    app.send(&serde_json::json!({"event_type": "resolve", "Id": "cli-done"}));
    app.api_post(
        "/v1/alerts/default/cli-open/acknowledge",
        r#"{"by": "carol", "note": "checking"}"#,
    );

    let (ok, all, _) = run_cli(&app.db, &["alerts"]);
    assert!(ok, "{all}");
    assert!(all.lines().next().unwrap().starts_with("STATE"));
    assert!(
        all.contains("cli-open") && all.contains("cli-done"),
        "{all}"
    );
    let (ok, resolved, _) = run_cli(
        &app.db,
        &["alerts", "--state", "resolved", "--integration", "default"],
    );
    assert!(
        ok && resolved.contains("cli-done") && !resolved.contains("cli-open"),
        "{resolved}"
    );

    let (ok, one, _) = run_cli(&app.db, &["alert", "default", "cli-open"]);
    assert!(ok, "{one}");
    assert!(
        one.contains("acknowledged") && one.contains("by carol"),
        "{one}"
    );
    assert!(
        one.contains("carol: checking") && one.contains("hook") && one.contains("api"),
        "{one}"
    );

    // What a sender wrote can neither reorder a line nor move the cursor.
    let tricky = serde_json::json!({"event_type": "create", "Id": "cli-bidi",
        "Title": "disk \u{202e}lluf\u{202c} on db-1", "Description": "\u{200f}rtl",
        "Tags": ["\u{2066}isolated\u{2069}"]});
    assert_eq!(app.send(&tricky).status(), 202);
    let (_, listed, _) = run_cli(&app.db, &["alerts"]);
    let (_, shown, _) = run_cli(&app.db, &["alert", "default", "cli-bidi"]);
    for output in [&listed, &shown] {
        assert!(
            !output.contains(['\u{202e}', '\u{202c}', '\u{200f}', '\u{2066}']),
            "{output:?}"
        );
    }
    assert!(
        listed.contains("disk \\u{202e}lluf\\u{202c} on db-1"),
        "{listed}"
    );
    assert!(shown.contains("\\u{2066}isolated\\u{2069}"), "{shown}");

    let (ok, _, stderr) = run_cli(&app.db, &["alert", "default", "nope"]);
    assert!(!ok && stderr.contains("no alert `nope`"), "{stderr}");
    let (ok, _, stderr) = run_cli(&app.db, &["alerts", "--state", "closed"]);
    assert!(!ok && stderr.contains("closed"), "{stderr}");
}

#[test]
fn a_mapping_integration_is_added_with_pointers_and_an_action_map() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("alertgate.db");
    let args = [
        "integration",
        "add",
        "tool",
        "--format",
        "mapping",
        "--map",
        "id=/event/id",
        "--map",
        "title=/event/name",
        "--map",
        "action=/state",
        "--action-map",
        "OPEN=create",
        "--action-map",
        "CLOSED=resolve",
    ];
    let (ok, _, stderr) = run_cli(&db, &args);
    assert!(ok, "{stderr}");
    let (_, show, _) = run_cli(&db, &["integration", "show", "tool"]);
    let view: serde_json::Value = serde_json::from_str(&show).unwrap();
    assert_eq!(view["map"]["id"], "/event/id");
    assert_eq!(view["action_map"]["CLOSED"], "resolve");

    let refused: [(&[&str], &str); 4] = [
        (
            &[
                "integration",
                "add",
                "x",
                "--format",
                "mapping",
                "--map",
                "title=/t",
            ],
            "map:",
        ),
        (
            &[
                "integration",
                "add",
                "x",
                "--format",
                "mapping",
                "--map",
                "id=event",
            ],
            "map:",
        ),
        (
            &[
                "integration",
                "add",
                "x",
                "--format",
                "mapping",
                "--map",
                "id=/i",
                "--map",
                "action=/a",
                "--action-map",
                "OPEN=open",
            ],
            "action_map:",
        ),
        (&["integration", "add", "x", "--map", "id=/i"], "map:"),
    ];
    for (args, field) in refused {
        let (ok, _, stderr) = run_cli(&db, args);
        assert!(!ok && stderr.contains(field), "{args:?}: {stderr}");
    }
}

#[test]
fn a_pagerduty_integration_shows_its_routing_key_and_rotates_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("alertgate.db");
    let (ok, added, stderr) = run_cli(&db, &["integration", "add", "pd", "--format", "pagerduty"]);
    assert!(ok, "{stderr}");
    let key = printed_routing_key(&added);
    assert_eq!(key.len(), 32);
    let (_, show, _) = run_cli(&db, &["integration", "show", "pd"]);
    let view: serde_json::Value = serde_json::from_str(&show).unwrap();
    assert_eq!(
        (
            view["auth"]["mode"].as_str(),
            view["routing_keys"][0].as_str()
        ),
        (Some("routing-key"), Some(key.as_str()))
    );
    let (ok, rotated, _) = run_cli(&db, &["integration", "rotate-secret", "pd"]);
    assert!(
        ok && rotated.starts_with("new routing key for `pd`: ") && !rotated.contains(&key),
        "{rotated}"
    );
    let (ok, _, stderr) = run_cli(&db, &["sign", "--integration", "pd", "-"]);
    assert!(!ok && stderr.contains("routing_key"), "{stderr}");
    let (ok, _, stderr) = run_cli(
        &db,
        &[
            "integration",
            "add",
            "pd2",
            "--format",
            "pagerduty",
            "--auth",
            "token",
        ],
    );
    assert!(!ok && stderr.contains("routing-key"), "{stderr}");
    let (ok, _, stderr) = run_cli(&db, &["integration", "add", "pd3", "--auth", "routing-key"]);
    assert!(!ok && stderr.contains("routing-key"), "{stderr}");
}

#[test]
fn integration_test_dry_runs_a_file_and_exits_1_when_it_would_not_apply() {
    let app = spawn_app();
    let body_file = app.db_path.with_file_name("dry.json");
    std::fs::write(&body_file, create("cli-dry").to_string()).unwrap();
    let file = body_file.to_str().unwrap();

    let (ok, stdout, stderr) = run_cli(&app.db, &["integration", "test", "default", file]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("authentication is skipped"), "{stderr}");
    let run: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(run["results"][0]["outcome"], "created");

    let header = format!("pagertree-token: {TOKEN}");
    assert!(
        run_cli(
            &app.db,
            &["integration", "test", "default", file, "--header", &header]
        )
        .0
    );
    let (ok, stdout, _) = run_cli(
        &app.db,
        &[
            "integration",
            "test",
            "default",
            file,
            "--header",
            "pagertree-token: nope",
        ],
    );
    assert!(!ok, "a failing credential exits 1");
    assert!(stdout.contains("credential_mismatch"), "{stdout}");
    assert!(app.alert("default", "cli-dry").is_none(), "nothing stored");
}

#[test]
fn equal_api_and_admin_tokens_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let output = alertgate(dir.path().join("x.db"))
        .args(["--bind", "127.0.0.1:0"])
        .env("ALERTGATE_API_TOKEN", "same-token")
        .env("ALERTGATE_ADMIN_TOKEN", "same-token")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("must differ"));
}

/// Two servers on one database file would corrupt lifecycles: the second refuses to start,
/// naming the file and the first one's process, while the CLI keeps working beside the first.
#[test]
fn a_second_server_on_the_same_database_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("alertgate.db");
    let server = ServerProcess::start(&db);
    let mut second = alertgate(&db)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut exited = None;
    wait_until("the second server gives up", PATIENCE, || {
        exited = second.try_wait().unwrap();
        exited.is_some()
    });
    assert!(!exited.unwrap().success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(
        stderr.contains(&db.display().to_string())
            && stderr.contains(&server.child.id().to_string()),
        "{stderr}"
    );

    let (ok, _, stderr) = run_cli(&db, &["integration", "add", "beside", "--secret", TOKEN]);
    assert!(ok, "{stderr}");
    wait_until("the server takes the new integration", PATIENCE, || {
        let body = create("beside-1").to_string();
        server
            .post("/hooks/beside", &[("pagertree-token", TOKEN)], body)
            .status()
            == 202
    });
}
