//! The channel table: which connections subscribe to which channel on this
//! node, and the fan-out of a publication to their queues.
//!
//! Channels live in shards (`RwLock<HashMap>`), so unrelated channels do
//! not contend. Fan-out holds its shard's read lock while it pushes one
//! shared frame per format into each subscriber's queue; it never touches
//! a socket. A channel entry exists while the channel has *interest* on
//! this node: subscribers, or joiners reading history. The broker is told
//! when interest starts (`subscribe`) and ends (`unsubscribe`), the end
//! under the shard's write lock so the two are never reordered.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use hashbrown::hash_table::Entry;
use hashbrown::HashTable;
use parking_lot::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use serde_json::Value;
use wavecast_protocol::Publication;

use crate::broker::{Claimed, Delivered};
use crate::config::NamespaceConfig;
use crate::conn::format::FrameCache;
use crate::conn::outbound::{Flushed, Published};
use crate::conn::Connection;
use crate::metrics::LatencyHistogram;
use crate::recovery::JoinBuffers;

const SHARDS: usize = 64;

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

/// One subscriber of a channel.
pub struct Subscriber {
    pub conn: Arc<Connection>,
    pub filter: Option<Arc<Filter>>,
}

/// A channel's subscribers, found by their connection's key. An entry is
/// the subscriber itself (16 bytes): the key is read from its connection.
#[derive(Default)]
pub struct Subscribers(HashTable<Subscriber>);

