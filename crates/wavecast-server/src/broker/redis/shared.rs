//! What every part of the redis broker shares: the pipelined command
//! connections, the key layout, where deliveries go, and this node's
//! identity.
//!
//! Invariant: every command about one channel goes through the same
//! pipeline (chosen by a hash of the channel name), so a channel's
//! publishes reach Redis, and take their offsets, in the order this node
//! issued them.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::pipeline::Pipeline;
use super::pubsub::EventsSlot;
use super::resp::{RespError, Value};
use super::scripts::Script;
use crate::history::StoreError;

/// How long a command may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// A Redis failure as a history error callers can match on.
pub fn err(e: RespError) -> StoreError {
    match e {
        RespError::Timeout => StoreError::Timeout("redis did not answer in time".into()),
        RespError::Server(m) => StoreError::Unavailable(format!("redis: {m}")),
        e => StoreError::Unavailable(e.to_string()),
    }
}

/// This node, as the registry shows it.
#[derive(Clone)]
pub struct NodeSelf {
    pub id: String,
    /// The address clients reach this node at (set once bound).
    pub address: Arc<parking_lot::Mutex<String>>,
}

pub struct Inner {
    pub prefix: String,
    pub pipes: Vec<Pipeline>,
    pub next: AtomicUsize,
    pub events: EventsSlot,
}

impl Inner {
    /// A command about no channel in particular (any pipeline).
    pub async fn cmd(&self, args: &[&[u8]]) -> Result<Value, StoreError> {
        let pipe = &self.pipes[self.next.fetch_add(1, Ordering::Relaxed) % self.pipes.len()];
        pipe.cmd(args, COMMAND_TIMEOUT).await.map_err(err)
    }

    /// A command about `channel`, on the channel's pipeline.
    pub async fn channel_cmd(&self, channel: &str, args: &[&[u8]]) -> Result<Value, StoreError> {
        self.pipe_for(channel)
            .cmd(args, COMMAND_TIMEOUT)
            .await
            .map_err(err)
    }

    /// Runs a script about `channel`, on the channel's pipeline.
    pub async fn eval(
        &self,
        channel: &str,
        script: &Script,
        keys: &[&[u8]],
        args: &[&[u8]],
    ) -> Result<Value, StoreError> {
        self.pipe_for(channel)
            .eval(script, keys, args, COMMAND_TIMEOUT)
            .await
            .map_err(err)
    }

    fn pipe_for(&self, channel: &str) -> &Pipeline {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        channel.hash(&mut h);
        &self.pipes[(h.finish() % self.pipes.len() as u64) as usize]
    }

    pub fn key(&self, kind: &str, channel: &str) -> String {
        format!("{}:{kind}:{channel}", self.prefix)
    }
}
