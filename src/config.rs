//! Settings of `alertgate serve`: each one a flag, an `ALERTGATE_*` variable and a default.
//! Tokens come from the environment only, so they never show in `ps`; `Debug` redacts them.

use std::net::{SocketAddr, ToSocketAddrs};

use crate::auth::Secret;
use crate::limits::{DeliveryLimits, LimitArgs};
use crate::store::{DbLocation, PgSettings, WriterSettings};

/// SPEC §3: the default body limit, 1 MiB.
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;
/// SPEC §5: beyond loopback, the API and admin tokens are at least this long.
pub const MIN_NETWORK_TOKEN: usize = 16;
/// Headers of real senders are a few hundred bytes; 16 KiB leaves room for long tokens.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 16 * 1024;
/// Bodies being read may take this many times `--max-body` together, unless
/// `--max-body-memory` says otherwise: 64 MiB with the default body limit, room for 64 senders
/// sending the largest body at once, and far more sending real ones (a few KiB).
pub const BODY_MEMORY_IN_BODIES: usize = 64;
/// What one stream client may have waiting: a few of the largest alerts, thousands of real ones.
pub const DEFAULT_STREAM_CLIENT_MEMORY: usize = 4 * 1024 * 1024;
/// What all stream clients together may have waiting: 16 clients full at once.
pub const DEFAULT_STREAM_MEMORY: usize = 64 * 1024 * 1024;

/// How much memory slow clients may hold, in bytes: what is held past these is refused (a body:
/// `503` + `Retry-After`) or dropped (a stream client, who resumes with `Last-Event-ID`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimits {
    /// Request bodies being read and handled, all together.
    pub bodies: usize,
    /// Frames waiting to be sent to one `/v1/stream` client.
    pub stream_client: usize,
    /// Frames waiting to be sent to all stream clients together.
    pub streams: usize,
}

impl MemoryLimits {
    /// The defaults for a body limit of `max_body`.
    pub fn defaults_for(max_body: usize) -> MemoryLimits {
        MemoryLimits {
            bodies: max_body.saturating_mul(BODY_MEMORY_IN_BODIES),
            stream_client: DEFAULT_STREAM_CLIENT_MEMORY,
            streams: DEFAULT_STREAM_MEMORY,
        }
    }
}

#[derive(Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on. Anything but loopback needs ALERTGATE_API_TOKEN.
    #[arg(long, env = "ALERTGATE_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// The largest request body accepted, in bytes.
    #[arg(long, env = "ALERTGATE_MAX_BODY", default_value_t = DEFAULT_MAX_BODY)]
    pub max_body: usize,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "ALERTGATE_WORKERS")]
    pub workers: Option<usize>,
    /// Deliveries that may wait for the database writer before new ones get 503 + Retry-After.
    #[arg(long, env = "ALERTGATE_QUEUE_CAPACITY", default_value_t = WriterSettings::default().queue_capacity)]
    pub queue_capacity: usize,
    /// The most bytes of headers a delivery may carry, all together.
    #[arg(long, env = "ALERTGATE_MAX_HEADER_BYTES", default_value_t = DEFAULT_MAX_HEADER_BYTES)]
    pub max_header_bytes: usize,
    /// Open connections each worker serves at most; more wait to be accepted.
    #[arg(long, env = "ALERTGATE_MAX_CONNECTIONS", default_value_t = 25_000)]
    pub max_connections: usize,
    /// Seconds a client may take to send its headers, and again its body (slow senders get 408).
    #[arg(long, env = "ALERTGATE_REQUEST_TIMEOUT", default_value_t = 10)]
    pub request_timeout: u64,
    /// Days the delivery log keeps each request.
    #[arg(long, env = "ALERTGATE_KEEP_DELIVERIES", default_value_t = 30)]
    pub keep_deliveries: u32,
    /// The most megabytes the database may take (0: as much as the disk has). When it is full,
    /// ingest answers 503 + Retry-After and stores nothing until space returns.
    #[arg(long, env = "ALERTGATE_MAX_DB_MB", default_value_t = 0)]
    pub max_db_mb: u64,
    /// Rejected deliveries (401, 400, 422 …) recorded in the delivery log per integration and
    /// second; beyond it they are only counted (0: count them all, record none).
    #[arg(long, env = "ALERTGATE_RECORDED_REJECTIONS",
          default_value_t = WriterSettings::default().recorded_rejections_per_second)]
    pub recorded_rejections: u32,
    /// Rejected deliveries the log keeps per integration; older ones are pruned to counts.
    #[arg(long, env = "ALERTGATE_KEPT_REJECTIONS",
          default_value_t = WriterSettings::default().kept_rejections)]
    pub kept_rejections: u32,
    /// The most bytes all request bodies being read and handled may hold together (beyond:
    /// 503 + Retry-After). Default: 64 times --max-body (64 MiB).
    #[arg(long, env = "ALERTGATE_MAX_BODY_MEMORY")]
    pub max_body_memory: Option<usize>,
    /// The most bytes one /v1/stream client may have waiting to be sent; a client past it is
    /// disconnected and resumes with Last-Event-ID.
    #[arg(long, env = "ALERTGATE_MAX_STREAM_CLIENT_MEMORY", default_value_t = DEFAULT_STREAM_CLIENT_MEMORY)]
    pub max_stream_client_memory: usize,
    /// The most bytes all /v1/stream clients together may have waiting to be sent.
    #[arg(long, env = "ALERTGATE_MAX_STREAM_MEMORY", default_value_t = DEFAULT_STREAM_MEMORY)]
    pub max_stream_memory: usize,
    /// PostgreSQL only: connections kept for reads; the writer and the listener have one each
    /// besides.
    #[arg(long, env = "ALERTGATE_DB_POOL_SIZE", default_value_t = PgSettings::default().pool_size)]
    pub db_pool_size: usize,
    /// PostgreSQL only: the longest a statement, a wait for a lock, or one group's transaction
    /// may take before the request is answered 503 (90s, 5m … or seconds; at most half of
    /// --request-timeout, since a request may wait for the group before its own).
    #[arg(long, env = "ALERTGATE_DB_STATEMENT_TIMEOUT", default_value = "5s",
          value_parser = crate::time::parse_duration)]
    pub db_statement_timeout: chrono::Duration,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Everything the server needs to start, checked.
