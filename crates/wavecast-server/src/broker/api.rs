//! The broker interface: [`Broker`], the one delivery callback every
//! broker uses ([`BrokerEvents`], implemented by the hub), and the data
//! that crosses it.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use wavecast_protocol::Publication;

use crate::config::NamespaceConfig;
use crate::conn::Connection;
use crate::history::{Retention, StoreError, StreamTop};

/// What a delivery did on this node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivered {
    /// Subscribers whose queue took the publication.
    pub delivered: usize,
    /// Frames dropped by backpressure because of it.
    pub dropped: u64,
    /// The formats its frame was built in, one bit per
    /// `conn::format::Format::index`.
    pub encoded: u32,
}

/// Connections whose writers a delivery did not wake: the caller writes
/// their queues itself ([`BrokerEvents::write_claimed`], see
/// `crate::conn::outbound`) once it holds no lock.
/// Dropped unwritten (an early return, a panic), it wakes their writers,
/// so no frame is left without one.
#[must_use = "claimed connections are not woken: write them"]
#[derive(Default)]
pub struct Claimed(pub Vec<Arc<Connection>>);

impl Claimed {
    /// Takes the connections out (the caller writes them).
    pub fn take(&mut self) -> Vec<Arc<Connection>> {
        std::mem::take(&mut self.0)
    }
}

impl Drop for Claimed {
    fn drop(&mut self) {
        for conn in self.0.drain(..) {
            conn.outbound.wake_writer();
        }
    }
}

/// The callback every broker delivers through (implemented by the hub).
pub trait BrokerEvents: Send + Sync {
    /// Delivers a publication to this node's subscribers. `policy` is the
    /// channel's namespace when the caller already has it. Idle
    /// subscribers may be written before it returns: call it holding no
    /// lock (or use [`BrokerEvents::deliver_claiming`]).
    fn deliver(&self, p: Arc<Publication>, policy: Option<&NamespaceConfig>) -> Delivered {
        let (d, claimed) = self.deliver_claiming(p, policy);
        self.write_claimed(claimed);
        d
    }

    /// Like [`BrokerEvents::deliver`], but the writes to idle subscribers
    /// are left to the caller, for one that holds a lock (a broker's
    /// per-channel order) until it can call [`BrokerEvents::write_claimed`].
    fn deliver_claiming(
        &self,
        p: Arc<Publication>,
        policy: Option<&NamespaceConfig>,
    ) -> (Delivered, Claimed);

    /// Writes the queues of connections a delivery claimed.
    fn write_claimed(&self, claimed: Claimed);

    /// The subscribers of `channel` on this node may have missed
    /// publications (the broker lost its connection, or saw a gap).
    fn require_recovery(&self, channel: &str, reason: &str);

    /// Connections open on this node (for the node registry).
    fn local_connections(&self) -> usize;
}

/// A publication to make.
#[derive(Debug, Clone)]
pub struct Publish<'a> {
    pub channel: &'a str,
    pub event: &'a str,
    /// Valid JSON text.
    pub data: Bytes,
    /// The channel's namespace (its retention and backpressure).
    pub policy: &'a NamespaceConfig,
    /// A retried publish with the same key is not made twice: the first
    /// outcome is returned (`duplicate: true`).
    pub idempotency_key: Option<&'a str>,
}

impl Publish<'_> {
    pub fn retention(&self) -> Option<Retention> {
        self.policy.retention()
    }
}

/// What a publish did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Published {
    /// The offset, when the namespace keeps history.
    pub offset: Option<u64>,
    /// Subscribers that got it on this node, when known at once (local
    /// brokers); with Redis, deliveries happen on each node later.
    pub delivered: Option<usize>,
    pub dropped: u64,
    /// Redis: the nodes subscribed to the channel that received it.
    pub nodes: Option<i64>,
    /// The idempotency key was seen before: nothing was published now.
    pub duplicate: bool,
}

/// A live node (Redis mode).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeInfo {
    pub id: String,
    pub address: String,
    pub connections: u64,
    pub last_heartbeat_ms: u64,
}

/// One async interface over every engine.
pub trait Broker: Send + Sync {
    /// Assigns the offset, records history, and delivers (through
    /// `events` for local brokers, through every node's pub/sub otherwise).
    fn publish(
        &self,
        p: Publish<'_>,
        events: &dyn BrokerEvents,
    ) -> impl Future<Output = Result<Published, StoreError>> + Send;

    /// The channel's log top.
    fn top(
        &self,
        channel: &str,
        retention: &Retention,
    ) -> impl Future<Output = Result<StreamTop, StoreError>> + Send;

    /// Up to `limit` publications after `since` (and about `max_bytes`).
    fn read(
        &self,
        channel: &str,
        since: u64,
        limit: usize,
        max_bytes: usize,
        retention: &Retention,
    ) -> impl Future<Output = Result<Vec<Publication>, StoreError>> + Send;

    /// The newest retained publication.
    fn latest(
        &self,
        channel: &str,
        retention: &Retention,
    ) -> impl Future<Output = Result<Option<Publication>, StoreError>> + Send;

    /// This node has its first local subscriber of `channel`; returns once
    /// the broker will deliver its publications here.
    fn subscribe(&self, channel: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// This node has no local subscriber of `channel` left.
    fn unsubscribe(&self, channel: &str, retention: Option<&Retention>);

    /// The live nodes (`None` for a single-node engine).
    fn nodes(&self) -> impl Future<Output = Option<Result<Vec<NodeInfo>, StoreError>>> + Send;

    /// Whether publishes can succeed now (for `/ready`).
    fn healthy(&self) -> bool;

    /// `memory`, `embedded` or `redis`.
    fn name(&self) -> &'static str;
}
