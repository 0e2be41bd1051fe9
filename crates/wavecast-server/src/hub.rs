//! The hub: which connections exist, which channels they subscribe to, and
//! fan-out of publications to the subscribers' outbound queues.
//!
//! Channels live in shards (`RwLock<HashMap>`), so subscribes to unrelated
//! channels do not contend and a publish holds only a read lock of its
//! shard while it pushes the one shared `Bytes` into each queue. No socket
//! is ever touched here.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use parking_lot::RwLock;
use wavecast_protocol::channel::namespace_of;
use wavecast_protocol::server::encode_publication;
use wavecast_protocol::time::now_rfc3339;
use wavecast_protocol::CloseCode;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::session::Connection;

const SHARDS: usize = 64;

type Subscribers = HashMap<u64, Arc<Connection>>;
type ChannelMap = HashMap<Arc<str>, Subscribers>;

/// Channels → subscribers, and connection ids → connections.
pub struct Hub {
    shards: Box<[RwLock<ChannelMap>]>,
    hasher: std::collections::hash_map::RandomState,
    connections: RwLock<HashMap<Arc<str>, Arc<Connection>>>,
    config: Arc<Config>,
    metrics: Arc<Metrics>,
}

/// The result of a publish.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Subscribers whose queue took the publication.
    pub delivered: usize,
    /// Subscribers for which it (or an older frame) was dropped.
    pub dropped: u64,
}

impl Hub {
    pub fn new(config: Arc<Config>, metrics: Arc<Metrics>) -> Hub {
        Hub {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            hasher: Default::default(),
            connections: RwLock::new(HashMap::new()),
            config,
            metrics,
        }
    }

    fn shard(&self, channel: &str) -> &RwLock<ChannelMap> {
        &self.shards[(self.hasher.hash_one(channel) as usize) % SHARDS]
    }

    /// Registers a new connection.
    pub fn add_connection(&self, conn: Arc<Connection>) {
        self.connections.write().insert(conn.id.clone(), conn);
    }

    /// Unregisters a connection and all its subscriptions.
    pub fn remove_connection(&self, conn: &Connection) {
        self.connections.write().remove(&conn.id);
    }

    pub fn connection(&self, id: &str) -> Option<Arc<Connection>> {
        self.connections.read().get(id).cloned()
    }

    pub fn connection_count(&self) -> usize {
        self.connections.read().len()
    }

    /// Every live connection.
    pub fn all_connections(&self) -> Vec<Arc<Connection>> {
        self.connections.read().values().cloned().collect()
    }

    /// Subscribes `conn` to `channel`; false if it already was.
    pub fn subscribe(&self, conn: &Arc<Connection>, channel: &str) -> bool {
        let mut shard = self.shard(channel).write();
        let key: Arc<str> = match shard.get_key_value(channel) {
            Some((k, _)) => k.clone(),
            None => Arc::from(channel),
        };
        if !conn.outbound.add_sub(key.clone()) {
            return false;
        }
        let subs = shard.entry(key).or_insert_with(|| {
            self.metrics.channels.inc();
            HashMap::new()
        });
        subs.insert(conn.key, conn.clone());
        self.metrics.subscriptions.inc();
        true
    }

    /// Unsubscribes `conn` from `channel`; returns the subscription's stats
    /// if it existed.
    pub fn unsubscribe(
        &self,
        conn: &Connection,
        channel: &str,
    ) -> Option<crate::session::outbound::SubStats> {
        {
            let mut shard = self.shard(channel).write();
            if let Some(subs) = shard.get_mut(channel) {
                subs.remove(&conn.key);
                if subs.is_empty() {
                    shard.remove(channel);
                    self.metrics.channels.dec();
                }
            }
        }
        let stats = conn.outbound.remove_sub(channel)?;
        self.metrics.subscriptions.dec();
        Some(stats)
    }

    /// Encodes a publication once and queues it for every subscriber.
    pub fn publish(&self, channel: &str, event: &str, data_json: &str) -> Delivery {
        let accepted = Instant::now();
        let frame = encode_publication(event, channel, data_json, &now_rfc3339());
        self.metrics.publications_total.inc();
        self.fan_out(channel, &frame, accepted)
    }

    /// Queues an already-encoded frame for every subscriber of `channel`.
    pub fn fan_out(&self, channel: &str, frame: &Bytes, accepted: Instant) -> Delivery {
        let policy = self.config.namespace(namespace_of(channel));
        let mut result = Delivery::default();
        let shard = self.shard(channel).read();
        let Some((key, subs)) = shard.get_key_value(channel) else {
            return result;
        };
        for conn in subs.values() {
            let out = conn.outbound.push_publication(key, frame, accepted, policy);
            if out.queued {
                result.delivered += 1;
            }
            result.dropped += out.dropped;
        }
        drop(shard);
        if result.dropped > 0 {
            self.metrics.buffer_overflow_total.inc_by(result.dropped);
        }
        result
    }

    /// Queues a control-style frame for one connection (personal message).
    pub fn send_to(&self, connection_id: &str, frame: Bytes) -> bool {
        match self.connection(connection_id) {
            Some(conn) => {
                conn.outbound.push_control(frame);
                true
            }
            None => false,
        }
    }

    /// Asks every connection to close with `code` after flushing.
    pub fn close_all(&self, code: CloseCode) {
        for conn in self.all_connections() {
            conn.outbound.request_close(code, true);
        }
    }

    /// Channels with their local subscriber counts, sorted by name.
    pub fn channel_counts(&self) -> Vec<(String, usize)> {
        let mut out: Vec<(String, usize)> = self
            .shards
            .iter()
            .flat_map(|s| {
                s.read()
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.len()))
                    .collect::<Vec<_>>()
            })
            .collect();
        out.sort();
        out
    }
}
