//! PostgreSQL's failures as the store's: a server that cannot be reached is `Unavailable` (a
//! `503` with `Retry-After`, never a `2xx`), a full disk is `Full`, anything else is for the log.
//! The writer also asks what a failure means for its transaction (`class`): tried again, given
//! up, or rolled back to the request's savepoint.

use deadpool_postgres::PoolError;
use tokio_postgres::error::SqlState;

use super::url::cause;
use crate::store::StoreError;

/// What a failed statement means for the transaction it ran in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
    /// A deadlock or serialization failure: the same work may well succeed at once.
    Retry,
    /// The server is out of reach (or going away, or a standby): nothing more can be done now.
    Unavailable,
    /// The disk is full.
    Full,
    /// This statement failed; a savepoint before it can still be rolled back to.
    Statement,
}

pub(super) fn class(error: &tokio_postgres::Error) -> Class {
    match error.code() {
        Some(&SqlState::DISK_FULL) => Class::Full,
        Some(&SqlState::T_R_DEADLOCK_DETECTED | &SqlState::T_R_SERIALIZATION_FAILURE) => {
            Class::Retry
        }
        Some(code) if is_unavailable(code.code()) => Class::Unavailable,
        None if error.is_closed() || lost_connection(error) => Class::Unavailable,
        Some(_) | None => Class::Statement,
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> StoreError {
        match class(&error) {
            Class::Full => StoreError::Full,
            Class::Unavailable => StoreError::Unavailable(cause(&error)),
            Class::Retry | Class::Statement => StoreError::Database(Box::new(Failure(error))),
        }
    }
}

/// A tokio-postgres error that says what went wrong: its own text is only the kind ("db
/// error"), the server's message is in its cause. The error stays reachable as the source.
#[derive(Debug)]
struct Failure(tokio_postgres::Error);

impl std::fmt::Display for Failure {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&cause(&self.0))
    }
}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl From<PoolError> for StoreError {
    fn from(error: PoolError) -> StoreError {
        match error {
            PoolError::Backend(error) => error.into(),
            PoolError::Timeout(_) => {
                StoreError::Unavailable("no PostgreSQL connection came free in time".into())
            }
            PoolError::Closed => StoreError::Stopped,
            other => StoreError::Database(Box::new(other)),
        }
    }
}

/// SQLSTATEs of a server that cannot serve now: class 08 (connection exceptions), an
/// administrator's or a crash's shutdown, a server still starting (57P01–57P03), a standby
/// refusing a write (25006: what the old primary's address answers after a failover), a
/// statement or lock wait past `--db-statement-timeout` (57014, 55P03), and a server out of
/// resources (class 53: too many connections, out of memory; a full disk, 53100, is `Full`).
fn is_unavailable(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53") && code != "53100"
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" | "25006" | "57014" | "55P03"
        )
}

/// Whether a failure without a SQLSTATE is the network's: refused, reset, timed out. Not a
/// refused certificate (TLS errors come wrapped as `InvalidData`): that is for a person to fix,
/// not for a retry.
fn lost_connection(error: &tokio_postgres::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        if let Some(io) = inner.downcast_ref::<std::io::Error>() {
            return io.kind() != std::io::ErrorKind::InvalidData;
        }
        source = inner.source();
    }
    // tokio-postgres' connect timeout carries no cause, only its kind's text.
    error.to_string().starts_with("timeout")
}

#[cfg(test)]
mod tests {
    use super::is_unavailable;

    #[test]
    fn connection_classes_are_unavailable_and_others_are_not() {
        for code in [
            "08000", "08001", "08006", "57P01", "57P02", "57P03", "25006", "57014", "55P03",
            "53300", "53200",
        ] {
            assert!(is_unavailable(code), "{code}");
        }
        for code in ["28P01", "40001", "53100", "3D000", "23505"] {
            assert!(!is_unavailable(code), "{code}");
        }
    }
}
