//! Joining channels, the same way for every broker:
//!
//! 1. under each channel's shard lock: take a unit of interest and, for a
//!    channel with history, start buffering its live publications for the
//!    joiner;
//! 2. make sure the broker delivers the channel here;
//! 3. read each channel's top and, as planned by [`crate::recovery`], its
//!    replay (no lock held: Redis is remote, the embedded store may read
//!    disk);
//! 4. under the channels' shard locks, in shard order: queue the reply,
//!    then for each channel the replay merged with what was buffered, and
//!    join. Live publications queued after that follow in order, so the
//!    client sees every offset once, with no gap and no duplicate.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use wavecast_protocol::replies::JoinedChannel;
use wavecast_protocol::to_server::SubscribeOptions;
use wavecast_protocol::Publication;

use super::channels::{filter_matches, Filter, Subscriber};
use super::{send_recovery_required, Hub};
use crate::broker::Broker;
use crate::conn::Connection;
use crate::history::StoreError;
use crate::recovery::{self, Fetch, Poisoned};

/// What step 3 found for one channel.
struct Planned {
    joined: JoinedChannel,
    replay: Vec<Arc<Publication>>,
    /// This connection's frames of the first `frames.len()` replayed
    /// publications, encoded when the replay was measured (not again).
    frames: Vec<Bytes>,
    /// The last offset the reply's position or the replay covers.
    seen: u64,
    history: bool,
}

impl Hub {
    /// Subscribes `conn` to `channels`, recovering or sending a snapshot as
    /// `opts` asks. `reply` builds the reply from every channel's position;
    /// it is queued before any publication of these channels.
    pub async fn subscribe(
        &self,
        conn: &Arc<Connection>,
        channels: &[String],
        opts: &SubscribeOptions,
        reply: impl FnOnce(&[JoinedChannel]) -> Bytes,
    ) -> Result<Vec<JoinedChannel>, StoreError> {
        let with_history: Vec<bool> = channels
            .iter()
            .map(|c| self.policy(c).retention().is_some())
            .collect();
        self.take_interest(conn, channels, &with_history);
        let planned = match self.prepare(conn, channels, opts).await {
            Ok(p) => p,
            Err(e) => {
                self.drop_interest(conn, channels, &with_history);
                return Err(e);
            }
        };
        Ok(self.finish(conn, channels, opts, planned, reply))
    }

    /// Step 1.
    fn take_interest(&self, conn: &Connection, channels: &[String], with_history: &[bool]) {
        for (c, history) in channels.iter().zip(with_history) {
            let mut shard = self.table.write(c);
            let entry = match shard.get_mut(c.as_str()) {
                Some(e) => e,
                None => {
                    self.metrics.channels.inc();
                    shard.entry(Arc::from(c.as_str())).or_default()
                }
            };
            entry.interest += 1;
            if *history {
                entry.joins.lock().start(conn.key);
                entry.joining.fetch_add(1, Ordering::AcqRel);
            }
        }
    }

    /// Undoes step 1 after a failure.
    fn drop_interest(&self, conn: &Connection, channels: &[String], with_history: &[bool]) {
        for (c, history) in channels.iter().zip(with_history) {
            let mut shard = self.table.write(c);
            if let Some(entry) = shard.get_mut(c.as_str()) {
                if *history {
                    entry.joins.lock().cancel(conn.key);
                    entry.joining.fetch_sub(1, Ordering::AcqRel);
                }
            }
            self.release_interest(&mut shard, c);
        }
    }

    /// Steps 2 and 3.
    async fn prepare(
        &self,
        conn: &Connection,
        channels: &[String],
        opts: &SubscribeOptions,
    ) -> Result<Vec<Planned>, StoreError> {
        for c in channels {
            self.broker.subscribe(c).await?;
        }
        let mut planned = Vec::with_capacity(channels.len());
        for c in channels {
            planned.push(self.plan_one(conn, c, opts).await?);
        }
        Ok(planned)
    }

    async fn plan_one(
        &self,
        conn: &Connection,
        channel: &str,
        opts: &SubscribeOptions,
    ) -> Result<Planned, StoreError> {
        let asked = opts.recover.get(channel);
        let Some(r) = self.policy(channel).retention() else {
            return Ok(Planned {
                joined: JoinedChannel {
                    channel: channel.to_string(),
                    position: None,
                    recovered: asked.map(|_| false),
                },
                replay: Vec::new(),
                frames: Vec::new(),
                seen: 0,
                history: false,
            });
        };
        let already = conn.outbound.is_subscribed(channel);
        let top = self.broker.top(channel, &r).await?;
        let (mut recovered, fetch) = recovery::plan(&top, asked, opts.snapshot, already);
        let (replay, frames, seen) = match fetch {
            Fetch::Nothing => (Vec::new(), Vec::new(), top.offset),
            Fetch::Latest => (
                self.broker.latest(channel, &r).await?.into_iter().collect(),
                Vec::new(),
                top.offset,
            ),
            Fetch::Since(o) => {
                // A replay that would not fit in the connection's queue
                // budget is not sent: the client is told it was not
                // recovered, instead of frames being dropped after a
                // `recovered: true`. Measured as the frames this connection
                // gets (the envelope, not only the data, counts).
                let room = conn.outbound.room_left();
                let rows = self.broker.read(channel, o, r.size, usize::MAX, &r).await?;
                let frames: Vec<Bytes> = rows.iter().map(|p| conn.format.publication(p)).collect();
                let bytes: usize = frames.iter().map(Bytes::len).sum();
                if bytes <= room && recovery::contiguous(o, top.offset, &rows) {
                    let last = rows.last().map_or(o, |p| p.offset);
                    (rows, frames, last)
                } else {
                    recovered = Some(false);
                    (Vec::new(), Vec::new(), top.offset)
                }
            }
        };
        Ok(Planned {
            joined: JoinedChannel {
                channel: channel.to_string(),
                position: Some((top.offset, top.epoch)),
                recovered,
            },
            replay: replay.into_iter().map(Arc::new).collect(),
            frames,
            seen,
            history: true,
        })
    }