#[derive(Clone)]
pub struct Config {
    pub bind: String,
    pub db: DbLocation,
    pub max_body: usize,
    pub max_header_bytes: usize,
    pub max_connections: usize,
    /// How deep a delivery's JSON may nest and how many events it may carry.
    pub limits: DeliveryLimits,
    /// How much memory slow clients may hold.
    pub memory: MemoryLimits,
    pub workers: Option<usize>,
    /// How long a client may take to send its headers, and again its body.
    pub request_timeout: std::time::Duration,
    pub writer: WriterSettings,
    /// How a PostgreSQL store uses its server (unused on SQLite).
    pub pg: PgSettings,
    /// `ALERTGATE_API_TOKEN`: guards `/v1` (SPEC §5).
    pub api_token: Option<Secret>,
    /// `ALERTGATE_ADMIN_TOKEN`: guards `/v1/integrations` (SPEC §6).
    pub admin_token: Option<Secret>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |token: &Option<Secret>| if token.is_some() { "<set>" } else { "<unset>" };
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("db", &self.db)
            .field("max_body", &self.max_body)
            .field("max_header_bytes", &self.max_header_bytes)
            .field("max_connections", &self.max_connections)
            .field("limits", &self.limits)
            .field("memory", &self.memory)
            .field("workers", &self.workers)
            .field("request_timeout", &self.request_timeout)
            .field("writer", &self.writer)
            .field("pg", &self.pg)
            .field("api_token", &set(&self.api_token))
            .field("admin_token", &set(&self.admin_token))
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "refusing to listen on {0} without an API token: anyone who can reach it could read and \
         change alerts. Set ALERTGATE_API_TOKEN (for example `export ALERTGATE_API_TOKEN=$(openssl \
         rand -hex 32)`) or bind a loopback address such as 127.0.0.1:8080"
    )]
    OpenApiOnNetwork(String),
    #[error("ALERTGATE_API_TOKEN and ALERTGATE_ADMIN_TOKEN must differ")]
    SameTokens,
    #[error(
        "{0} is shorter than {MIN_NETWORK_TOKEN} characters, too easy to guess for a server \
         listening on {1}; use a longer one (for example `openssl rand -hex 32`)"
    )]
    ShortToken(&'static str, String),
    #[error("`{0}` is not an address to listen on: {1}")]
    BadBind(String, String),
    #[error("--max-body must be at least 1 byte")]
    ZeroMaxBody,
    #[error("--queue-capacity must be at least 1")]
    ZeroQueueCapacity,
    #[error(
        "--max-body-memory ({0}) must be at least --max-body ({1}), or no body of the largest \
         size could ever be read"
    )]
    BodyMemoryBelowBody(usize, usize),
    #[error("--max-stream-client-memory and --max-stream-memory must be at least 1 byte")]
    ZeroStreamMemory,
}

