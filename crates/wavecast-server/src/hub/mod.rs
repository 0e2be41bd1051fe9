//! The hub: which connections exist (by id and by user: `registry`),
//! which channels they subscribe to on this node, and the one delivery
//! path every broker uses ([`BrokerEvents`]).
//!
//! A publication's path: [`Hub::publish`] → the broker assigns its offset
//! and records history → the broker calls
//! [`BrokerEvents::deliver_claiming`] (here) →
//! [`channels::ChannelTable::deliver`] pushes one shared frame per format
//! into each subscriber's queue, and lists the idle writers it did not
//! wake → once the broker holds no lock, [`BrokerEvents::write_claimed`]
//! has their queues written directly. Joins with recovery buffer live
//! publications while they read history (`subscribe`).
//!
//! The hub imports no session code: it knows connections only through
//! [`crate::conn::Connection`], and never touches a socket itself (a
//! direct write goes through the connection's queue).

pub mod channels;
pub mod registry;
mod subscribe;

use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;
use wavecast_protocol::channel::namespace_of;
use wavecast_protocol::to_client::fields;
use wavecast_protocol::{CloseCode, Publication};

use crate::audit;
use crate::broker::{
    Broker, BrokerEvents, Brokers, Claimed, Delivered, NodeInfo, Publish, Published,
};
use crate::config::{Config, NamespaceConfig};
use crate::conn::format::Format;
use crate::conn::subs::SubStats;
use crate::conn::Connection;
use crate::history::{StoreError, StreamTop};
use crate::load::LoadGauge;
use crate::metrics::Metrics;
use channels::{flush_claimed, ChannelTable, DeliverOutcome};
use registry::Registry;

/// Channels → subscribers, connection ids → connections, users →
/// connections.
pub struct Hub {
    table: ChannelTable,
    broker: Brokers,
    registry: Registry,
    config: Arc<Config>,
    metrics: Arc<Metrics>,
    load: LoadGauge,
}

impl Hub {
    /// A hub over `broker`; the broker delivers through the hub from now on.
    pub fn new(config: Arc<Config>, metrics: Arc<Metrics>, broker: Brokers) -> Arc<Hub> {
        let hub = Arc::new(Hub {
            table: ChannelTable::default(),
            broker,
            registry: Registry::default(),
            load: LoadGauge::new(
                config.delivery.coalesce_above,
                config.delivery.coalesce_window,
            ),
            config,
            metrics,
        });
        if let Brokers::Redis(b) = &hub.broker {
            let weak = Arc::downgrade(&hub);
            b.attach(weak);
        }
        hub
    }

    /// The delivery rate writers consult before they write.
    pub fn load(&self) -> &LoadGauge {
        &self.load
    }

    pub fn broker(&self) -> &Brokers {
        &self.broker
    }

    fn policy(&self, channel: &str) -> &NamespaceConfig {
        self.config.namespace(namespace_of(channel))
    }

    /// Publishes `data` (valid JSON text) to `channel` through the broker.
    pub async fn publish(
        &self,
        channel: &str,
        event: &str,
        data: Bytes,
        idempotency_key: Option<&str>,
    ) -> Result<Published, StoreError> {
        let policy = self.policy(channel);
        let p = Publish {
            channel,
            event,
            data,
            policy,
            idempotency_key,
        };
        let out = self.broker.publish(p, self).await?;
        if !out.duplicate {
            self.metrics.publications_total.inc();
        }
        Ok(out)
    }