/// Connection keys are handed out in sequence: the multiplication spreads
/// them over the table's low bits (buckets) and high bits (tags).
fn hash_key(key: u64) -> u64 {
    key.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl Subscribers {
    /// Adds `sub`, replacing a subscriber of the same connection.
    pub fn insert(&mut self, sub: Subscriber) {
        let key = sub.conn.key;
        match self.0.entry(
            hash_key(key),
            |s| s.conn.key == key,
            |s| hash_key(s.conn.key),
        ) {
            Entry::Occupied(mut o) => *o.get_mut() = sub,
            Entry::Vacant(v) => {
                v.insert(sub);
            }
        }
    }

    /// Removes the subscriber of connection `key`.
    pub fn remove(&mut self, key: u64) -> Option<Subscriber> {
        let e = self
            .0
            .find_entry(hash_key(key), |s| s.conn.key == key)
            .ok()?;
        Some(e.remove().0)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Subscriber> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One channel's state on this node.
#[derive(Default)]
pub struct ChannelEntry {
    pub subscribers: Subscribers,
    /// Subscribers with a filter.
    pub filtered: usize,
    /// Subscribers plus joiners: the broker delivers here while > 0.
    pub interest: usize,
    /// The last offset delivered here (0: none yet).
    pub last: AtomicU64,
    /// Joiners whose live publications are being buffered.
    pub joining: AtomicUsize,
    pub joins: Mutex<JoinBuffers>,
}

pub type Shard = HashMap<Arc<str>, ChannelEntry>;

/// Channels → entries, sharded.
pub struct ChannelTable {
    shards: Box<[RwLock<Shard>]>,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for ChannelTable {
    fn default() -> Self {
        ChannelTable {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            hasher: Default::default(),
        }
    }
}

/// What a delivery found.
pub enum DeliverOutcome {
    /// Delivered, with the connections whose writers were not woken (the
    /// caller writes them: [`flush_claimed`]).
    Delivered(Delivered, Claimed),
    /// The offset was delivered here before.
    Duplicate,
    /// Offsets were skipped: the subscribers may have missed some.
    Gap,
}

impl ChannelTable {
    fn index(&self, channel: &str) -> usize {
        (self.hasher.hash_one(channel) as usize) % SHARDS
    }

    pub fn read(&self, channel: &str) -> RwLockReadGuard<'_, Shard> {
        self.shards[self.index(channel)].read()
    }

    pub fn write(&self, channel: &str) -> RwLockWriteGuard<'_, Shard> {
        self.shards[self.index(channel)].write()
    }

    /// Shard indexes of `channels`, sorted and deduplicated (the order in
    /// which several shards are locked).
    pub fn shard_order(&self, channels: &[String]) -> Vec<usize> {
        let mut idx: Vec<usize> = channels.iter().map(|c| self.index(c)).collect();
        idx.sort_unstable();
        idx.dedup();
        idx
    }

    pub fn write_shard(&self, index: usize) -> RwLockWriteGuard<'_, Shard> {
        self.shards[index].write()
    }

    pub fn shard_of(&self, channel: &str) -> usize {
        self.index(channel)
    }

    /// Channels with their local subscriber counts, sorted by name.
    pub fn counts(&self) -> Vec<(String, usize)> {
        let mut out: Vec<(String, usize)> = self
            .shards
            .iter()
            .flat_map(|s| {
                s.read()
                    .iter()
                    .filter(|(_, v)| !v.subscribers.is_empty())
                    .map(|(k, v)| (k.to_string(), v.subscribers.len()))
                    .collect::<Vec<_>>()
            })
            .collect();
        out.sort();
        out
    }

    /// Delivers `p` to this node's subscribers of its channel; with
    /// `direct`, idle subscribers are not woken but returned, for the
    /// caller to write once it holds no lock (see
    /// [`crate::conn::outbound`]).
    pub fn deliver(
        &self,
        p: &Arc<Publication>,
        policy: &NamespaceConfig,
        direct: bool,
    ) -> DeliverOutcome {
        let shard = self.read(&p.channel);
        let Some((key, entry)) = shard.get_key_value(p.channel.as_str()) else {
            return DeliverOutcome::Delivered(Delivered::default(), Claimed::default());
        };
        if p.offset > 0 {
            let prev = entry.last.fetch_max(p.offset, Ordering::AcqRel);
            if p.offset <= prev {
                return DeliverOutcome::Duplicate;
            }
            if prev > 0 && p.offset > prev + 1 {
                return DeliverOutcome::Gap;
            }
        }
        if entry.joining.load(Ordering::Acquire) > 0 {
            entry.joins.lock().push(p);
        }
        let mut claimed = Vec::new();
        let claims = direct.then_some(&mut claimed);
        let delivered = fan_out(key, entry, p, policy, claims);
        DeliverOutcome::Delivered(delivered, Claimed(claimed))
    }
}

/// Writes the queues a delivery claimed (see
/// [`crate::conn::outbound::Outbound::push_or_claim`]); call it with no
/// lock held. Each connection's deliveries are observed in `latency`.
pub fn flush_claimed(mut claimed: Claimed, latency: &LatencyHistogram) -> Flushed {
    let mut all = Flushed::default();
    for conn in claimed.take() {
        let f = conn
            .outbound
            .flush_direct(|ch, n| conn.format.dropped(ch, n));
        conn.socket_writes.fetch_add(f.writes, Ordering::Relaxed);
        conn.packets_sent.fetch_add(f.frames, Ordering::Relaxed);
        if let Some(oldest) = f.oldest {
            latency.observe_n(oldest.elapsed(), f.deliveries);
        }
        all.add(&f);
    }
    all
}

/// Pushes one frame per format into each subscriber's queue. With
/// `claims`, the connections whose writers were idle are not woken but
/// listed there, for the caller to write.
fn fan_out(
    key: &Arc<str>,
    entry: &ChannelEntry,
    p: &Publication,
    policy: &NamespaceConfig,
    mut claims: Option<&mut Vec<Arc<Connection>>>,
) -> Delivered {
    let published = Published {
        offset: p.offset,
        at: Instant::now(),
    };
    let mut frames = FrameCache::new(p);
    let parsed: Option<Option<Value>> =
        (entry.filtered > 0).then(|| serde_json::from_slice(&p.data).ok());
    let mut out = Delivered::default();
    for sub in entry.subscribers.iter() {
        if let (Some(f), Some(data)) = (&sub.filter, &parsed) {
            if !filter_matches(f, &p.event, data.as_ref()) {
                continue;
            }
        }
        let frame = frames.get(sub.conn.format);
        let queue = &sub.conn.outbound;
        let pushed = match claims.as_deref_mut() {
            Some(claims) => {
                let pushed = queue.push_or_claim(key, frame, published, policy);
                if pushed.claimed {
                    claims.push(sub.conn.clone());
                }
                pushed
            }
            None => queue.push_publication(key, frame, published.offset, published.at, policy),
        };
        if pushed.queued {
            out.delivered += 1;
        }
        out.dropped += pushed.dropped;
    }
    out.encoded = frames.built();
    out
}
