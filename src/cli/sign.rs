//! `alertgate sign --integration NAME [FILE|-]`: the headers a sender would add for a body.

use chrono::Utc;

use super::CliResult;
use crate::auth::{self, ActiveSecret, AuthMethod};
use crate::store::{Database, DbLocation};

#[derive(clap::Args)]
pub struct SignArgs {
    /// The integration whose secret signs the body.
    #[arg(long)]
    integration: String,
    /// The body to sign; `-` or nothing reads standard input.
    #[arg(default_value = "-")]
    file: String,
}

pub(super) fn run(args: &SignArgs, db: &DbLocation) -> CliResult {
    let database = Database::open(db).map_err(|error| error.to_string())?;
    let integration = database
        .integration(&args.integration)
        .map_err(|error| error.to_string())?;
    let body = super::read_input(&args.file)?;
    let now = Utc::now();
    let message_id = format!("msg_{}", crate::ids::ulid(now));
    if integration.auth.needs_secret() && !integration.auth.keeps_secrets() {
        // Token, bearer and basic secrets are held only as hashes, and sign nothing anyway.
        return Err(signs_nothing(&integration.auth, &integration.name));
    }
    // The newest secret still valid: the one senders are moving to.
    let Some(secret) = integration
        .secrets
        .iter()
        .filter(|secret| secret.valid_at(now))
        .find_map(ActiveSecret::kept)
    else {
        return Err(format!(
            "integration `{}` has no secret to sign with",
            integration.name
        ));
    };
    if integration.auth == AuthMethod::RoutingKey {
        return Err(format!(
            "integration `{}` signs nothing: PagerDuty senders put \"routing_key\": \"{}\" in the body",
            integration.name,
            secret.expose()
        ));
    }
    let headers = auth::sign(&integration.auth, secret, &body, now, &message_id)
        .ok_or_else(|| signs_nothing(&integration.auth, &integration.name))?;
    for (name, value) in headers {
        println!("{name}: {value}");
    }
    Ok(())
}

fn signs_nothing(method: &AuthMethod, name: &str) -> String {
    format!(
        "integration `{name}` uses {} auth, which signs nothing: its credential is the secret itself",
        method.mode()
    )
}
