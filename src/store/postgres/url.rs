//! A PostgreSQL URL as people paste it: `postgres://user:password@host:port/db?sslmode=…`.
//!
//! tokio-postgres parses the URL itself but refuses options it does not know, and its `sslmode`
//! knows only disable, prefer and require. Providers and psql hand out URLs with libpq's five
//! modes and `sslrootcert`, so those two are taken out here and carried beside the rest, with
//! libpq's meaning (see `SslMode`); everything else is tokio-postgres' to judge.

use std::fmt;
use std::path::PathBuf;

/// How the connection is encrypted and the server checked: libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP only.
    Disable,
    /// TLS when the server offers it, plain otherwise; the certificate is not checked (libpq's
    /// default: encryption against eavesdroppers, no protection against an impostor).
    Prefer,
    /// TLS or no connection; the certificate is not checked unless `sslrootcert` is given, in
    /// which case this is `VerifyCa`, as in libpq.
    Require,
    /// TLS, with the certificate chain checked against the roots; the host name is not.
    VerifyCa,
    /// TLS, with the chain and the host name checked.
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<SslMode, String> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(format!(
                    "sslmode `{other}` is not one of disable, prefer, require, verify-ca, \
                     verify-full"
                ))
            }
        })
    }

    /// Whether the server's certificate is checked against the roots at all.
    pub fn verifies(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyFull)
    }
}

/// A parsed `postgres://` or `postgresql://` URL.
#[derive(Clone)]
pub struct PgUrl {
    /// Everything tokio-postgres understands.
    config: tokio_postgres::Config,
    ssl_mode: SslMode,
    root_cert: Option<PathBuf>,
    /// The URL as given, with any password replaced by `***`: what logs and errors show.
    shown: String,
}

impl PgUrl {
    /// Whether `text` is meant as a PostgreSQL URL (rather than, say, a file name).
    pub fn is_postgres(text: &str) -> bool {
        text.starts_with("postgres://") || text.starts_with("postgresql://")
    }

    /// Parses a URL; the error says what is wrong without repeating the password.
    pub fn parse(text: &str) -> Result<PgUrl, String> {
        if !PgUrl::is_postgres(text) {
            return Err("a PostgreSQL URL begins with postgres:// or postgresql://".into());
        }
        let shown = without_password(text);
        let (base, query) = text.split_once('?').unwrap_or((text, ""));
        let mut ssl_mode = None;
        let mut root_cert = None;
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "sslmode" => ssl_mode = Some(SslMode::parse(&percent_decoded(value)?)?),
                "sslrootcert" => {
                    let path = percent_decoded(value)?;
                    if path.is_empty() {
                        return Err("sslrootcert is empty: give the path of a PEM file".into());
                    }
                    root_cert = Some(PathBuf::from(path));
                }
                _ => kept.push(pair),
            }
        }
        let rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        let config: tokio_postgres::Config = rest
            .parse()
            .map_err(|error| format!("{shown} is not a valid PostgreSQL URL: {}", cause(&error)))?;
        if config.get_hosts().is_empty() {
            return Err(format!("{shown} names no host"));
        }
        let mut ssl_mode = ssl_mode.unwrap_or(SslMode::Prefer);
        if ssl_mode == SslMode::Require && root_cert.is_some() {
            ssl_mode = SslMode::VerifyCa;
        }
        Ok(PgUrl {
            config,
            ssl_mode,
            root_cert,
            shown,
        })
    }

    /// What tokio-postgres is given (its own `sslmode` is set from `ssl_mode` when connecting).
    pub(crate) fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    /// libpq's `sslmode`, `prefer` when the URL gives none.
    pub fn ssl_mode(&self) -> SslMode {
        self.ssl_mode
    }

    /// The PEM file of roots the server's certificate must chain to, besides the system's.
    pub fn root_cert(&self) -> Option<&std::path::Path> {
        self.root_cert.as_deref()
    }

    /// The database name, if the URL gives one.
    pub fn dbname(&self) -> Option<&str> {
        self.config.get_dbname()
    }
}

impl fmt::Display for PgUrl {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.shown)
    }
}

impl fmt::Debug for PgUrl {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "PgUrl({})", self.shown)
    }
}

