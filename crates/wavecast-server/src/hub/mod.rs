//! The hub: which connections exist (by id and by user), which channels
//! they subscribe to, and fan-out of publications to the subscribers'
//! outbound queues.
//!
//! Channels live in shards (`RwLock<HashMap>`), so subscribes to unrelated
//! channels do not contend. Every publish of a channel runs under that
//! channel's stripe lock: it appends to history (getting the offset),
//! encodes once, and pushes the one shared `Bytes` into each queue, so
//! publications of a channel reach every subscriber in offset order. A
//! subscribe with recovery takes the same lock while it reads history and
//! joins, so replay and live deliveries meet with no gap and no duplicate.
//! No socket is ever touched here.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use serde_json::Value;
use wavecast_protocol::channel::namespace_of;
use wavecast_protocol::client::{StreamPosition, SubscribeOptions};
use wavecast_protocol::server::encode_publication;
use wavecast_protocol::time::{format_millis, now_millis};
use wavecast_protocol::CloseCode;

use crate::config::Config;
use crate::engine::redis::RedisBroker;
use crate::engine::{Engine, EngineError, StoredPublication, StreamTop};

pub mod remote;
use crate::metrics::Metrics;
use crate::session::outbound::SubStats;
use crate::session::Connection;

const SHARDS: usize = 64;

const STRIPES: usize = 256;

/// Field equality filter of a subscription.
pub type Filter = serde_json::Map<String, Value>;

/// Whether a publication passes `filter`: `type` compares with the event
/// type, every other key with the same field of `data`.
pub fn filter_matches(filter: &Filter, event: &str, data: Option<&Value>) -> bool {
    filter.iter().all(|(k, v)| {
        if k == "type" {
            v.as_str() == Some(event)
        } else {
            data.and_then(|d| d.get(k)) == Some(v)
        }
    })
}

/// Where publications and history go.
pub enum Backend {
    /// This process alone: memory or embedded history.
    Local(Arc<dyn Engine>),
    /// Several nodes through Redis.
    Redis(Arc<RedisBroker>),
}

/// What history to fetch for a joining subscriber.
enum Fetch {
    Nothing,
    Latest,
    Since(u64),
}

/// Decides recovery: the `recovered` flag to report and what to fetch.
fn plan(
    top: &StreamTop,
    recover: Option<&StreamPosition>,
    snapshot: bool,
    already: bool,
) -> (Option<bool>, Fetch) {
    match recover {
        _ if already => (None, Fetch::Nothing),
        None if snapshot => (None, Fetch::Latest),
        None => (None, Fetch::Nothing),
        Some(p) => {
            let same_epoch = p.epoch.as_deref().is_none_or(|e| e == top.epoch);
            if !same_epoch || p.offset > top.offset || p.offset + 1 < top.earliest {
                (Some(false), Fetch::Nothing)
            } else {
                (Some(true), Fetch::Since(p.offset))
            }
        }
    }
}

/// Whether `rows` (read after offset `from`, with the top at `top`) are
/// exactly `from+1, from+2, …`: anything else (entries expired by TTL,
/// trimmed, or lost) means recovery cannot be exact.
pub(crate) fn contiguous(from: u64, top: u64, rows: &[StoredPublication]) -> bool {
    if top > from && rows.first().map(|p| p.offset) != Some(from + 1) {
        return false;
    }
    rows.windows(2).all(|w| w[1].offset == w[0].offset + 1)
}

/// One subscriber of a channel.
struct Subscriber {
    conn: Arc<Connection>,
    filter: Option<Arc<Filter>>,
}

/// One channel's subscribers.
#[derive(Default)]
struct Channel {
    subscribers: HashMap<u64, Subscriber>,
    filtered: usize,
}

/// A channel's position as told in `subscribe_success`.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinResult {
    pub channel: String,
    /// Offset and epoch when the namespace keeps history.
    pub position: Option<(u64, String)>,
    /// Set when the client asked to recover.
    pub recovered: Option<bool>,
}

type ChannelMap = HashMap<Arc<str>, Channel>;

/// Channels → subscribers, connection ids → connections, users →
/// connections.
pub struct Hub {
    shards: Box<[RwLock<ChannelMap>]>,
    stripes: Box<[Mutex<()>]>,
    backend: Backend,
    /// Redis mode: per-channel node state (see [`remote`]).
    remote: Mutex<HashMap<String, remote::RemoteChannel>>,
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
    /// The publication's offset, in a namespace with history.
    pub offset: Option<u64>,
    /// Redis mode: the nodes that received the publication (local
    /// deliveries happen on each node and are not counted here).
    pub nodes: Option<i64>,
}

