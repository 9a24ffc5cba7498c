//! Connections to PostgreSQL: the runtime their IO runs on, TLS as `sslmode` asks, the session
//! settings every connection starts with, and the pool of readers.
//!
//! The rest of alertgate is blocking code (the writer's thread, actix's blocking pool), so the
//! store owns a small tokio runtime and blocks on it (`PgRuntime::block_on`); every connection's
//! IO task lives there. Each session is told `synchronous_commit=on` whatever the server's or the
//! database's default, because a `202` promises a durable commit.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres::Client;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::url::{cause, PgUrl, SslMode};
use crate::store::StoreError;

/// How the PostgreSQL store uses its server.
#[derive(Debug, Clone, Copy)]
pub struct PgSettings {
    /// Connections for reads; the writer and the listener have one each besides.
    pub pool_size: usize,
    /// The longest a statement, or a wait for a lock, may take before the server cancels it.
    pub statement_timeout: Duration,
}

impl Default for PgSettings {
    fn default() -> PgSettings {
        PgSettings {
            pool_size: 16,
            statement_timeout: Duration::from_secs(5),
        }
    }
}

/// How long opening a connection may take, TCP, TLS and authentication together.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a request waits for a free pooled connection before it is answered `503`.
const POOL_WAIT: Duration = Duration::from_secs(2);
/// How long a dead peer may keep sent data unacknowledged before the connection is dropped.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether the warning about an unverified server has been logged: once per process is enough.
static UNVERIFIED_SAID: std::sync::Once = std::sync::Once::new();

/// The store's own tokio runtime: two worker threads carrying every connection's IO.
pub struct PgRuntime {
    /// Always `Some` until dropped.
    runtime: Option<tokio::runtime::Runtime>,
}

/// A store may be dropped from inside actix's runtime (its last handle goes with the server's
/// state), where dropping a runtime the ordinary way would block and panic; its IO threads are
/// let go in the background instead.
impl Drop for PgRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl PgRuntime {
    pub fn new() -> Result<PgRuntime, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("alertgate-pg")
            .enable_all()
            .build()
            .map_err(|error| StoreError::Database(Box::new(error)))?;
        Ok(PgRuntime {
            runtime: Some(runtime),
        })
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime
            .as_ref()
            .expect("the runtime lives until dropped")
    }

    /// A handle on the runtime, for a thread of the store's own (the writer) to block on.
    pub fn handle(&self) -> tokio::runtime::Handle {
        self.runtime().handle().clone()
    }

    /// Runs `future` to its end from blocking code (a std thread or a `web::block` closure,
    /// never from inside an async task).
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime().block_on(future)
    }
}

/// tokio-postgres' configuration of `url` with alertgate's session settings added.
pub fn session_config(url: &PgUrl, settings: &PgSettings) -> tokio_postgres::Config {
    let mut config = url.config().clone();
    let statement_ms = settings.statement_timeout.as_millis();
    let ours = format!(
        "-c synchronous_commit=on -c TimeZone=UTC -c statement_timeout={statement_ms} \
         -c lock_timeout={statement_ms} -c idle_in_transaction_session_timeout={statement_ms} \
         -c client_min_messages=warning"
    );
    // The URL's own options first, so that ours, later on the line, win.
    let options = match config.get_options() {
        Some(given) if !given.trim().is_empty() => format!("{given} {ours}"),
        _ => ours,
    };
    config.options(options);
    if config.get_application_name().is_none() {
        config.application_name("alertgate");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    config
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(5))
        .tcp_user_timeout(TCP_USER_TIMEOUT)
        .ssl_mode(match url.ssl_mode() {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        });
    config
}

/// The TLS connector `url`'s `sslmode` asks for (unused with `disable`).
pub fn tls(url: &PgUrl) -> Result<MakeRustlsConnect, StoreError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|error| StoreError::Database(Box::new(error)))?;
    let verifier: Arc<dyn ServerCertVerifier> = match url.ssl_mode() {
        SslMode::Disable | SslMode::Prefer | SslMode::Require => {
            if url.ssl_mode() != SslMode::Disable {
                // `prefer` is libpq's default, chosen by not choosing: said once at info level,
                // so the CLI's every command does not warn; `require` was asked for, and warns.
                let level = if url.ssl_mode() == SslMode::Prefer {
                    log::Level::Info
                } else {
                    log::Level::Warn
                };
                UNVERIFIED_SAID.call_once(|| {
                    log::log!(
                        level,
                        "the PostgreSQL server's certificate is not verified (sslmode={}); \
                         use sslmode=verify-full to be sure whom alertgate talks to",
                        if url.ssl_mode() == SslMode::Prefer {
                            "prefer"
                        } else {
                            "require"
                        }
                    );
                });
            }
            Arc::new(AcceptAnyCertificate { provider })
        }
        mode @ (SslMode::VerifyCa | SslMode::VerifyFull) => {
            let roots = Arc::new(roots(url)?);
            let full = WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|error| StoreError::Database(Box::new(error)))?;
            if mode == SslMode::VerifyFull {
                full
            } else {
                Arc::new(AnyHostName { full })
            }
        }
    };
    let config = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// The system's trusted roots and those of `sslrootcert`.