    /// The retained history of `channel`: its top and up to `limit`
    /// publications after `since` (about `max_bytes` at most). `None` when
    /// its namespace keeps none.
    pub async fn history(
        &self,
        channel: &str,
        since: Option<u64>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Option<(StreamTop, Vec<Publication>)>, StoreError> {
        let Some(r) = self.policy(channel).retention() else {
            return Ok(None);
        };
        let top = self.broker.top(channel, &r).await?;
        let pubs = self
            .broker
            .read(channel, since.unwrap_or(0), limit, max_bytes, &r)
            .await?;
        Ok(Some((top, pubs)))
    }

    /// The live nodes (Redis mode).
    pub async fn nodes(&self) -> Option<Result<Vec<NodeInfo>, StoreError>> {
        self.broker.nodes().await
    }

    /// Registers a new connection.
    pub fn add_connection(&self, conn: Arc<Connection>) {
        self.registry.insert(conn);
    }

    /// Unregisters a connection (by id and by user).
    pub fn remove_connection(&self, conn: &Connection) {
        self.registry.remove(conn);
    }

    /// The connections by id and by user (per-user limits go through it).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Open connections of `user`, oldest first.
    pub fn user_connections(&self, user: &str) -> Vec<Arc<Connection>> {
        self.registry.of_user(user)
    }

    pub fn connection(&self, id: &str) -> Option<Arc<Connection>> {
        self.registry.get(id)
    }

    pub fn connection_count(&self) -> usize {
        self.registry.len()
    }

    /// Every live connection.
    pub fn all_connections(&self) -> Vec<Arc<Connection>> {
        self.registry.all()
    }

    /// Stops deliveries of `channel` to `conn` but keeps what is queued
    /// (used before a flushing close). True if it was subscribed.
    pub fn detach(&self, conn: &Connection, channel: &str) -> bool {
        let mut shard = self.table.write(channel);
        let Some(entry) = shard.get_mut(channel) else {
            return false;
        };
        let Some(removed) = entry.subscribers.remove(conn.key) else {
            return false;
        };
        if removed.filter.is_some() {
            entry.filtered -= 1;
        }
        self.metrics.subscriptions.dec();
        self.release_interest(&mut shard, channel);
        true
    }

    /// Drops one unit of interest in `channel` (the caller holds its
    /// shard's write lock); the last one tells the broker and removes the
    /// entry.
    fn release_interest(&self, shard: &mut channels::Shard, channel: &str) {
        let Some(entry) = shard.get_mut(channel) else {
            return;
        };
        entry.interest = entry.interest.saturating_sub(1);
        if entry.interest > 0 {
            return;
        }
        let retention = self.policy(channel).retention();
        self.broker.unsubscribe(channel, retention.as_ref());
        shard.remove(channel);
        self.metrics.channels.dec();
    }

    /// Unsubscribes `conn` from `channel` and discards its queued frames;
    /// returns the subscription's stats if it existed.
    pub fn unsubscribe(&self, conn: &Connection, channel: &str) -> Option<SubStats> {
        self.detach(conn, channel);
        conn.outbound.remove_sub(channel)
    }

    /// Queues a frame for every connection of `user`; returns how many.
    pub fn send_to_user(&self, user: &str, build: impl Fn(&Connection) -> Bytes) -> usize {
        let conns = self.user_connections(user);
        for c in &conns {
            c.outbound.push_control(build(c));
        }
        conns.len()
    }

    /// Asks every connection to close with `code` after flushing.
    pub fn close_all(&self, code: CloseCode) {
        for conn in self.all_connections() {
            conn.close(code, true);
        }
    }

    /// Channels with their local subscriber counts, sorted by name.
    pub fn channel_counts(&self) -> Vec<(String, usize)> {
        self.table.counts()
    }

    /// Drops idle channel logs whose history expired (local engines).
    pub fn sweep_history(&self) -> usize {
        match &self.broker {
            Brokers::Local(b) => b.store().sweep(
                &|c: &str| self.policy(c).retention(),
                wavecast_protocol::time::now_millis(),
            ),
            Brokers::Redis(_) => 0,
        }
    }

    /// Channel logs held by the local history store.
    pub fn history_channels(&self) -> usize {
        match &self.broker {
            Brokers::Local(b) => b.store().channels(),
            Brokers::Redis(_) => 0,
        }
    }
}

/// Counts the frames a publication was built in, by format.
fn count_encodings(metrics: &Metrics, mut bits: u32) {
    while bits != 0 {
        let i = bits.trailing_zeros() as usize;
        bits &= bits - 1;
        if let Some(f) = Format::from_index(i) {
            metrics.frame_encoded(&f.label());
        }
    }
}

impl BrokerEvents for Hub {
    fn deliver_claiming(
        &self,
        p: Arc<Publication>,
        policy: Option<&NamespaceConfig>,
    ) -> (Delivered, Claimed) {
        let policy = policy.unwrap_or_else(|| self.policy(&p.channel));
        // Under load, writers coalesce instead (see `crate::load`): a
        // delivery's own writes, one system call per subscriber, would
        // leave no publications to share a write.
        let direct = self.config.delivery.direct_writes && !self.load.busy();
        match self.table.deliver(&p, policy, direct) {
            DeliverOutcome::Delivered(d, claimed) => {
                self.load.record(d.delivered as u64);
                if d.dropped > 0 {
                    self.metrics.buffer_overflow_total.inc_by(d.dropped);
                }
                count_encodings(&self.metrics, d.encoded);
                (d, claimed)
            }
            DeliverOutcome::Duplicate => Default::default(),
            DeliverOutcome::Gap => {
                self.require_recovery(&p.channel, "a gap in the channel's offsets");
                Default::default()
            }
        }
    }

    /// The sessions count what they write; these are counted here.
    fn write_claimed(&self, claimed: Claimed) {
        if claimed.0.is_empty() {
            return;
        }
        let m = &self.metrics;
        let f = flush_claimed(claimed, &m.delivery_latency);
        m.socket_writes_total.inc_by(f.writes);
        m.direct_writes_total.inc_by(f.writes);
        m.messages_sent_total.inc_by(f.frames);
        m.bytes_sent_total.inc_by(f.bytes);
        m.publications_delivered_total.inc_by(f.deliveries);
    }

    /// Tells the local subscribers of `channel` that they may have missed
    /// publications and ends their subscription, so they resubscribe with
    /// recovery; joiners are poisoned (told the same when they finish).
    fn require_recovery(&self, channel: &str, reason: &str) {
        let subscribers: Vec<Arc<Connection>> = {
            let shard = self.table.read(channel);
            let Some(entry) = shard.get(channel) else {
                return;
            };
            entry.joins.lock().poison_all();
            entry.last.store(0, std::sync::atomic::Ordering::Release);
            entry.subscribers.iter().map(|s| s.conn.clone()).collect()
        };
        tracing::warn!(
            channel,
            subscribers = subscribers.len(),
            reason,
            "asking clients to recover"
        );
        for conn in subscribers {
            if let Some(stats) = self.unsubscribe(&conn, channel) {
                subscription_ended(&conn, channel, &stats, "recovery_required");
            }
            send_recovery_required(&conn, channel, reason);
        }
    }

    fn local_connections(&self) -> usize {
        self.connection_count()
    }
}

/// `recovery_required` {channels, reason}.
fn send_recovery_required(conn: &Connection, channel: &str, reason: &str) {
    conn.send(
        "recovery_required",
        fields([
            ("channels", Value::from(vec![channel])),
            ("reason", Value::from(reason)),
        ]),
        None,
    );
}

/// The audit record of an ended subscription.
pub fn subscription_ended(conn: &Connection, channel: &str, stats: &SubStats, reason: &str) {
    audit::subscription_ended(&audit::SubscriptionEnded {
        connection_id: &conn.id,
        channel,
        duration_seconds: stats.since.elapsed().as_secs_f64(),
        packets_sent: stats.sent,
        dropped_frames: stats.dropped,
        reason,
    });
}
