//! `alertgate serve`: check the configuration, prepare the database, listen, run.

use std::net::TcpListener;

use super::CliResult;
use crate::config::{Config, ServeArgs};
use crate::integration::{IntegrationOptions, NewIntegration};
use crate::startup::Application;
use crate::store::{Database, DbLocation, ServerLock, StoreError};

pub(super) fn run(args: ServeArgs, db: DbLocation) -> CliResult {
    let config = Config::new(args, db).map_err(|error| error.to_string())?;
    // Held until the server has stopped: one server per database file.
    let _lock = config
        .db
        .sqlite_file()
        .map(ServerLock::acquire)
        .transpose()
        .map_err(|error| error.to_string())?;
    let created = create_default_integration(&config)?;
    let addresses = config.bind_addresses().map_err(|error| error.to_string())?;
    let listener = TcpListener::bind(&addresses[..])
        .map_err(|error| format!("cannot listen on {}: {error}", config.bind))?;
    let address = listener.local_addr().map_err(|error| error.to_string())?;

    actix_web::rt::System::new().block_on(async move {
        let application =
            Application::build(&config, listener).map_err(|error| error.to_string())?;
        println!(
            "alertgate listening on http://{address} (database {})",
            config.db
        );
        if let Some(default) = created {
            print_first_run_hint(&default, &address.to_string());
        }
        application
            .run_until_stopped()
            .await
            .map_err(|error| error.to_string())
    })
}

/// SPEC §7: a database without integrations gets `default` (pagertree, token auth). Nodes
/// started together on an empty PostgreSQL database may all find it empty: one adds `default`,
/// the others find it taken and carry on without printing a token they do not have.
fn create_default_integration(config: &Config) -> Result<Option<NewIntegration>, String> {
    let mut database = Database::open(&config.db).map_err(|error| error.to_string())?;
    if !database
        .integrations()
        .map_err(|error| error.to_string())?
        .is_empty()
    {
        return Ok(None);
    }
    let options = IntegrationOptions {
        name: "default".into(),
        ..IntegrationOptions::default()
    };
    let new = options.validate().map_err(|error| error.to_string())?;
    match database.add_integration(&new) {
        Ok(_) => Ok(Some(new)),
        Err(StoreError::IntegrationExists(_)) => Ok(None),
        Err(error) => Err(error.to_string()),
    }
}

/// The one ready-to-paste line that creates an alert, shown once with the generated token.
fn print_first_run_hint(default: &NewIntegration, address: &str) {
    let (Some(header), Some(secret)) = (default.auth.header(), &default.secret) else {
        return;
    };
    println!("Created integration `default` (format pagertree, token auth). Its token is shown only now.");
    println!("Send a test alert:");
    println!(
        "curl -i -X POST http://{address}/hooks/default -H 'Content-Type: application/json' \
         -H '{header}: {}' -d '{{\"event_type\":\"create\",\"Id\":\"disk-db-1\",\"Title\":\"Disk almost full on db-1\"}}'",
        secret.expose()
    );
}
