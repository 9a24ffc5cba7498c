//! The command line (SPEC §5, §6, §7): `serve` (the default), `integration …`, `sign`, `alerts`,
//! `alert`, `backup` and `migrate`, one module per family. Every subcommand works on the database file
//! given by `--db` / `ALERTGATE_DB`.

mod alerts;
mod backup;
mod integration;
mod migrate;
mod serve;
mod sign;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::ServeArgs;
use crate::store::DbLocation;

#[derive(Parser)]
#[command(
    name = "alertgate",
    version,
    about = "Receives alert webhooks, proves who sent them, and keeps each alert's lifecycle in SQLite.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// The SQLite database file.
    #[arg(
        long,
        env = "ALERTGATE_DB",
        default_value = "alertgate.db",
        value_parser = DbLocation::parse,
        global = true
    )]
    pub db: DbLocation,
    #[command(flatten)]
    pub serve: ServeArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the server (what `alertgate` alone does).
    Serve(ServeArgs),
    /// Manage integrations: the endpoints senders post to.
    #[command(subcommand)]
    Integration(integration::IntegrationCommand),
    /// Print the headers a sender would add to sign a body, for testing with curl.
    Sign(sign::SignArgs),
    /// List alerts, newest change first.
    Alerts(alerts::AlertsArgs),
    /// Show one alert and its timeline.
    Alert(alerts::AlertArgs),
    /// Copy the database, as of one moment, to a new file; safe while the server runs.
    Backup(backup::BackupArgs),
    /// Copy the SQLite database into an empty PostgreSQL one (--to postgres://…).
    Migrate(migrate::MigrateArgs),
}

/// Runs the parsed command line; the exit code says whether it worked.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        None => serve::run(cli.serve, cli.db),
        Some(Command::Serve(args)) => serve::run(args, cli.db),
        Some(Command::Integration(command)) => integration::run(command, &cli.db),
        Some(Command::Sign(args)) => sign::run(&args, &cli.db),
        Some(Command::Alerts(args)) => alerts::list(args, &cli.db),
        Some(Command::Alert(args)) => alerts::show(&args, &cli.db),
        Some(Command::Backup(args)) => backup::run(&args, &cli.db),
        Some(Command::Migrate(args)) => migrate::run(&args, &cli.db),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("alertgate: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Errors of CLI commands are shown as their message, to a person.
type CliResult = Result<(), String>;

/// The bytes of `file`, or of standard input for `-`.
fn read_input(file: &str) -> Result<Vec<u8>, String> {
    use std::io::Read;
    if file == "-" {
        let mut body = Vec::new();
        std::io::stdin()
            .read_to_end(&mut body)
            .map_err(|error| format!("cannot read standard input: {error}"))?;
        return Ok(body);
    }
    std::fs::read(file).map_err(|error| format!("cannot read {file}: {error}"))
}
