//! The state shared by the session core and every endpoint: configuration,
//! hub (and through it the broker), metrics, authentication, limits, and
//! the shutdown signal and task tracker of the sessions. Domain parts
//! (streams, monitoring, agents) keep their own state beside it.

use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::hook::{self, HookClient};
use crate::auth::origin::OriginPolicy;
use crate::auth::Authenticator;
use crate::broker::local::LocalBroker;
use crate::broker::redis::{NodeSelf, RedisBroker};
use crate::broker::Brokers;
use crate::config::{Config, ConfigError, EngineKind, RedisUrl};
use crate::history::embedded::{EmbeddedStore, MemoryBudget};
use crate::history::memory::MemoryStore;
use crate::hub::Hub;
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::timer::Wheel;

pub struct AppState {
    pub config: Arc<Config>,
    pub hub: Arc<Hub>,
    pub metrics: Arc<Metrics>,
    pub auth: Authenticator,
    pub origins: OriginPolicy,
    pub limits: Limits,
    pub hook_client: HookClient,
    /// Cancelled when the server starts shutting down.
    pub shutdown: CancellationToken,
    /// Every session task, so shutdown can wait for them.
    pub sessions: TaskTracker,
    /// The sessions' shared timer (heartbeats, auth deadlines).
    pub timers: Arc<Wheel>,
    pub started: Instant,
    /// This process, as the node registry shows it.
    pub node: NodeSelf,
    /// The embedded engine's store (`engine = "embedded"`), whose database
    /// domain parts may keep their own keyspaces in.
    pub embedded: Option<Arc<EmbeddedStore>>,
}

impl AppState {
    /// Builds the state. In redis mode this starts the broker's tasks, so
    /// it must run inside a Tokio runtime.
    pub fn new(config: Config) -> Result<Arc<AppState>, ConfigError> {
        crate::moment::init();
        let config = Arc::new(config);
        let metrics = Arc::new(Metrics::with_profile(
            &config.metrics_prefix,
            config.metrics_profile,
        ));
        let node = NodeSelf {
            id: crate::ids::new_connection_id(),
            address: Arc::new(parking_lot::Mutex::new(String::new())),
        };
        let (broker, embedded) = broker(&config, &node)?;
        let shutdown = CancellationToken::new();
        Ok(Arc::new(AppState {
            hub: Hub::new(config.clone(), metrics.clone(), broker),
            auth: Authenticator::new(&config.auth)?,
            origins: OriginPolicy::new(&config.origins, config.env).map_err(ConfigError)?,
            limits: Limits::new(&config.limits),
            hook_client: hook::client(),
            config,
            metrics,
            timers: Wheel::new(shutdown.clone()),
            shutdown,
            sessions: TaskTracker::new(),
            started: Instant::now(),
            node,
            embedded,
        }))
    }
}

/// The broker the configuration asks for.
fn broker(
    config: &Config,
    node: &NodeSelf,
) -> Result<(Brokers, Option<Arc<EmbeddedStore>>), ConfigError> {
    let max_channels = match config.history.max_channels {
        0 => usize::MAX,
        n => n,
    };
    Ok(match config.engine {
        EngineKind::Memory => (
            Brokers::Local(LocalBroker::new(Arc::new(MemoryStore::new(max_channels)))),
            None,
        ),
        EngineKind::Embedded => {
            let store = Arc::new(
                EmbeddedStore::open_with(
                    &config.data_dir,
                    config.fsync_interval(),
                    max_channels,
                    MemoryBudget {
                        memtable_bytes: config.history.memtable_bytes,
                        cache_bytes: config.history.cache_bytes,
                    },
                )
                .map_err(|e| ConfigError(e.to_string()))?,
            );
            (Brokers::Local(LocalBroker::new(store.clone())), Some(store))
        }
        EngineKind::Redis => {
            if tokio::runtime::Handle::try_current().is_err() {
                return Err(ConfigError("the redis engine needs a Tokio runtime".into()));
            }
            let mut addr: RedisUrl = config
                .redis_url
                .parse()
                .map_err(|e| ConfigError(format!("redis_url: {e}")))?;
            addr.ca_file = config.redis_ca_file.clone();
            if addr.tls {
                // A CA file that cannot be used stops the start, not every
                // connection attempt after it.
                crate::broker::redis::tls::connector(&addr.ca_file).map_err(ConfigError)?;
            }
            (
                Brokers::Redis(RedisBroker::start(addr, &config.redis_prefix, node.clone())),
                None,
            )
        }
    })
}
