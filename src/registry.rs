//! The integrations the server serves, held in memory so the ingest path never queries for them.
//!
//! A background thread polls the store's revision counter and reloads when it moves, which is how
//! changes made by the CLI in another process reach a running server within `REFRESH_EVERY`. A
//! store that hears of a change sooner rings the thread's `Wake` (`Store::watch_integrations`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::auth::{self, AuthMethod};
use crate::integration::Integration;
use crate::store::{Store, StoreError};
use crate::wake::Wake;

/// How often the revision is polled; SPEC §6 asks for changes to show within one second.
pub const REFRESH_EVERY: Duration = Duration::from_millis(250);

type ByName = HashMap<String, Arc<Integration>>;

pub struct IntegrationRegistry {
    by_name: RwLock<Arc<ByName>>,
    revision: AtomicI64,
}

impl IntegrationRegistry {
    /// Loads every integration from `store`.
    pub fn load(store: &dyn Store) -> Result<IntegrationRegistry, StoreError> {
        let registry = IntegrationRegistry {
            by_name: RwLock::new(Arc::default()),
            revision: AtomicI64::new(i64::MIN),
        };
        registry.refresh(store)?;
        Ok(registry)
    }

    /// The integration called `name`, enabled or not.
    pub fn get(&self, name: &str) -> Option<Arc<Integration>> {
        self.by_name
            .read()
            .expect("registry lock")
            .get(name)
            .cloned()
    }

    /// Whether an integration called `name` is configured, enabled or not.
    pub fn contains(&self, name: &str) -> bool {
        self.by_name
            .read()
            .expect("registry lock")
            .contains_key(name)
    }

    /// The enabled PagerDuty integration one of whose routing keys valid at `now` is `key`. Every
    /// key of every such integration is compared, in constant time, so timing tells nothing about
    /// the keys.
    pub fn by_routing_key(&self, key: &str, now: DateTime<Utc>) -> Option<Arc<Integration>> {
        let by_name = self.by_name.read().expect("registry lock").clone();
        let mut found = None;
        for integration in by_name.values() {
            let candidate = integration.enabled && integration.auth == AuthMethod::RoutingKey;
            if candidate && auth::verify_routing_key(Some(key), &integration.secrets, now).is_ok() {
                found = Some(integration.clone());
            }
        }
        found
    }

    /// Reloads when the store's revision has moved; answers whether it did.
    pub fn refresh(&self, store: &dyn Store) -> Result<bool, StoreError> {
        let revision = store.integrations_revision()?;
        if revision == self.revision.load(Ordering::Acquire) {
            return Ok(false);
        }
        let loaded: ByName = store
            .integrations()?
            .into_iter()
            .map(|integration| (integration.name.clone(), Arc::new(integration)))
            .collect();
        *self.by_name.write().expect("registry lock") = Arc::new(loaded);
        self.revision.store(revision, Ordering::Release);
        Ok(true)
    }

    /// Keeps the registry fresh until either it or the store is dropped: checks the revision
    /// every `REFRESH_EVERY`, and at once whenever the store rings.
    pub fn spawn_refresher(
        registry: Weak<IntegrationRegistry>,
        store: Weak<dyn Store>,
    ) -> std::io::Result<()> {
        let wake = Arc::new(Wake::default());
        if let Some(store) = store.upgrade() {
            store.watch_integrations(wake.clone());
        }
        std::thread::Builder::new()
            .name("alertgate-registry".into())
            .spawn(move || loop {
                wake.wait(REFRESH_EVERY);
                let (Some(registry), Some(store)) = (registry.upgrade(), store.upgrade()) else {
                    return;
                };
                match registry.refresh(store.as_ref()) {
                    Ok(true) => log::info!("integrations changed; reloaded"),
                    Ok(false) => {}
                    Err(error) => log::warn!("could not reload integrations: {error}"),
                }
            })?;
        Ok(())
    }
}
