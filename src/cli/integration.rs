//! `alertgate integration add|list|show|remove|rotate-secret|enable|disable`.

use clap::Subcommand;

use super::CliResult;
use crate::auth::{self, AuthMethod};
use crate::integration::{Integration, IntegrationOptions};
use crate::limits::{DeliveryLimits, LimitArgs};
use crate::store::{Database, DbLocation};
use crate::wire::{DryRunJson, IntegrationView};

#[derive(Subcommand)]
pub enum IntegrationCommand {
    /// Add an integration; prints its secret once when one is generated.
    Add(Box<AddArgs>),
    /// List integrations (never their secrets).
    List,
    /// Show one integration (never its secrets).
    Show { name: String },
    /// Remove an integration; its alerts and their timelines are kept.
    Remove { name: String },
    /// Replace the secret with a new one, printed once.
    RotateSecret {
        name: String,
        /// Keep the current secrets valid too (up to 5 in all) for 24 hours, while senders
        /// switch over.
        #[arg(long)]
        keep_old: bool,
        /// Keep the current secrets valid for D instead (90s, 10m, 24h, 7d); implies --keep-old.
        #[arg(long, value_name = "D", value_parser = keep_old_duration)]
        keep_old_for: Option<chrono::Duration>,
    },
    /// Accept deliveries again.
    Enable { name: String },
    /// Answer 404 to deliveries, as if the integration did not exist.
    Disable { name: String },
    /// Show what a delivery would do (authentication, events, outcomes) without storing anything.
    Test(TestArgs),
}

#[derive(clap::Args)]
pub struct TestArgs {
    name: String,
    /// The body, as the sender would send it; `-` reads standard input.
    file: String,
    /// A header the sender would send, as 'Name: value'; without any, authentication is skipped.
    #[arg(long = "header", value_name = "NAME: VALUE", value_parser = header_line)]
    headers: Vec<(String, String)>,
    /// The server's limits, so the dry run refuses what the server would.
    #[command(flatten)]
    limits: LimitArgs,
}

/// A `--keep-old-for` duration, within the bounds a rotation allows.
fn keep_old_duration(text: &str) -> Result<chrono::Duration, String> {
    crate::time::parse_duration(text).and_then(auth::validate_keep_old)
}

/// `Name: value`, split at the first colon.
fn header_line(text: &str) -> Result<(String, String), String> {
    text.split_once(':')
        .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
        .filter(|(name, _)| !name.is_empty())
        .ok_or_else(|| format!("`{text}` is not a header line `Name: value`"))
}

#[derive(clap::Args)]
pub struct AddArgs {
    /// ^[a-z0-9][a-z0-9_-]{0,63}$; senders post to /hooks/NAME.
    name: String,
    /// The payload format.
    #[arg(long)]
    format: Option<String>,
    /// none, token (default), bearer, basic, hmac-sha256 or standard-webhooks.
    #[arg(long)]
    auth: Option<String>,
    /// The header carrying the token or signature (token, hmac-sha256).
    #[arg(long)]
    header: Option<String>,
    /// Text before the signature, such as `sha256=` (hmac-sha256).
    #[arg(long)]
    prefix: Option<String>,
    /// hex (default) or base64 (hmac-sha256).
    #[arg(long)]
    encoding: Option<String>,
    /// plerion, github or plextrac: sets header, prefix and encoding, implies hmac-sha256.
    #[arg(long)]
    preset: Option<String>,
    /// The secret to use instead of a generated one (visible in `ps`; prefer --secret-env).
    #[arg(long, conflicts_with = "secret_env")]
    secret: Option<String>,
    /// Read the secret from this environment variable.
    #[arg(long)]
    secret_env: Option<String>,
    /// Store each event's raw body with it.
    #[arg(long)]
    capture_payload: bool,
    /// Format mapping: where a field is, as FIELD=/json/pointer (id, title, description,
    /// severity, timestamp, tags, action, items). Repeat for each field.
    #[arg(long = "map", value_name = "FIELD=POINTER", value_parser = key_value)]
    map: Vec<(String, String)>,
    /// Format mapping: a sender's action value and ours, as VALUE=create|update|acknowledge|resolve.
    #[arg(long = "action-map", value_name = "VALUE=ACTION", value_parser = key_value)]
    action_map: Vec<(String, String)>,
}

/// `KEY=VALUE`, split at the first `=`.
fn key_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .ok_or_else(|| format!("`{text}` is not KEY=VALUE"))
}

pub(super) fn run(command: IntegrationCommand, db: &DbLocation) -> CliResult {
    let mut database = Database::open(db).map_err(|error| error.to_string())?;
    match command {
        IntegrationCommand::Add(args) => add(&mut database, *args),
        IntegrationCommand::List => {
            list(&database.integrations().map_err(|error| error.to_string())?);
            Ok(())
        }
        IntegrationCommand::Show { name } => {
            let integration = database
                .integration(&name)
                .map_err(|error| error.to_string())?;
            let view = IntegrationView::at(&integration, chrono::Utc::now());
            let view = serde_json::to_string_pretty(&view).expect("a view serializes");
            println!("{view}");
            Ok(())
        }
        IntegrationCommand::Remove { name } => {
            database
                .remove_integration(&name)
                .map_err(|error| error.to_string())?;
            println!("integration `{name}` removed; its alerts are kept");
            Ok(())
        }
        IntegrationCommand::RotateSecret {
            name,
            keep_old,
            keep_old_for,
        } => {
            let keep_old_for = keep_old_for.or(keep_old.then_some(auth::DEFAULT_KEEP_OLD));
            rotate(&mut database, &name, keep_old_for)
        }
        IntegrationCommand::Enable { name } => set_enabled(&mut database, &name, true),
        IntegrationCommand::Disable { name } => set_enabled(&mut database, &name, false),
        IntegrationCommand::Test(args) => test(&database, &args),
    }
}

