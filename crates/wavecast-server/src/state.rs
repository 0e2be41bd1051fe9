//! The state shared by every part of a running server: configuration, hub,
//! metrics, and the shutdown signal and task tracker of its sessions.

use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::hub::Hub;
use crate::metrics::Metrics;

pub struct AppState {
    pub config: Arc<Config>,
    pub hub: Hub,
    pub metrics: Arc<Metrics>,
    /// Cancelled when the server starts shutting down.
    pub shutdown: CancellationToken,
    /// Every session task, so shutdown can wait for them.
    pub sessions: TaskTracker,
    pub started: Instant,
    /// This process's id, shown in stats.
    pub node_id: String,
}

impl AppState {
    pub fn new(config: Config) -> Arc<AppState> {
        let config = Arc::new(config);
        let metrics = Arc::new(Metrics::new(&config.metrics_prefix));
        Arc::new(AppState {
            hub: Hub::new(config.clone(), metrics.clone()),
            config,
            metrics,
            shutdown: CancellationToken::new(),
            sessions: TaskTracker::new(),
            started: Instant::now(),
            node_id: crate::session::new_connection_id(),
        })
    }
}
