//! The hub: which connections exist (by id and by user), which channels
//! they subscribe to, and fan-out of publications to the subscribers'
//! outbound queues.
//!
//! Channels live in shards (`RwLock<HashMap>`), so subscribes to unrelated
//! channels do not contend. A publish holds its shard's read lock and its
//! channel's order lock while it pushes the one shared `Bytes` into each
//! queue, so publications of one channel reach every subscriber in the
//! same order. No socket is ever touched here.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use wavecast_protocol::channel::namespace_of;
use wavecast_protocol::server::encode_publication;
use wavecast_protocol::time::now_rfc3339;
use wavecast_protocol::CloseCode;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::session::outbound::SubStats;
use crate::session::Connection;

const SHARDS: usize = 64;

/// One channel's subscribers.
#[derive(Default)]
struct Channel {
    subscribers: HashMap<u64, Arc<Connection>>,
    /// Serializes publications of this channel.
    order: Mutex<()>,
}

type ChannelMap = HashMap<Arc<str>, Channel>;

/// Channels → subscribers, connection ids → connections, users →
/// connections.
pub struct Hub {
    shards: Box<[RwLock<ChannelMap>]>,
    hasher: std::collections::hash_map::RandomState,
    connections: RwLock<HashMap<Arc<str>, Arc<Connection>>>,
    users: RwLock<HashMap<String, Vec<Arc<Connection>>>>,
    config: Arc<Config>,
    metrics: Arc<Metrics>,
}

/// The result of a publish.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Subscribers whose queue took the publication.
    pub delivered: usize,
    /// Frames dropped by backpressure because of this publication.
    pub dropped: u64,
}

impl Hub {
    pub fn new(config: Arc<Config>, metrics: Arc<Metrics>) -> Hub {
        Hub {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            hasher: Default::default(),
            connections: RwLock::new(HashMap::new()),
            users: RwLock::new(HashMap::new()),
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

    /// Unregisters a connection (by id and by user).
    pub fn remove_connection(&self, conn: &Connection) {
        self.connections.write().remove(&conn.id);
        if let Some(user) = conn.user_id() {
            let mut users = self.users.write();
            if let Some(list) = users.get_mut(&user) {
                list.retain(|c| c.key != conn.key);
                if list.is_empty() {
                    users.remove(&user);
                }
            }
        }
    }

    /// Records that `conn` belongs to `user`. With `max` > 0 and the user
    /// at the limit, either returns the oldest connections to replace
    /// (`replace`) or `None` (refused).
    pub fn add_user_connection(
        &self,
        user: &str,
        conn: &Arc<Connection>,
        max: usize,
        replace: bool,
    ) -> Option<Vec<Arc<Connection>>> {
        let mut users = self.users.write();
        let list = users.entry(user.to_string()).or_default();
        if list.iter().any(|c| c.key == conn.key) {
            return Some(Vec::new());
        }
        let mut evicted = Vec::new();
        if max > 0 && list.len() >= max {
            if !replace {
                return None;
            }
            let excess = list.len() + 1 - max;
            evicted = list.drain(..excess).collect();
        }
        list.push(conn.clone());
        Some(evicted)
    }

    /// Open connections of `user`.
    pub fn user_connections(&self, user: &str) -> Vec<Arc<Connection>> {
        self.users.read().get(user).cloned().unwrap_or_default()
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
        let entry = shard.entry(key).or_insert_with(|| {
            self.metrics.channels.inc();
            Channel::default()
        });
        entry.subscribers.insert(conn.key, conn.clone());
        self.metrics.subscriptions.inc();
        true
    }

    /// Stops deliveries of `channel` to `conn` but keeps what is queued
    /// (used before a flushing close). True if it was subscribed.
    pub fn detach(&self, conn: &Connection, channel: &str) -> bool {
        let mut shard = self.shard(channel).write();
        let Some(entry) = shard.get_mut(channel) else {
            return false;
        };
        let was = entry.subscribers.remove(&conn.key).is_some();
        if entry.subscribers.is_empty() {
            shard.remove(channel);
            self.metrics.channels.dec();
        }
        if was {
            self.metrics.subscriptions.dec();
        }
        was
    }

    /// Unsubscribes `conn` from `channel` and discards its queued frames;
    /// returns the subscription's stats if it existed.
    pub fn unsubscribe(&self, conn: &Connection, channel: &str) -> Option<SubStats> {
        self.detach(conn, channel);
        conn.outbound.remove_sub(channel)
    }

    /// Encodes a publication once and queues it for every subscriber.
    pub fn publish(&self, channel: &str, event: &str, data_json: &str) -> Delivery {
        let accepted = Instant::now();
        self.metrics.publications_total.inc();
        let policy = self.config.namespace(namespace_of(channel));
        let mut result = Delivery::default();
        let shard = self.shard(channel).read();
        let Some((key, entry)) = shard.get_key_value(channel) else {
            return result;
        };
        let _order = entry.order.lock();
        // Encoded under the order lock so timestamps never go backwards
        // within a channel.
        let frame = encode_publication(event, channel, data_json, &now_rfc3339());
        for conn in entry.subscribers.values() {
            let out = conn
                .outbound
                .push_publication(key, &frame, accepted, policy);
            if out.queued {
                result.delivered += 1;
            }
            result.dropped += out.dropped;
        }
        drop(_order);
        drop(shard);
        if result.dropped > 0 {
            self.metrics.buffer_overflow_total.inc_by(result.dropped);
        }
        result
    }

    /// Queues a frame for one connection (personal message).
    pub fn send_to(&self, connection_id: &str, frame: Bytes) -> bool {
        match self.connection(connection_id) {
            Some(conn) => {
                conn.outbound.push_control(frame);
                true
            }
            None => false,
        }
    }

    /// Queues a frame for every connection of `user`; returns how many.
    pub fn send_to_user(&self, user: &str, frame: &Bytes) -> usize {
        let conns = self.user_connections(user);
        for c in &conns {
            c.outbound.push_control(frame.clone());
        }
        conns.len()
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
                    .map(|(k, v)| (k.to_string(), v.subscribers.len()))
                    .collect::<Vec<_>>()
            })
            .collect();
        out.sort();
        out
    }
}