/// Prints the dry run as JSON; fails (exit 1) when the real delivery would not be applied.
fn test(database: &Database, args: &TestArgs) -> CliResult {
    let integration = database
        .integration(&args.name)
        .map_err(|error| error.to_string())?;
    let body = super::read_input(&args.file)?;
    let headers = (!args.headers.is_empty()).then_some(args.headers.as_slice());
    if headers.is_none() {
        eprintln!("no --header given: authentication is skipped");
    }
    let limits = DeliveryLimits::from(&args.limits);
    let run = crate::dry_run::dry_run(
        &integration,
        &limits,
        headers,
        &body,
        chrono::Utc::now(),
        |id| database.alert(&integration.name, id),
    )
    .map_err(|error| error.to_string())?;
    println!(
        "{}",
        serde_json::to_string_pretty(&DryRunJson::from(&run)).expect("a dry run serializes")
    );
    if run.would_apply() {
        Ok(())
    } else {
        Err("this delivery would not be applied".into())
    }
}

fn add(database: &mut Database, args: AddArgs) -> CliResult {
    let secret = match (&args.secret, &args.secret_env) {
        (_, Some(variable)) => Some(
            std::env::var(variable)
                .map_err(|_| format!("the environment variable {variable} is not set"))?,
        ),
        (secret, None) => secret.clone(),
    };
    let options = IntegrationOptions {
        name: args.name,
        format: args.format,
        auth: args.auth,
        header: args.header,
        prefix: args.prefix,
        encoding: args.encoding,
        preset: args.preset,
        secret,
        capture_payload: args.capture_payload,
        map: args.map.into_iter().collect(),
        action_map: args.action_map.into_iter().collect(),
    };
    let new = options.validate().map_err(|error| error.to_string())?;
    let integration = database
        .add_integration(&new)
        .map_err(|error| error.to_string())?;
    println!(
        "integration `{}` added: {}",
        integration.name,
        describe(&integration)
    );
    if integration.auth == AuthMethod::None {
        eprintln!("warning: auth mode `none` accepts requests from anyone who can reach alertgate");
    }
    match (&integration.auth, new.secret_generated, &new.secret) {
        (AuthMethod::RoutingKey, _, Some(key)) => {
            println!(
                "routing key: {} (senders put it in the body; `integration show` shows it again)",
                key.expose()
            );
            println!(
                "PagerDuty clients post to /v2/enqueue; others may post to /hooks/{}",
                integration.name
            );
        }
        (_, true, Some(secret)) => println!("secret (shown only now): {}", secret.expose()),
        _ => {}
    }
    Ok(())
}

fn rotate(
    database: &mut Database,
    name: &str,
    keep_old_for: Option<chrono::Duration>,
) -> CliResult {
    let integration = database
        .integration(name)
        .map_err(|error| error.to_string())?;
    if !integration.auth.needs_secret() {
        return Err(format!(
            "integration `{name}` uses auth mode `none` and has no secret"
        ));
    }
    let secret = auth::generate_secret(&integration.auth);
    database
        .rotate_secret(name, &secret, keep_old_for)
        .map_err(|error| error.to_string())?;
    if integration.auth == AuthMethod::RoutingKey {
        println!("new routing key for `{name}`: {}", secret.expose());
    } else {
        println!(
            "new secret for `{name}` (shown only now): {}",
            secret.expose()
        );
    }
    if let Some(keep_for) = keep_old_for {
        let until = chrono::Utc::now() + keep_for;
        println!(
            "the previous secrets stay valid until {} at the latest",
            crate::time::format(until)
        );
    }
    Ok(())
}

fn set_enabled(database: &mut Database, name: &str, enabled: bool) -> CliResult {
    database
        .set_enabled(name, enabled)
        .map_err(|error| error.to_string())?;
    println!(
        "integration `{name}` {}",
        if enabled { "enabled" } else { "disabled" }
    );
    Ok(())
}

fn list(integrations: &[Integration]) {
    let now = chrono::Utc::now();
    if integrations.is_empty() {
        println!("no integrations; add one with `alertgate integration add NAME`");
        return;
    }
    println!(
        "{:<24} {:<10} {:<48} {:<8} SECRETS",
        "NAME", "FORMAT", "AUTH", "ENABLED"
    );
    for integration in integrations {
        println!(
            "{:<24} {:<10} {:<48} {:<8} {}",
            integration.name,
            integration.format.as_str(),
            describe_auth(&integration.auth),
            if integration.enabled { "yes" } else { "no" },
            integration
                .secrets
                .iter()
                .filter(|secret| secret.valid_at(now))
                .count()
        );
    }
}

fn describe(integration: &Integration) -> String {
    let capture = if integration.capture_payload {
        ", capturing payloads"
    } else {
        ""
    };
    format!(
        "format {}, auth {}{capture}; senders post to /hooks/{}",
        integration.format.as_str(),
        describe_auth(&integration.auth),
        integration.name
    )
}

fn describe_auth(method: &AuthMethod) -> String {
    match method {
        AuthMethod::Token { header } => format!("token ({header})"),
        AuthMethod::HmacSha256 {
            header,
            prefix,
            encoding,
        } => {
            let prefix = if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}, ")
            };
            format!("hmac-sha256 ({header}, {prefix}{})", encoding.as_str())
        }
        other => other.mode().to_string(),
    }
}