fn roots(url: &PgUrl) -> Result<RootCertStore, StoreError> {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(path) = url.root_cert() {
        let unreadable = |error: &dyn std::fmt::Display| {
            StoreError::Database(
                format!("cannot read sslrootcert {}: {error}", path.display()).into(),
            )
        };
        let certificates = CertificateDer::pem_file_iter(path)
            .map_err(|error| unreadable(&error))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| unreadable(&error))?;
        if certificates.is_empty() {
            return Err(unreadable(&"no certificate in it"));
        }
        for certificate in certificates {
            roots.add(certificate).map_err(|error| unreadable(&error))?;
        }
    }
    if roots.is_empty() {
        return Err(StoreError::Database(
            "sslmode verify-ca/verify-full needs roots: the system has none; give sslrootcert"
                .into(),
        ));
    }
    Ok(roots)
}

/// One connection of its own (the writer's, the listener's, the CLI's), its IO spawned on the
/// runtime this is awaited in.
pub async fn connect(
    config: &tokio_postgres::Config,
    tls: MakeRustlsConnect,
) -> Result<Client, StoreError> {
    let (client, connection) = handshake(config, tls).await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            log::debug!("a PostgreSQL connection ended: {}", cause(&error));
        }
    });
    Ok(client)
}

/// A connection whose IO the caller drives (the listener reads its notifications).
pub type Connection = tokio_postgres::Connection<
    tokio_postgres::Socket,
    <MakeRustlsConnect as tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>>::Stream,
>;

/// Connects, the whole handshake within the connect budget: tokio-postgres' connect_timeout
/// bounds only the TCP connect, and a server that accepts and then says nothing would hold the
/// caller forever.
pub async fn handshake(
    config: &tokio_postgres::Config,
    tls: MakeRustlsConnect,
) -> Result<(Client, Connection), StoreError> {
    let budget = config
        .get_connect_timeout()
        .copied()
        .unwrap_or(CONNECT_TIMEOUT);
    Ok(tokio::time::timeout(budget, config.connect(tls))
        .await
        .map_err(|_| {
            StoreError::Unavailable(format!(
                "no answer from the server within {} s",
                budget.as_secs()
            ))
        })??)
}

/// The readers' pool: connections made on demand up to `pool_size`, a caller waiting at most
/// two seconds for one (then `Unavailable`), each checked only by whether it is closed.
pub fn pool(
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    settings: &PgSettings,
) -> Result<Pool, StoreError> {
    let manager = Manager::from_config(
        config,
        tls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(settings.pool_size)
        .wait_timeout(Some(POOL_WAIT))
        .create_timeout(Some(CONNECT_TIMEOUT))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|error| StoreError::Database(Box::new(error)))
}

/// `prefer` and `require` without roots: encryption, no authentication of the server (libpq's
/// meaning). The handshake's signatures are still checked, so the peer holds the certificate's
/// key; whose key that is, nobody asks.
#[derive(Debug)]
struct AcceptAnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            certificate,
            signature,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            certificate,
            signature,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `verify-ca`: the full check, forgiving only a certificate issued for another name.
#[derive(Debug)]
struct AnyHostName {
    full: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for AnyHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // webpki checks the chain (trust, expiry, usage) before the name, so a name error
        // means the chain is good.
        match self
            .full
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.full
            .verify_tls12_signature(message, certificate, signature)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.full
            .verify_tls13_signature(message, certificate, signature)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.full.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_get_our_settings_after_the_urls_own() {
        let url = PgUrl::parse(
            "postgres://u@h/db?options=-c%20search_path%3Dalerts&application_name=pager&sslmode=verify-ca",
        )
        .unwrap();
        let settings = PgSettings {
            statement_timeout: Duration::from_millis(1500),
            ..PgSettings::default()
        };
        let config = session_config(&url, &settings);
        assert_eq!(
            config.get_options(),
            Some(
                "-c search_path=alerts -c synchronous_commit=on -c TimeZone=UTC \
                 -c statement_timeout=1500 -c lock_timeout=1500 \
                 -c idle_in_transaction_session_timeout=1500 -c client_min_messages=warning"
            )
        );
        assert_eq!(config.get_application_name(), Some("pager"));
        assert_eq!(config.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
        assert_eq!(config.get_tcp_user_timeout(), Some(&TCP_USER_TIMEOUT));
        assert!(config.get_keepalives());
        assert_eq!(
            config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Require
        );
        let plain = session_config(
            &PgUrl::parse("postgres://u@h/db?sslmode=disable").unwrap(),
            &settings,
        );
        assert_eq!(plain.get_application_name(), Some("alertgate"));
        assert_eq!(
            plain.get_ssl_mode(),
            tokio_postgres::config::SslMode::Disable
        );
    }
}
