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
use crate::engine::redis::{NodeInfo, RedisBroker};
use crate::hub::{Backend, Hub};
use crate::limits::Limits;
use crate::metrics::Metrics;

pub struct AppState {
    pub config: Arc<Config>,
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
    /// This process's id, shown in stats and the node registry.
    pub node_id: String,
    /// Simulation streams running in this process.
    pub stream_counter: crate::streams::StreamCounter,
    /// The address shown in the node registry.
    pub advertise: parking_lot::Mutex<String>,
}

impl AppState {
    /// Builds the state. In redis mode this starts the broker's tasks, so
    /// it must run inside a Tokio runtime.
    pub fn new(config: Config) -> Result<Arc<AppState>, ConfigError> {
        let config = Arc::new(config);
        let metrics = Arc::new(Metrics::new(&config.metrics_prefix));
        let mut events = None;
        let backend = match config.engine {
            EngineKind::Memory => Backend::Local(Arc::new(MemoryEngine::default())),
            EngineKind::Embedded => Backend::Local(Arc::new(
                EmbeddedEngine::open(&config.data_dir, config.fsync_interval())
                    .map_err(|e| ConfigError(e.to_string()))?,
            )),
            EngineKind::Redis => {
                if tokio::runtime::Handle::try_current().is_err() {
                    return Err(ConfigError("the redis engine needs a Tokio runtime".into()));
                }
                let (broker, rx) = RedisBroker::start(&config.redis_url, &config.redis_prefix);
                events = Some(rx);
                Backend::Redis(Arc::new(broker))
            }
        };
        let state = Arc::new(AppState {
            hub: Hub::new(config.clone(), metrics.clone(), backend),
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
            advertise: parking_lot::Mutex::new(String::new()),
            stream_counter: Default::default(),
        });
        if let Some(mut rx) = events {
            // Remote publications: delivered by a task that holds only a
            // weak reference, so dropping the server stops it.
            let weak = Arc::downgrade(&state);
            tokio::spawn(async move {
                while let Some(ev) = rx.recv().await {
                    match weak.upgrade() {
                        Some(s) => s.hub.handle_remote(ev),
                        None => return,
                    }
                }
            });
            let weak = Arc::downgrade(&state);
            tokio::spawn(async move {
                let every = std::time::Duration::from_secs(2);
                loop {
                    let Some(s) = weak.upgrade() else { return };
                    if s.shutdown.is_cancelled() {
                        return;
                    }
                    if let Some(b) = s.hub.broker() {
                        let node = NodeInfo {
                            id: s.node_id.clone(),
                            address: s.advertise.lock().clone(),
                            connections: s.hub.connection_count() as u64,
                            last_heartbeat_ms: wavecast_protocol::time::now_millis(),
                        };
                        if let Err(e) = b.heartbeat(&node, every * 3).await {
                            tracing::debug!(error = %e, "node registry heartbeat failed");
                        }
                    }
                    drop(s);
                    tokio::time::sleep(every).await;
                }
            });
        }
        Ok(state)
    }
}
