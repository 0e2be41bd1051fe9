//! The hub in redis mode. Publications go through Redis (which assigns
//! offsets and fans out to every node); each node delivers what its
//! pub/sub connection receives to its local subscribers.
//!
//! Joining with recovery across nodes cannot hold a lock while it waits
//! for Redis, so a joiner is first registered as *pending*: live frames of
//! its channels are buffered for it while it reads the top and history;
//! then, under the channel's stripe lock, it gets the reply, the replay,
//! and the buffered frames it has not seen (by offset), and joins. Frames
//! a node has already delivered (offset ≤ its last) are dropped, and a gap
//! in offsets, or a lost pub/sub connection, makes the node tell the
//! affected clients to recover (`recovery_required`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use serde_json::Value;
use wavecast_protocol::channel::namespace_of;
use wavecast_protocol::client::SubscribeOptions;
use wavecast_protocol::server::{encode_control, fields, publication_parts};
use wavecast_protocol::time::{format_millis, now_millis};

use super::{plan, Backend, Delivery, Fetch, Filter, Hub, JoinResult};
use crate::engine::redis::{RedisBroker, RedisPublication, RemoteEvent};
use crate::engine::{EngineError, StoredPublication, StreamTop};
use crate::session::Connection;

/// A node's state for one channel it is subscribed to in Redis.
#[derive(Default)]
pub struct RemoteChannel {
    /// Local subscribers and joiners holding the Redis subscription.
    refs: usize,
    /// The last offset delivered here (0: none since subscribing).
    last: u64,
    /// Live frames buffered for joiners, by connection key.
    pending: HashMap<u64, Vec<(u64, Bytes)>>,
    /// Joiners whose buffer may have missed frames (a reconnect or gap
    /// happened while they joined): they are told to recover instead.
    poisoned: std::collections::HashSet<u64>,
}

impl Hub {
    /// The broker, in redis mode.
    pub fn broker(&self) -> Option<&Arc<RedisBroker>> {
        match &self.backend {
            Backend::Redis(b) => Some(b),
            Backend::Local(_) => None,
        }
    }

    /// Whether publications and history go through Redis.
    pub fn is_remote(&self) -> bool {
        self.broker().is_some()
    }

    fn acquire_remote(&self, channel: &str) {
        if self.is_remote() {
            self.remote
                .lock()
                .entry(channel.to_string())
                .or_default()
                .refs += 1;
        }
    }

    /// Drops one hold on the channel's Redis subscription.
    pub(super) fn release_remote(&self, channel: &str) {
        let Some(broker) = self.broker() else { return };
        let mut remote = self.remote.lock();
        if let Some(rc) = remote.get_mut(channel) {
            rc.refs = rc.refs.saturating_sub(1);
            if rc.refs == 0 {
                remote.remove(channel);
                broker.unsubscribe(channel);
            }
        }
    }

    /// Publishes anywhere: locally, or through Redis to every node.
    pub async fn publish_async(
        &self,
        channel: &str,
        event: &str,
        data_json: &str,
    ) -> Result<Delivery, EngineError> {
        let Some(broker) = self.broker() else {
            return self.publish(channel, event, data_json);
        };
        let retention = self.config.namespace(namespace_of(channel)).retention();
        let ts_ms = now_millis();
        let (head, tail) = publication_parts(
            event,
            channel,
            data_json,
            retention.is_some(),
            &format_millis(ts_ms),
        );
        let (offset, nodes) = broker
            .publish(&RedisPublication {
                channel,
                event,
                data: data_json,
                ts_ms,
                retention: retention.as_ref(),
                head: &head,
                tail: &tail,
            })
            .await?;
        self.metrics.publications_total.inc();
        Ok(Delivery {
            delivered: 0,
            dropped: 0,
            offset,
            nodes: Some(nodes),
        })
    }

    /// Reads history anywhere.
    pub async fn history_async(
        &self,
        channel: &str,
        since: Option<u64>,
        limit: usize,
    ) -> Result<Option<(StreamTop, Vec<StoredPublication>)>, EngineError> {
        let Some(broker) = self.broker() else {
            return self.history(channel, since, limit);
        };
        let Some(r) = self.config.namespace(namespace_of(channel)).retention() else {
            return Ok(None);
        };
        let top = broker.top(channel).await?;
        let pubs = broker
            .read(channel, since.unwrap_or(0), limit, &r, now_millis())
            .await?;
        Ok(Some((top, pubs)))
    }

