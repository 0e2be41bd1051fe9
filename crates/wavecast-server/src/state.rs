//! The state shared by every part of a running server: configuration, hub,
//! metrics, authentication, limits, and the shutdown signal and task
//! tracker of its sessions.

use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::hook::{self, HookClient};
use crate::auth::origin::OriginPolicy;
use crate::auth::Authenticator;
use crate::config::{Config, ConfigError, EngineKind};
use crate::engine::embedded::EmbeddedEngine;
use crate::engine::memory::MemoryEngine;
use crate::engine::Engine;
use crate::hub::Hub;
use crate::limits::Limits;
use crate::metrics::Metrics;

pub struct AppState {
    pub config: Arc<Config>,
    pub engine: Arc<dyn Engine>,
    pub hub: Hub,
    pub metrics: Arc<Metrics>,
    pub auth: Authenticator,
    pub origins: OriginPolicy,
    pub limits: Limits,
    pub hook_client: HookClient,
    /// Cancelled when the server starts shutting down.
    pub shutdown: CancellationToken,
    /// Every session task, so shutdown can wait for them.
    pub sessions: TaskTracker,
    pub started: Instant,
    /// This process's id, shown in stats.
    pub node_id: String,
}

impl AppState {
    pub fn new(config: Config) -> Result<Arc<AppState>, ConfigError> {
        let config = Arc::new(config);
        let metrics = Arc::new(Metrics::new(&config.metrics_prefix));
        let engine: Arc<dyn Engine> = match config.engine {
            EngineKind::Memory => Arc::new(MemoryEngine::default()),
            EngineKind::Embedded => Arc::new(
                EmbeddedEngine::open(&config.data_dir, config.fsync_interval())
                    .map_err(|e| ConfigError(e.to_string()))?,
            ),
        };
        Ok(Arc::new(AppState {
            hub: Hub::new(config.clone(), metrics.clone(), engine.clone()),
            engine,
            auth: Authenticator::new(&config.auth)?,
            origins: OriginPolicy::new(&config.origins, config.env).map_err(ConfigError)?,
            limits: Limits::new(&config.limits),
            hook_client: hook::client(),
            config,
            metrics,
            shutdown: CancellationToken::new(),
            sessions: TaskTracker::new(),
            started: Instant::now(),
            node_id: crate::session::new_connection_id(),
        }))
    }
}
