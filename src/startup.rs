//! Building and running the server. `Application::build` takes an already-bound listener, so
//! tests bind port 0 and run exactly what production runs.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{middleware, web, App, HttpServer};
use tokio::sync::watch;

use crate::auth::{ActiveSecret, AuthMethod, Secret};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::registry::IntegrationRegistry;
use crate::routes::{self, AppState, MemoryBudgets};

use crate::store::{self, Store, StoreError};
use crate::time::{self, Clock};

pub struct Application {
    port: u16,
    server: Server,
    store: Arc<dyn Store>,
    /// Set once a stop signal arrives: open event streams end, so draining does not wait on them.
    closing: watch::Sender<bool>,
}

impl Application {
    /// Opens the store, loads integrations and prepares the server on `listener`.
    pub fn build(config: &Config, listener: TcpListener) -> Result<Application, StartupError> {
        Self::build_with_clock(config, listener, time::system_clock())
    }

    /// As `build`, with the clock that everything reads: auth windows, event times, defaults.
    pub fn build_with_clock(
        config: &Config,
        listener: TcpListener,
        clock: Clock,
    ) -> Result<Application, StartupError> {
        let metrics = Arc::new(Metrics::new(config.db.sqlite_file()));
        // Opening blocks, and a PostgreSQL store blocks on a runtime of its own, which cannot
        // be entered from inside actix's: so the store is opened, counted and read on a thread
        // of its own.
        let (store, integrations) = std::thread::scope(|scope| {
            scope
                .spawn(|| open_store(config, clock.clone(), &metrics))
                .join()
                .expect("opening the store does not panic")
        })?;
        let (closing, closing_seen) = watch::channel(false);
        let state = web::Data::new(AppState {
            store: store.clone(),
            integrations,
            max_body: config.max_body,
            max_header_bytes: config.max_header_bytes,
            limits: config.limits,
            request_timeout: config.request_timeout,
            memory: MemoryBudgets::new(&config.memory, &metrics),
            api_tokens: api_tokens(config),
            admin_token: config.admin_token.as_ref().map(bearer_token),
            metrics,
            openapi: crate::openapi::document().into(),
            clock,
            closing: closing_seen,
        });
        let port = listener.local_addr()?.port();
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(
                    middleware::ErrorHandlers::new()
                        .handler(StatusCode::METHOD_NOT_ALLOWED, routes::method_not_allowed),
                )
                // JSON and errors are never to be read as anything else (the dashboard's own
                // files set it too, with the rest of their headers).
                .wrap(middleware::DefaultHeaders::new().add((
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                )))
                .wrap(middleware::from_fn(routes::observe::observe))
                .app_data(state.clone())
                .configure(routes::configure)
        })
        // Headers that do not arrive in time get 408 from actix-web itself.
        .client_request_timeout(config.request_timeout)
        .max_connections(config.max_connections)
        // Signals are handled in `run_until_stopped`, which ends the event streams first.
        .disable_signals()
        .listen(listener)?;
        if let Some(workers) = config.workers {
            server = server.workers(workers.max(1));
        }
        Ok(Application {
            port,
            server: server.run(),
            store,
            closing,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT or SIGTERM: then ends the event streams (which never finish by
    /// themselves; clients reconnect with `Last-Event-ID`), stops accepting, lets in-flight
    /// requests finish, lets the writer commit what it holds, and returns.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let closing = self.closing;
        actix_web::rt::spawn(async move {
            if let Err(error) = stop_signal().await {
                // Keep `closing` alive all the same: dropping it would end every stream.
                log::error!("cannot listen for stop signals: {error}");
                std::future::pending::<()>().await;
            }
            log::info!("stopping: finishing requests in flight");
            closing.send_replace(true);
            handle.stop(true).await;
        });
        let served = self.server.await;
        self.store.shutdown();
        served
    }
}

/// Opens the store, sets the alerts gauge from the one full count it needs, loads the
/// integrations and starts keeping them fresh.
fn open_store(
    config: &Config,
    clock: Clock,
    metrics: &Arc<Metrics>,
) -> Result<(Arc<dyn Store>, Arc<IntegrationRegistry>), StartupError> {
    let store = store::open(
        &config.db,
        config.writer,
        &config.pg,
        clock,
        metrics.clone(),
    )?;
    // The one count of the table; from here on the writer moves the gauge.
    metrics.set_alert_counts(&store.alert_counts()?);
    let integrations = Arc::new(IntegrationRegistry::load(store.as_ref())?);
    IntegrationRegistry::spawn_refresher(Arc::downgrade(&integrations), Arc::downgrade(&store))?;
    Ok((store, integrations))
}

/// The first SIGINT or SIGTERM.
async fn stop_signal() -> std::io::Result<()> {
    use actix_web::rt::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
    Ok(())
}

/// SPEC §5: with an API token set, `/v1` takes it or the admin token; without one it is open.
fn api_tokens(config: &Config) -> Vec<ActiveSecret> {
    match &config.api_token {
        None => Vec::new(),
        Some(api) => std::iter::once(api)
            .chain(&config.admin_token)
            .map(bearer_token)
            .collect(),
    }
}

/// A token the API compares with `Authorization: Bearer`, held as a Bearer secret is.
fn bearer_token(token: &Secret) -> ActiveSecret {
    ActiveSecret::new(&AuthMethod::Bearer, token)
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot start the server: {0}")]
    Io(#[from] std::io::Error),
}