    /// Subscribes anywhere, with recovery; see [`Hub::subscribe_many`].
    pub async fn subscribe_many_async(
        &self,
        conn: &Arc<Connection>,
        channels: &[String],
        opts: &SubscribeOptions,
        reply: impl FnOnce(&[JoinResult]) -> Bytes,
    ) -> Result<(), EngineError> {
        let Some(broker) = self.broker().cloned() else {
            return self.subscribe_many(conn, channels, opts, reply);
        };
        // 1. Hold the Redis subscription of every channel, confirmed.
        let mut held = Vec::new();
        let mut failure = None;
        for c in channels {
            self.acquire_remote(c);
            held.push(c.clone());
            if let Err(e) = broker.subscribe(c).await {
                failure = Some(e);
                break;
            }
        }
        // 2. Buffer live frames for this joiner from now on.
        if failure.is_none() {
            let mut remote = self.remote.lock();
            for c in channels {
                remote
                    .entry(c.clone())
                    .or_default()
                    .pending
                    .insert(conn.key, Vec::new());
            }
        }
        // 3. Read positions and history.
        let now_ms = now_millis();
        let mut results = Vec::with_capacity(channels.len());
        let mut replays: Vec<(Vec<StoredPublication>, u64)> = Vec::with_capacity(channels.len());
        if failure.is_none() {
            for c in channels {
                let ns = self.config.namespace(namespace_of(c));
                let already = conn.outbound.is_subscribed(c);
                let step = async {
                    let Some(r) = ns.retention() else {
                        return Ok((None, opts.recover.get(c).map(|_| false), Vec::new(), 0));
                    };
                    let top = broker.top(c).await?;
                    let (mut recovered, fetch) =
                        plan(&top, opts.recover.get(c), opts.snapshot, already);
                    let (replay, seen) = match fetch {
                        Fetch::Nothing => (Vec::new(), top.offset),
                        Fetch::Latest => (
                            broker.latest(c, &r, now_ms).await?.into_iter().collect(),
                            top.offset,
                        ),
                        Fetch::Since(o) => {
                            let rows = broker.read(c, o, r.size, &r, now_ms).await?;
                            if super::contiguous(o, top.offset, &rows) {
                                let last = rows.last().map_or(o, |p| p.offset);
                                (rows, last)
                            } else {
                                recovered = Some(false);
                                (Vec::new(), top.offset)
                            }
                        }
                    };
                    Ok::<_, EngineError>((Some((top.offset, top.epoch)), recovered, replay, seen))
                };
                match step.await {
                    Ok((position, recovered, replay, seen)) => {
                        results.push(JoinResult {
                            channel: c.clone(),
                            position,
                            recovered,
                        });
                        replays.push((replay, seen));
                    }
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
        }
        if let Some(e) = failure {
            let mut remote = self.remote.lock();
            for c in channels {
                if let Some(rc) = remote.get_mut(c) {
                    rc.pending.remove(&conn.key);
                }
            }
            drop(remote);
            for c in &held {
                self.release_remote(c);
            }
            return Err(e);
        }
        // 4. Under the stripe locks: reply, replay, buffered frames, join.
        let mut stripes: Vec<usize> = channels.iter().map(|c| self.stripe_of(c)).collect();
        stripes.sort_unstable();
        stripes.dedup();
        let _guards: Vec<_> = stripes.iter().map(|i| self.stripes[*i].lock()).collect();
        let mut poisoned = vec![false; channels.len()];
        let mut buffered: Vec<Vec<(u64, Bytes)>> = {
            let mut remote = self.remote.lock();
            channels
                .iter()
                .enumerate()
                .map(|(i, c)| match remote.get_mut(c) {
                    Some(rc) => {
                        poisoned[i] = rc.poisoned.remove(&conn.key);
                        rc.pending.remove(&conn.key).unwrap_or_default()
                    }
                    None => Vec::new(),
                })
                .collect()
        };
        conn.outbound.push_control(reply(&results));
        let filter: Option<Arc<Filter>> = opts.filter.clone().map(Arc::new);
        for (i, c) in channels.iter().enumerate() {
            if poisoned[i] {
                self.release_remote(c);
                conn.outbound
                    .push_control(recovery_frame(c, "the node lost redis data while joining"));
                continue;
            }
            if !self.join(conn, c, filter.clone()) {
                // Already subscribed: give back this join's hold.
                self.release_remote(c);
                continue;
            }
            let (replay, seen) = std::mem::take(&mut replays[i]);
            self.push_replay(conn, c, &filter, replay.iter().map(|p| (p, None)));
            // Buffered live frames the history read did not cover.
            let later: Vec<(StoredPublication, Bytes)> = std::mem::take(&mut buffered[i])
                .into_iter()
                .filter(|(o, _)| *o == 0 || *o > seen)
                .map(|(o, frame)| (stored_from_frame(o, &frame), frame))
                .collect();
            self.push_replay(conn, c, &filter, later.iter().map(|(p, f)| (p, Some(f))));
        }
        Ok(())
    }

    /// Delivers a frame received from Redis to local subscribers.
    fn deliver_remote(&self, channel: &str, offset: u64, frame: Bytes) {
        let _g = self.stripes[self.stripe_of(channel)].lock();
        let gap = {
            let mut remote = self.remote.lock();
            let Some(rc) = remote.get_mut(channel) else {
                return;
            };
            let mut gap = false;
            if offset > 0 {
                if offset <= rc.last {
                    return;
                }
                gap = rc.last > 0 && offset > rc.last + 1;
                rc.last = offset;
            }
            for buf in rc.pending.values_mut() {
                buf.push((offset, frame.clone()));
            }
            gap
        };
        if gap {
            self.require_recovery(channel, "a gap in the channel's offsets");
            return;
        }
        self.fan_out(channel, &frame, Instant::now(), || {
            let v: Value = serde_json::from_slice(&frame).unwrap_or(Value::Null);
            (
                v["type"].as_str().unwrap_or("").to_string(),
                Some(v["data"].clone()),
            )
        });
    }

    /// Tells the local subscribers of `channel` that they may have missed
    /// publications and ends their subscription, so they resubscribe with
    /// recovery. The caller holds the channel's stripe lock.
    fn require_recovery(&self, channel: &str, reason: &str) {
        let subscribers: Vec<Arc<Connection>> = {
            let shard = self.shard(channel).read();
            shard
                .get(channel)
                .map(|e| e.subscribers.values().map(|s| s.conn.clone()).collect())
                .unwrap_or_default()
        };
        tracing::warn!(
            channel,
            subscribers = subscribers.len(),
            reason,
            "asking clients to recover"
        );
        let frame = recovery_frame(channel, reason);
        if let Some(rc) = self.remote.lock().get_mut(channel) {
            let joining: Vec<u64> = rc.pending.keys().copied().collect();
            rc.poisoned.extend(joining);
        }
        for conn in subscribers {
            if let Some(stats) = self.unsubscribe(&conn, channel) {
                crate::audit::subscription_ended(&conn, channel, &stats, "recovery_required");
            }
            conn.outbound.push_control(frame.clone());
        }
    }

    /// Handles one event of the redis pub/sub connection.
    pub fn handle_remote(&self, event: RemoteEvent) {
        match event {
            RemoteEvent::Message {
                channel,
                offset,
                frame,
            } => self.deliver_remote(&channel, offset, frame),
            RemoteEvent::Reconnected { channels } => {
                for c in channels {
                    let _g = self.stripes[self.stripe_of(c.as_str())].lock();
                    if let Some(rc) = self.remote.lock().get_mut(&c) {
                        rc.last = 0;
                    }
                    self.require_recovery(&c, "the node lost its redis connection");
                }
            }
        }
    }
}

fn recovery_frame(channel: &str, reason: &str) -> Bytes {
    encode_control(
        "recovery_required",
        fields([
            ("channels", Value::from(vec![channel])),
            ("reason", Value::from(reason)),
        ]),
        None,
    )
}

/// Rebuilds the stored form of a buffered frame (for filtering).
fn stored_from_frame(offset: u64, frame: &Bytes) -> StoredPublication {
    let v: Value = serde_json::from_slice(frame).unwrap_or(Value::Null);
    StoredPublication {
        offset,
        event: v["type"].as_str().unwrap_or("").to_string(),
        data: v["data"].to_string(),
        ts_ms: 0,
    }
}
