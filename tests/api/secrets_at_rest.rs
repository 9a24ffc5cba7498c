//! Token, Bearer and Basic secrets are kept only as hashes, in new databases and in databases an
//! earlier version wrote; HMAC keys and routing keys, which must be kept, still are.

use crate::helpers::*;

const OLD_TOKEN: &str = "legacy-token-kept-by-keep-old-7c1e";
const NEW_TOKEN: &str = "legacy-token-current-90d2";
const BEARER_TOKEN: &str = "legacy-bearer-5a7f33";
const BASIC_PAIR: &str = "ops:legacy-password-e81b";
const HMAC_SECRET: &str = "legacy-hmac-key-3d5c";
const ROUTING_KEY: &str = "feedfacefeedfacefeedfacefeedface";

/// The bytes of the database file and of its WAL, if it has one.
fn stored_bytes(db: &std::path::Path) -> Vec<u8> {
    let mut bytes = std::fs::read(db).unwrap();
    let wal = db.with_extension("db-wal");
    if let Ok(wal) = std::fs::read(&wal) {
        bytes.extend(wal);
    }
    bytes
}

fn holds(bytes: &[u8], text: &str) -> bool {
    bytes
        .windows(text.len())
        .any(|window| window == text.as_bytes())
}

fn assert_no_compared_secret_in(db: &std::path::Path, when: &str) {
    let bytes = stored_bytes(db);
    for secret in [OLD_TOKEN, NEW_TOKEN, BEARER_TOKEN, BASIC_PAIR] {
        assert!(
            !holds(&bytes, secret),
            "{when}: `{secret}` is still in the file or its WAL"
        );
    }
}

/// A database as version 2 of the schema left it, secrets stored as given, with one token kept
/// by `rotate-secret --keep-old` beside the current one. Left as a server killed with `-9`
/// leaves it: the secrets in the WAL, not yet checkpointed into the file.
fn version_2_database(db: &std::path::Path) {
    let schema = include_str!("../../schema.sql");
    let up_to_2 = &schema[..schema.find("-- step 3:").expect("schema.sql has a step 3")];
    let connection = rusqlite::Connection::open(db).unwrap();
    let mode: String = connection
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    connection
        .pragma_update(None, "wal_autocheckpoint", 0)
        .unwrap();
    connection.execute_batch(up_to_2).unwrap();
    connection.pragma_update(None, "user_version", 2).unwrap();
    let t = "2026-11-01T00:00:00.000Z";
    connection
        .execute_batch(&format!(
            "INSERT INTO integrations (name, format, auth_mode, auth_header, auth_prefix,
                 auth_encoding, created_at, updated_at) VALUES
                 ('tok', 'pagertree', 'token', 'pagertree-token', NULL, NULL, '{t}', '{t}'),
                 ('bear', 'pagertree', 'bearer', NULL, NULL, NULL, '{t}', '{t}'),
                 ('bas', 'pagertree', 'basic', NULL, NULL, NULL, '{t}', '{t}'),
                 ('sig', 'pagertree', 'hmac-sha256', 'x-signature', '', 'hex', '{t}', '{t}'),
                 ('pd', 'pagerduty', 'routing-key', NULL, NULL, NULL, '{t}', '{t}');
             INSERT INTO integration_secrets (integration, secret, created_at) VALUES
                 ('tok', '{OLD_TOKEN}', '{t}'),
                 ('tok', '{NEW_TOKEN}', '2026-11-02T00:00:00.000Z'),
                 ('bear', '{BEARER_TOKEN}', '{t}'),
                 ('bas', '{BASIC_PAIR}', '{t}'),
                 ('sig', '{HMAC_SECRET}', '{t}'),
                 ('pd', '{ROUTING_KEY}', '{t}');"
        ))
        .unwrap();
    assert!(
        holds(&stored_bytes(db), NEW_TOKEN),
        "the old layout holds the text"
    );
    // Never closed, so never checkpointed: the WAL stays behind, as after a crash.
    std::mem::forget(connection);
}

#[test]
fn an_upgraded_database_keeps_every_credential_working_and_no_token_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("alertgate.db");
    version_2_database(&db);

    let server = ServerProcess::start(&db);
    assert_no_compared_secret_in(&db, "as soon as the server listens");
    let body = create("upgraded-1").to_string();
    let json = ("content-type", "application/json");
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, BASIC_PAIR)
    );
    let bearer = format!("Bearer {BEARER_TOKEN}");
    let signature = hmac_hex(HMAC_SECRET, body.as_bytes());
    // (case, integration, credential header, its value, status)
    let cases = [
        ("current token", "tok", "pagertree-token", NEW_TOKEN, 202),
        (
            "kept by --keep-old",
            "tok",
            "pagertree-token",
            OLD_TOKEN,
            202,
        ),
        ("bearer", "bear", "authorization", bearer.as_str(), 202),
        ("basic", "bas", "authorization", basic.as_str(), 202),
        ("hmac", "sig", "x-signature", signature.as_str(), 202),
        ("wrong token", "tok", "pagertree-token", "nope", 401),
    ];
    for (case, name, header, value, expected) in cases {
        let path = format!("/hooks/{name}");
        let status = server
            .post(&path, &[json, (header, value)], body.clone())
            .status();
        assert_eq!(status, expected, "{case}");
    }
    let event = serde_json::json!({"routing_key": ROUTING_KEY, "event_action": "trigger",
        "payload": {"summary": "disk", "source": "db-1", "severity": "error"}});
    let status = server
        .post("/v2/enqueue", &[json], event.to_string())
        .status();
    assert_eq!(status, 202, "routing key");

    assert_no_compared_secret_in(&db, "after serving");
    let bytes = stored_bytes(&db);
    for kept in [HMAC_SECRET, ROUTING_KEY] {
        assert!(holds(&bytes, kept), "`{kept}` is kept whole, as it must be");
    }

    let (ok, show, _) = run_cli(&db, &["integration", "show", "tok"]);
    assert!(ok && show.contains("\"active_secrets\": 2"), "{show}");
    let expiries: serde_json::Value = serde_json::from_str(&show).unwrap();
    let expiries = expiries["secrets_expire_at"].as_array().unwrap().clone();
    assert!(
        expiries[0].is_null() && expiries[1].is_string(),
        "the secret an earlier version kept forever now expires: {expiries:?}"
    );
}

#[test]
fn a_token_given_to_the_cli_never_reaches_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("alertgate.db");
    let chosen = "a-token-a-person-chose-4b7d";
    let add = ["integration", "add", "chosen", "--secret", chosen];
    assert!(run_cli(&db, &add).0);
    let basic = [
        "integration",
        "add",
        "pw",
        "--auth",
        "basic",
        "--secret",
        BASIC_PAIR,
    ];
    assert!(run_cli(&db, &basic).0);
    let (ok, rotated, _) = run_cli(
        &db,
        &["integration", "rotate-secret", "chosen", "--keep-old"],
    );
    assert!(ok, "{rotated}");
    let generated = rotated
        .lines()
        .find_map(|line| line.split("(shown only now): ").nth(1))
        .unwrap();
    let bytes = stored_bytes(&db);
    for secret in [chosen, BASIC_PAIR, generated] {
        assert!(!holds(&bytes, secret), "`{secret}` is in the file");
    }

    let server = ServerProcess::start(&db);
    let body = create("chosen-1").to_string();
    for token in [chosen, generated] {
        let headers = [
            ("content-type", "application/json"),
            ("pagertree-token", token),
        ];
        assert_eq!(
            server
                .post("/hooks/chosen", &headers, body.clone())
                .status(),
            202
        );
    }
}