impl Hub {
    pub fn new(config: Arc<Config>, metrics: Arc<Metrics>, backend: Backend) -> Hub {
        Hub {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            backend,
            remote: Mutex::new(HashMap::new()),
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

    fn stripe_of(&self, channel: &str) -> usize {
        (self.hasher.hash_one(("stripe", channel)) as usize) % STRIPES
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

    /// Adds `conn` to `channel`'s subscribers; false if it already was.
    /// The caller holds the channel's stripe lock.
    fn join(&self, conn: &Arc<Connection>, channel: &str, filter: Option<Arc<Filter>>) -> bool {
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
        if filter.is_some() {
            entry.filtered += 1;
        }
        entry.subscribers.insert(
            conn.key,
            Subscriber {
                conn: conn.clone(),
                filter,
            },
        );
        self.metrics.subscriptions.inc();
        true
    }

    /// Subscribes `conn` to `channels`, recovering or sending a snapshot
    /// as `opts` asks. `reply` builds the reply from every channel's
    /// position; it is queued before any publication of these channels.
    pub fn subscribe_many(
        &self,
        conn: &Arc<Connection>,
        channels: &[String],
        opts: &SubscribeOptions,
        reply: impl FnOnce(&[JoinResult]) -> Bytes,
    ) -> Result<(), EngineError> {
        let mut stripes: Vec<usize> = channels.iter().map(|c| self.stripe_of(c)).collect();
        stripes.sort_unstable();
        stripes.dedup();
        let _guards: Vec<_> = stripes.iter().map(|i| self.stripes[*i].lock()).collect();
        let now_ms = now_millis();
        let filter = opts.filter.clone().map(Arc::new);
        let mut results = Vec::with_capacity(channels.len());
        let mut replays: Vec<Vec<StoredPublication>> = Vec::with_capacity(channels.len());
        for c in channels {
            let ns = self.config.namespace(namespace_of(c));
            let already = conn.outbound.is_subscribed(c);
            let engine = match &self.backend {
                Backend::Local(e) => e,
                Backend::Redis(_) => {
                    return Err(EngineError("subscribe_many needs a local engine".into()))
                }
            };
            let (position, recovered, replay) = match ns.retention() {
                None => (None, opts.recover.get(c).map(|_| false), Vec::new()),
                Some(r) => {
                    let top = engine.top(c, &r, now_ms)?;
                    let (mut recovered, fetch) =
                        plan(&top, opts.recover.get(c), opts.snapshot, already);
                    let replay = match fetch {
                        Fetch::Nothing => Vec::new(),
                        Fetch::Latest => engine.latest(c, &r, now_ms)?.into_iter().collect(),
                        Fetch::Since(o) => {
                            let rows = engine.read(c, o, r.size, &r, now_ms)?;
                            if contiguous(o, top.offset, &rows) {
                                rows
                            } else {
                                recovered = Some(false);
                                Vec::new()
                            }
                        }
                    };
                    (Some((top.offset, top.epoch)), recovered, replay)
                }
            };
            results.push(JoinResult {
                channel: c.clone(),
                position,
                recovered,
            });
            replays.push(replay);
        }
        conn.outbound.push_control(reply(&results));
        for (c, replay) in channels.iter().zip(replays) {
            if self.join(conn, c, filter.clone()) {
                self.push_replay(conn, c, &filter, replay.iter().map(|p| (p, None)));
            }
        }
        Ok(())
    }

    /// Queues stored (or buffered) publications for a just-joined
    /// subscriber, applying its filter. Replayed frames may exceed the
    /// queue bounds once: the client asked for them and they are bounded by
    /// the history size. Items carry an already-encoded frame, or `None`
    /// to encode the stored publication.
    fn push_replay<'a>(
        &self,
        conn: &Connection,
        channel: &str,
        filter: &Option<Arc<Filter>>,
        items: impl Iterator<Item = (&'a StoredPublication, Option<&'a Bytes>)>,
    ) {
        let items: Vec<_> = items.collect();
        if items.is_empty() {
            return;
        }
        let ns = self.config.namespace(namespace_of(channel));
        let bytes: usize = items.iter().map(|(p, _)| p.data.len() + 128).sum();
        let mut relaxed = ns.clone();
        relaxed.max_queue_messages += items.len();
        relaxed.max_queue_bytes += bytes;
        let key: Arc<str> = Arc::from(channel);
        for (p, frame) in items {
            if let Some(f) = filter {
                let data: Option<Value> = serde_json::from_str(&p.data).ok();
                if !filter_matches(f, &p.event, data.as_ref()) {
                    continue;
                }
            }
            let frame = match frame {
                Some(b) => b.clone(),
                None => encode_publication(
                    &p.event,
                    channel,
                    &p.data,
                    Some(p.offset),
                    &format_millis(p.ts_ms),
                ),
            };
            conn.outbound
                .push_publication(&key, &frame, Instant::now(), &relaxed);
        }
    }

    /// Subscribes without recovery, telling the client with `reply`.
    pub fn subscribe(&self, conn: &Arc<Connection>, channel: &str) -> bool {
        let _g = self.stripes[self.stripe_of(channel)].lock();
        self.join(conn, channel, None)
    }

    /// The retained history of `channel`: its top and up to `limit`
    /// publications after `since`. `None` when the namespace keeps none.
    pub fn history(
        &self,
        channel: &str,
        since: Option<u64>,
        limit: usize,
    ) -> Result<Option<(StreamTop, Vec<StoredPublication>)>, EngineError> {
        let Some(r) = self.config.namespace(namespace_of(channel)).retention() else {
            return Ok(None);
        };
        let now_ms = now_millis();
        let Backend::Local(engine) = &self.backend else {
            return Err(EngineError(
                "history needs a local engine; use history_async".into(),
            ));
        };
        let _g = self.stripes[self.stripe_of(channel)].lock();
        let top = engine.top(channel, &r, now_ms)?;
        let pubs = engine.read(channel, since.unwrap_or(0), limit, &r, now_ms)?;
        Ok(Some((top, pubs)))
    }

    /// Stops deliveries of `channel` to `conn` but keeps what is queued
    /// (used before a flushing close). True if it was subscribed.
    pub fn detach(&self, conn: &Connection, channel: &str) -> bool {
        let mut shard = self.shard(channel).write();
        let Some(entry) = shard.get_mut(channel) else {
            return false;
        };
        let removed = entry.subscribers.remove(&conn.key);
        if removed.as_ref().is_some_and(|s| s.filter.is_some()) {
            entry.filtered -= 1;
        }
        let was = removed.is_some();
        if entry.subscribers.is_empty() {
            shard.remove(channel);
            self.metrics.channels.dec();
        }
        drop(shard);
        if was {
            self.metrics.subscriptions.dec();
            self.release_remote(channel);
        }
        was
    }

    /// Unsubscribes `conn` from `channel` and discards its queued frames;
    /// returns the subscription's stats if it existed.
    pub fn unsubscribe(&self, conn: &Connection, channel: &str) -> Option<SubStats> {
        self.detach(conn, channel);
        conn.outbound.remove_sub(channel)
    }

    /// Records a publication in history (when its namespace keeps one),
    /// encodes it once and queues it for every subscriber whose filter it
    /// passes. Nothing is delivered when history cannot record it.
    pub fn publish(
        &self,
        channel: &str,
        event: &str,
        data_json: &str,
    ) -> Result<Delivery, EngineError> {
        let accepted = Instant::now();
        let policy = self.config.namespace(namespace_of(channel));
        let mut result = Delivery::default();
        let _order = self.stripes[self.stripe_of(channel)].lock();
        let ts_ms = now_millis();
        let Backend::Local(engine) = &self.backend else {
            return Err(EngineError(
                "publish needs a local engine; use publish_async".into(),
            ));
        };
        if let Some(r) = policy.retention() {
            result.offset = Some(engine.append(channel, event, data_json, ts_ms, &r)?);
        }
        self.metrics.publications_total.inc();
        let frame = encode_publication(
            event,
            channel,
            data_json,
            result.offset,
            &format_millis(ts_ms),
        );
        let (delivered, dropped) = self.fan_out(channel, &frame, accepted, || {
            (event.to_string(), serde_json::from_str(data_json).ok())
        });
        result.delivered = delivered;
        result.dropped = dropped;
        drop(_order);
        Ok(result)
    }

    /// Queues an encoded frame for every local subscriber of `channel`
    /// whose filter it passes; `parts` gives the event type and parsed data
    /// (only called when some subscriber has a filter). Returns (queued,
    /// dropped).
    fn fan_out(
        &self,
        channel: &str,
        frame: &Bytes,
        accepted: Instant,
        parts: impl FnOnce() -> (String, Option<Value>),
    ) -> (usize, u64) {
        let policy = self.config.namespace(namespace_of(channel));
        let shard = self.shard(channel).read();
        let Some((key, entry)) = shard.get_key_value(channel) else {
            return (0, 0);
        };
        let parsed = (entry.filtered > 0).then(parts);
        let (mut delivered, mut dropped) = (0, 0);
        for sub in entry.subscribers.values() {
            if let (Some(f), Some((event, data))) = (&sub.filter, &parsed) {
                if !filter_matches(f, event, data.as_ref()) {
                    continue;
                }
            }
            let out = sub
                .conn
                .outbound
                .push_publication(key, frame, accepted, policy);
            if out.queued {
                delivered += 1;
            }
            dropped += out.dropped;
        }
        drop(shard);
        if dropped > 0 {
            self.metrics.buffer_overflow_total.inc_by(dropped);
        }
        (delivered, dropped)
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

#[cfg(test)]
mod tests {
    use super::contiguous;
    use crate::engine::StoredPublication;

    fn rows(offsets: &[u64]) -> Vec<StoredPublication> {
        offsets
            .iter()
            .map(|o| StoredPublication {
                offset: *o,
                event: "p".into(),
                data: "1".into(),
                ts_ms: 0,
            })
            .collect()
    }

    #[test]
    fn recovery_needs_an_unbroken_run() {
        assert!(contiguous(5, 8, &rows(&[6, 7, 8])));
        assert!(contiguous(8, 8, &rows(&[])));
        // The first ones expired (e.g. by TTL in redis): not exact.
        assert!(!contiguous(5, 8, &rows(&[7, 8])));
        assert!(!contiguous(5, 8, &rows(&[])));
        assert!(!contiguous(5, 9, &rows(&[6, 8, 9])));
    }
}
