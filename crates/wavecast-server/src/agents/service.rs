//! The server-wide part of the agent relay: the upstream HTTP client
//! (one pool for every conversation) and the run counts behind the
//! limits. One per server, shared by every connection's extension.

use std::sync::Arc;

use super::runs::Runs;
use super::upstream::{self, UpstreamClient};

/// What every connection's agent extension shares.
pub struct AgentService {
    pub client: UpstreamClient,
    pub runs: Arc<Runs>,
}

impl Default for AgentService {
    fn default() -> Self {
        AgentService {
            client: upstream::client(),
            runs: Arc::default(),
        }
    }
}

impl AgentService {
    /// Conversations running in this process.
    pub fn running(&self) -> usize {
        self.runs.running()
    }
}
