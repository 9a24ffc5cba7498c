//! `alertgate backup FILE`: a consistent copy of a live database, checked before it is reported.

use std::path::PathBuf;

use super::CliResult;
use crate::store::{Database, DbLocation};

#[derive(clap::Args)]
pub struct BackupArgs {
    /// The new file to write; an existing one is never overwritten.
    file: PathBuf,
}

pub(super) fn run(args: &BackupArgs, location: &DbLocation) -> CliResult {
    let DbLocation::Sqlite(db) = location else {
        return Err(format!(
            "backup copies a SQLite file, and {location} is PostgreSQL: back it up with pg_dump \
             (for example `pg_dump --format=custom --file alertgate.dump \"$ALERTGATE_DB\"` with \
             the full URL in ALERTGATE_DB) or with your provider's backups"
        ));
    };
    if !db.exists() {
        return Err(format!("there is no database at {}", db.display()));
    }
    let database = Database::open(db).map_err(|error| error.to_string())?;
    database
        .backup(&args.file)
        .map_err(|error| format!("backup failed: {error}"))?;
    // Read the copy back: a backup that does not open is worse than none.
    let copy = Database::open(&args.file).map_err(|error| error.to_string())?;
    let integrity = copy.integrity().map_err(|error| error.to_string())?;
    if integrity != "ok" {
        return Err(format!(
            "the copy at {} fails its integrity check: {integrity}",
            args.file.display()
        ));
    }
    let bytes = std::fs::metadata(&args.file).map_or(0, |meta| meta.len());
    println!(
        "Backed up {} to {} ({bytes} bytes, integrity ok). To restore, stop alertgate and start it with --db {}.",
        db.display(),
        args.file.display(),
        args.file.display()
    );
    Ok(())
}
