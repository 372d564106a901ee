//! The API server's shared state: what it serves, where objects live, and
//! the watch caches.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::watch;

use crate::cache::Cache;
use crate::resource::{Registry, ResourceType};
use crate::storage::Storage;

/// How the API server is set up.
#[derive(Clone, Debug)]
pub struct Config {
    /// The bearer token that grants full access.
    pub admin_token: String,
    /// The range ClusterIPs are allocated from, e.g. `10.96.0.0/12`.
    pub service_cidr: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            admin_token: String::new(),
            service_cidr: "10.96.0.0/12".to_string(),
        }
    }
}

/// Everything a request handler needs.
#[derive(Debug)]
pub struct Api {
    /// The resources served.
    pub registry: Registry,
    /// Where objects live.
    pub storage: Arc<dyn Storage>,
    /// The configuration.
    pub config: Config,
    /// When the server started, for uptime.
    pub started: Instant,
    caches: Mutex<HashMap<String, Cache>>,
    shutdown: watch::Sender<bool>,
}

impl Api {
    /// State for a server on `storage`.
    pub fn new(storage: Arc<dyn Storage>, config: Config) -> Arc<Api> {
        Arc::new(Api {
            registry: Registry::new(),
            storage,
            config,
            started: Instant::now(),
            caches: Mutex::new(HashMap::new()),
            shutdown: watch::channel(false).0,
        })
    }

    /// The watch cache of a resource, started on first use. Every version
    /// of a resource shares one, since they share a storage prefix.
    pub fn cache(&self, resource: &Arc<ResourceType>) -> Cache {
        let mut caches = self.caches.lock().unwrap_or_else(|e| e.into_inner());
        caches
            .entry(resource.storage_prefix.clone())
            .or_insert_with(|| Cache::start(self.storage.clone(), resource.clone()))
            .clone()
    }

    /// Stops and forgets the cache of a prefix (a CRD went away).
    pub fn drop_cache(&self, prefix: &str) {
        let mut caches = self.caches.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = caches.remove(prefix) {
            c.stop();
        }
    }

    /// Starts the caches of every resource served now, so the first
    /// requests do not wait for them.
    pub fn warm_caches(&self) {
        for r in self.registry.snapshot().all() {
            self.cache(r);
        }
    }

    /// Whether every cache has loaded.
    pub fn caches_ready(&self) -> bool {
        let caches = self.caches.lock().unwrap_or_else(|e| e.into_inner());
        caches.values().all(Cache::is_ready)
    }

    /// Compacts the store's history every `interval`, keeping what was
    /// written in the last interval (kube-apiserver does the same, so
    /// watches can resume across short disconnections).
    pub fn start_compactor(self: &Arc<Self>, interval: std::time::Duration) {
        let api = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut previous = 0;
            loop {
                tokio::time::sleep(interval).await;
                let Some(api) = api.upgrade() else { return };
                if previous > 0
                    && let Err(e) = api.storage.compact(previous).await
                {
                    tracing::warn!(revision = previous, error = %e, "compaction failed");
                }
                match api.storage.current_revision().await {
                    Ok(r) => previous = r,
                    Err(e) => {
                        tracing::warn!(error = %e, "reading the revision for compaction failed")
                    }
                }
            }
        });
    }

    /// Tells long-running requests (watches) to end, and stops the watch
    /// caches, so nothing holds the store open any more.
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
        let mut caches = self.caches.lock().unwrap_or_else(|e| e.into_inner());
        for (_, c) in caches.drain() {
            c.stop();
        }
    }

    /// Resolves once shutdown has begun.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }
}