    /// Step 4.
    fn finish(
        &self,
        conn: &Arc<Connection>,
        channels: &[String],
        opts: &SubscribeOptions,
        planned: Vec<Planned>,
        reply: impl FnOnce(&[JoinedChannel]) -> Bytes,
    ) -> Vec<JoinedChannel> {
        let mut guards: Vec<_> = self
            .table
            .shard_order(channels)
            .into_iter()
            .map(|i| (i, self.table.write_shard(i)))
            .collect();
        let joined: Vec<JoinedChannel> = planned.iter().map(|p| p.joined.clone()).collect();
        conn.outbound.push_control(reply(&joined));
        let filter = opts.filter.clone().map(Arc::new);
        for (c, plan) in channels.iter().zip(planned) {
            let index = self.table.shard_of(c);
            let Some((_, shard)) = guards.iter_mut().find(|(i, _)| *i == index) else {
                continue;
            };
            let buffered = match shard.get_mut(c.as_str()) {
                Some(entry) if plan.history => {
                    entry.joining.fetch_sub(1, Ordering::AcqRel);
                    entry.joins.lock().finish(conn.key)
                }
                _ => Ok(Vec::new()),
            };
            let buffered = match buffered {
                Ok(b) => b,
                Err(Poisoned) => {
                    self.release_interest(shard, c);
                    send_recovery_required(conn, c, "the node lost broker data while joining");
                    continue;
                }
            };
            let Some(key) = shard.get_key_value(c.as_str()).map(|(k, _)| k.clone()) else {
                continue;
            };
            let Some(entry) = shard.get_mut(c.as_str()) else {
                continue;
            };
            if !join(entry, conn, key, filter.clone()) {
                // Already subscribed: give back this join's interest.
                self.release_interest(shard, c);
                continue;
            }
            self.metrics.subscriptions.inc();
            crate::audit::subscription_started(&conn.id, c, plan.joined.recovered);
            let history = plan.history;
            // The replay stays the merge's prefix, so `plan.frames` lines
            // up with the first items.
            let items = recovery::merge(plan.replay, plan.seen, buffered);
            self.push_replay(conn, c, &filter, &items, &plan.frames);
            if history {
                // A delivery still in flight (Redis pub/sub) of an offset
                // the reply or the replay covered must not follow.
                let last = items.iter().map(|p| p.offset).max().unwrap_or(0);
                conn.outbound.set_floor(c, last.max(plan.seen));
            }
        }
        joined
    }

    /// Queues stored (or buffered) publications for a just-joined
    /// subscriber, applying its filter. Replayed frames may exceed the
    /// namespace's queue bounds once, by exactly their own count and bytes:
    /// the client asked for them and they are bounded by the history size
    /// (and the connection's budget, checked when the replay was planned).
    /// `frames` holds this connection's frames of the first items, already
    /// encoded; the rest are encoded here.
    fn push_replay(
        &self,
        conn: &Connection,
        channel: &str,
        filter: &Option<Arc<Filter>>,
        items: &[Arc<Publication>],
        frames: &[Bytes],
    ) {
        let queued: Vec<(u64, Bytes)> = items
            .iter()
            .enumerate()
            .filter(|(_, p)| {
                filter.as_ref().is_none_or(|f| {
                    let data = serde_json::from_slice(&p.data).ok();
                    filter_matches(f, &p.event, data.as_ref())
                })
            })
            .map(|(i, p)| {
                let frame = frames
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| conn.format.publication(p));
                (p.offset, frame)
            })
            .collect();
        if queued.is_empty() {
            return;
        }
        let mut relaxed = self.policy(channel).clone();
        relaxed.max_queue_messages += queued.len();
        relaxed.max_queue_bytes += queued.iter().map(|(_, f)| f.len()).sum::<usize>();
        let key: Arc<str> = Arc::from(channel);
        for (offset, frame) in &queued {
            conn.outbound
                .push_publication(&key, frame, *offset, Instant::now(), &relaxed);
        }
    }
}

/// Adds `conn` to the channel's subscribers; false if it already was.
fn join(
    entry: &mut super::channels::ChannelEntry,
    conn: &Arc<Connection>,
    key: Arc<str>,
    filter: Option<Arc<Filter>>,
) -> bool {
    if !conn.outbound.add_sub(key) {
        return false;
    }
    if filter.is_some() {
        entry.filtered += 1;
    }
    entry.subscribers.insert(Subscriber {
        conn: conn.clone(),
        filter,
    });
    true
}