/// `text` with the password of its user part and any `password=` option replaced by `***`.
fn without_password(text: &str) -> String {
    let (scheme, rest) = text.split_once("://").unwrap_or(("", text));
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user_info, hosts)) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{hosts}"),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    let path = match path.split_once('?') {
        Some((path, query)) => {
            let query: Vec<&str> = query
                .split('&')
                .map(|pair| {
                    if pair.starts_with("password=") {
                        "password=***"
                    } else {
                        pair
                    }
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => path.to_string(),
    };
    format!("{scheme}://{authority}{path}")
}

/// `%XX` escapes of a query value decoded, as URLs carry paths with spaces or `&`.
fn percent_decoded(value: &str) -> Result<String, String> {
    let bytes = value.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%' {
            let byte = value
                .get(at + 1..at + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or_else(|| format!("`{value}` has a broken %-escape"))?;
            decoded.push(byte);
            at += 3;
        } else {
            decoded.push(bytes[at]);
            at += 1;
        }
    }
    String::from_utf8(decoded).map_err(|_| format!("`{value}` is not UTF-8 once decoded"))
}

/// An error and its causes on one line: tokio-postgres keeps the useful part in the cause.
pub(crate) fn cause(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_out_sslmode_and_sslrootcert_and_keeps_the_rest() {
        let url = PgUrl::parse(
            "postgresql://alice:s3cret@db.example:6543/alerts?sslmode=verify-full&\
             application_name=x&sslrootcert=/etc/ssl/my%20ca.pem",
        )
        .unwrap();
        assert_eq!(url.ssl_mode(), SslMode::VerifyFull);
        assert_eq!(
            url.root_cert(),
            Some(std::path::Path::new("/etc/ssl/my ca.pem"))
        );
        assert_eq!(url.config().get_user(), Some("alice"));
        assert_eq!(url.config().get_password(), Some(&b"s3cret"[..]));
        assert_eq!(url.config().get_ports(), [6543]);
        assert_eq!(url.config().get_application_name(), Some("x"));
        assert_eq!(url.dbname(), Some("alerts"));
    }

    #[test]
    fn sslmode_defaults_to_prefer_and_knows_libpqs_five() {
        let mode = |query: &str| {
            PgUrl::parse(&format!("postgres://h/db{query}"))
                .unwrap()
                .ssl_mode()
        };
        assert_eq!(mode(""), SslMode::Prefer);
        assert_eq!(mode("?sslmode=disable"), SslMode::Disable);
        assert_eq!(mode("?sslmode=prefer"), SslMode::Prefer);
        assert_eq!(mode("?sslmode=require"), SslMode::Require);
        assert_eq!(mode("?sslmode=verify-ca"), SslMode::VerifyCa);
        assert_eq!(mode("?sslmode=verify-full"), SslMode::VerifyFull);
        // libpq: require with a root certificate checks the chain.
        assert_eq!(
            mode("?sslmode=require&sslrootcert=ca.pem"),
            SslMode::VerifyCa
        );
        assert!(!SslMode::Require.verifies());
        assert!(SslMode::VerifyCa.verifies());
    }

    #[test]
    fn refuses_what_is_wrong_with_a_reason() {
        let error = |text: &str| PgUrl::parse(text).unwrap_err();
        assert!(error("mysql://h/db").contains("postgres://"));
        assert!(error("postgres://h/db?sslmode=allow").contains("sslmode `allow`"));
        assert!(error("postgres://h/db?sslrootcert=").contains("sslrootcert is empty"));
        assert!(error("postgres://h/db?sslrootcert=%zz").contains("%-escape"));
        let unknown = error("postgres://u:hunter2@h/db?colour=blue");
        assert!(unknown.contains("not a valid PostgreSQL URL"), "{unknown}");
        assert!(unknown.contains("colour"), "{unknown}");
        assert!(!unknown.contains("hunter2"), "{unknown}");
        assert!(error("postgres:///db").contains("names no host"));
    }

    #[test]
    fn never_shows_the_password() {
        let url = PgUrl::parse("postgres://alice:hunter2@h1:5432,h2/db?sslmode=require").unwrap();
        assert_eq!(
            url.to_string(),
            "postgres://alice:***@h1:5432,h2/db?sslmode=require"
        );
        assert_eq!(
            format!("{url:?}"),
            "PgUrl(postgres://alice:***@h1:5432,h2/db?sslmode=require)"
        );
        let url = PgUrl::parse("postgres://h/db?user=bob&password=hunter2").unwrap();
        assert_eq!(url.to_string(), "postgres://h/db?user=bob&password=***");
        let url = PgUrl::parse("postgres://bob@h").unwrap();
        assert_eq!(url.to_string(), "postgres://bob@h");
    }
}
