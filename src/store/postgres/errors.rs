//! PostgreSQL's failures as the store's: a server that cannot be reached is `Unavailable` (a
//! `503` with `Retry-After`, never a `2xx`), a full disk is `Full`, anything else is for the log.

use deadpool_postgres::PoolError;
use tokio_postgres::error::SqlState;

use super::url::cause;
use crate::store::StoreError;

impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> StoreError {
        if let Some(code) = error.code() {
            if code == &SqlState::DISK_FULL {
                return StoreError::Full;
            }
            if is_unavailable(code.code()) {
                return StoreError::Unavailable(cause(&error));
            }
            return StoreError::Database(Box::new(Failure(error)));
        }
        if error.is_closed() || lost_connection(&error) {
            return StoreError::Unavailable(cause(&error));
        }
        StoreError::Database(Box::new(Failure(error)))
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

/// SQLSTATEs of a server that is not there for now: class 08 (connection exceptions), and an
/// administrator's or a crash's shutdown, and a server still starting (57P01–57P03).
fn is_unavailable(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
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
        for code in ["08000", "08001", "08006", "57P01", "57P02", "57P03"] {
            assert!(is_unavailable(code), "{code}");
        }
        for code in ["57014", "28P01", "40001", "53100", "3D000"] {
            assert!(!is_unavailable(code), "{code}");
        }
    }
}