impl Config {
    /// Builds the configuration from flags and the environment's tokens, and checks it.
    pub fn new(args: ServeArgs, db: DbLocation) -> Result<Config, ConfigError> {
        let token = |name| {
            std::env::var(name)
                .ok()
                .filter(|value| !value.is_empty())
                .map(Secret::new)
        };
        let config = Config {
            bind: args.bind,
            db,
            max_body: args.max_body,
            max_header_bytes: args.max_header_bytes,
            max_connections: args.max_connections.max(1),
            limits: DeliveryLimits::from(&args.limits),
            memory: MemoryLimits {
                bodies: args
                    .max_body_memory
                    .unwrap_or(MemoryLimits::defaults_for(args.max_body).bodies),
                stream_client: args.max_stream_client_memory,
                streams: args.max_stream_memory,
            },
            workers: args.workers,
            request_timeout: std::time::Duration::from_secs(args.request_timeout.max(1)),
            writer: WriterSettings {
                queue_capacity: args.queue_capacity,
                keep_deliveries: chrono::Duration::days(i64::from(args.keep_deliveries.max(1))),
                max_db_bytes: (args.max_db_mb > 0).then(|| args.max_db_mb.saturating_mul(1 << 20)),
                recorded_rejections_per_second: args.recorded_rejections,
                kept_rejections: args.kept_rejections,
                ..WriterSettings::default()
            },
            pg: PgSettings {
                pool_size: args.db_pool_size.max(1),
                statement_timeout: args
                    .db_statement_timeout
                    .to_std()
                    .unwrap_or_default()
                    // A request may wait for the group before its own, each within this:
                    // together still within the request timeout.
                    .clamp(
                        std::time::Duration::from_millis(1),
                        std::time::Duration::from_secs(args.request_timeout.max(1)) / 2,
                    ),
            },
            api_token: token("ALERTGATE_API_TOKEN"),
            admin_token: token("ALERTGATE_ADMIN_TOKEN"),
        };
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.max_body == 0 {
            return Err(ConfigError::ZeroMaxBody);
        }
        if self.writer.queue_capacity == 0 {
            return Err(ConfigError::ZeroQueueCapacity);
        }
        if self.memory.bodies < self.max_body {
            return Err(ConfigError::BodyMemoryBelowBody(
                self.memory.bodies,
                self.max_body,
            ));
        }
        if self.memory.stream_client == 0 || self.memory.streams == 0 {
            return Err(ConfigError::ZeroStreamMemory);
        }
        if let (Some(api), Some(admin)) = (&self.api_token, &self.admin_token) {
            if api == admin {
                return Err(ConfigError::SameTokens);
            }
        }
        let addresses = self.bind_addresses()?;
        if addresses.iter().all(|address| address.ip().is_loopback()) {
            return Ok(());
        }
        if self.api_token.is_none() {
            return Err(ConfigError::OpenApiOnNetwork(self.bind.clone()));
        }
        for (name, token) in [
            ("ALERTGATE_API_TOKEN", &self.api_token),
            ("ALERTGATE_ADMIN_TOKEN", &self.admin_token),
        ] {
            if token
                .as_ref()
                .is_some_and(|token| token.expose().chars().count() < MIN_NETWORK_TOKEN)
            {
                return Err(ConfigError::ShortToken(name, self.bind.clone()));
            }
        }
        Ok(())
    }

    /// What `bind` resolves to.
    pub fn bind_addresses(&self) -> Result<Vec<SocketAddr>, ConfigError> {
        let addresses: Vec<SocketAddr> = self
            .bind
            .to_socket_addrs()
            .map_err(|error| ConfigError::BadBind(self.bind.clone(), error.to_string()))?
            .collect();
        if addresses.is_empty() {
            return Err(ConfigError::BadBind(
                self.bind.clone(),
                "it resolves to nothing".into(),
            ));
        }
        Ok(addresses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(bind: &str, api_token: Option<&str>) -> Config {
        Config {
            bind: bind.into(),
            db: DbLocation::Sqlite("x.db".into()),
            pg: PgSettings::default(),
            max_body: DEFAULT_MAX_BODY,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            max_connections: 25_000,
            limits: DeliveryLimits::default(),
            memory: MemoryLimits::defaults_for(DEFAULT_MAX_BODY),
            workers: None,
            request_timeout: std::time::Duration::from_secs(10),
            writer: WriterSettings::default(),
            api_token: api_token.map(Secret::new),
            admin_token: None,
        }
    }

    #[test]
    fn loopback_needs_no_token_but_the_network_does() {
        assert!(config("127.0.0.1:8080", None).check().is_ok());
        assert!(config("[::1]:8080", None).check().is_ok());
        assert!(matches!(
            config("0.0.0.0:8080", None).check(),
            Err(ConfigError::OpenApiOnNetwork(_))
        ));
        assert!(matches!(
            config("0.0.0.0:8080", Some("one space ")).check(),
            Err(ConfigError::ShortToken("ALERTGATE_API_TOKEN", _))
        ));
        assert!(config("0.0.0.0:8080", Some("sixteen-chars-ok"))
            .check()
            .is_ok());
        assert!(
            config("127.0.0.1:8080", Some("t")).check().is_ok(),
            "loopback takes any token"
        );
    }

    #[test]
    fn body_memory_must_hold_one_body_of_the_largest_size() {
        let mut small = config("127.0.0.1:1", None);
        assert_eq!(small.memory.bodies, 64 * DEFAULT_MAX_BODY, "the default");
        small.memory.bodies = DEFAULT_MAX_BODY - 1;
        assert!(matches!(
            small.check(),
            Err(ConfigError::BodyMemoryBelowBody(_, DEFAULT_MAX_BODY))
        ));
        small.memory.bodies = DEFAULT_MAX_BODY;
        assert!(small.check().is_ok());
    }

    #[test]
    fn equal_tokens_are_refused_and_debug_hides_them() {
        let mut both = config("127.0.0.1:1", Some("same"));
        both.admin_token = Some(Secret::new("same"));
        assert!(matches!(both.check(), Err(ConfigError::SameTokens)));
        assert!(!format!("{both:?}").contains("same"));
    }
}
