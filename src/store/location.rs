//! Where the data lives, as `--db` / `ALERTGATE_DB` says: a SQLite file, the embedded default,
//! or a PostgreSQL server that several nodes share (SPEC §11).

use std::fmt;
use std::path::{Path, PathBuf};

use super::PgUrl;

#[derive(Debug, Clone)]
pub enum DbLocation {
    /// A SQLite database file, created when missing.
    Sqlite(PathBuf),
    /// A PostgreSQL database, migrated when it is behind.
    Postgres(Box<PgUrl>),
}

impl DbLocation {
    /// Reads `--db`: a `postgres://` or `postgresql://` URL names a PostgreSQL server; anything
    /// else is a file path.
    pub fn parse(text: &str) -> Result<DbLocation, String> {
        if text.is_empty() {
            return Err("the database cannot be an empty path".into());
        }
        if is_postgres_url(text) {
            return PgUrl::parse(text).map(|url| DbLocation::Postgres(Box::new(url)));
        }
        Ok(DbLocation::Sqlite(PathBuf::from(text)))
    }

    /// The SQLite file, for what only a file has (its size on disk, the one-server lock).
    pub fn sqlite_file(&self) -> Option<&Path> {
        match self {
            DbLocation::Sqlite(path) => Some(path),
            DbLocation::Postgres(_) => None,
        }
    }
}

fn is_postgres_url(text: &str) -> bool {
    ["postgres://", "postgresql://"].iter().any(|scheme| {
        text.get(..scheme.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(scheme))
    })
}

/// How the location is shown to people: the path, or the URL without its password.
impl fmt::Display for DbLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbLocation::Sqlite(path) => write!(f, "{}", path.display()),
            DbLocation::Postgres(url) => write!(f, "{url}"),
        }
    }
}

impl From<PathBuf> for DbLocation {
    fn from(path: PathBuf) -> DbLocation {
        DbLocation::Sqlite(path)
    }
}

impl From<&Path> for DbLocation {
    fn from(path: &Path) -> DbLocation {
        DbLocation::Sqlite(path.to_path_buf())
    }
}

impl From<&PathBuf> for DbLocation {
    fn from(path: &PathBuf) -> DbLocation {
        DbLocation::Sqlite(path.clone())
    }
}

impl From<&DbLocation> for DbLocation {
    fn from(location: &DbLocation) -> DbLocation {
        location.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> Option<PathBuf> {
        DbLocation::parse(text)
            .unwrap()
            .sqlite_file()
            .map(Path::to_path_buf)
    }

    #[test]
    fn a_path_is_a_sqlite_file() {
        assert_eq!(file("data/alertgate.db"), Some("data/alertgate.db".into()));
        assert_eq!(file("postgres.db"), Some("postgres.db".into()));
    }

    #[test]
    fn a_url_is_postgres_and_shows_without_its_password() {
        let location = DbLocation::parse("postgres://ag:s3cret@db.internal:5432/alerts").unwrap();
        assert!(matches!(location, DbLocation::Postgres(_)));
        assert!(location.sqlite_file().is_none());
        assert!(!location.to_string().contains("s3cret"), "{location}");
        assert!(DbLocation::parse("postgres://h/db?sslmode=sideways").is_err());
    }

    #[test]
    fn an_empty_location_is_refused() {
        assert!(DbLocation::parse("").is_err());
    }

    #[test]
    fn a_postgres_url_is_recognised_in_either_spelling_and_case() {
        for url in ["postgres://h/db", "postgresql://h/db", "POSTGRES://h/db"] {
            assert!(is_postgres_url(url), "{url}");
        }
        assert!(!is_postgres_url("postgres.db"));
    }
}
