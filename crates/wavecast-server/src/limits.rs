//! Admission and rate limits: connections per process, new connections
//! per IP and per user per minute, and each connection's message rate.
//! Every limit has a knob in `[limits]`, a `limit_rejections_total{limit}`
//! counter and a documented error or close code (docs/security.md).

use std::hash::{BuildHasher, Hash, RandomState};
use std::marker::PhantomData;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use hashbrown::hash_table::Entry;
use hashbrown::HashTable;
use parking_lot::Mutex;

use crate::config::LimitsConfig;
use crate::moment::Moment;

/// Keys kept before idle buckets are pruned.
const PRUNE_AT: usize = 10_000;

/// A rate as GCRA, the token bucket's equivalent kept as one instant per
/// bucket: `burst` events at once, then one every `interval_us`. A bucket
/// is the instant it would be full again, in [`Moment::micros`]; 0 is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    interval_us: u64,
    /// How far ahead of now a bucket may be full again and still admit.
    tolerance_us: u64,
}

impl Gcra {
    /// `per_minute` events a minute with bursts of `burst`.
    pub fn per_minute(per_minute: u64, burst: u64) -> Gcra {
        let interval_us = 60_000_000 / per_minute.max(1);
        Gcra {
            interval_us,
            tolerance_us: interval_us.saturating_mul(burst.max(1) - 1),
        }
    }

    /// Counts one event at `now_us` against `bucket`; false (and nothing
    /// counted) if it is over the rate.
    pub fn admit(&self, bucket: &mut u64, now_us: u64) -> bool {
        let full_at = (*bucket).max(now_us);
        if full_at > now_us.saturating_add(self.tolerance_us) {
            return false;
        }
        *bucket = full_at.saturating_add(self.interval_us);
        true
    }
}

/// Events per key per minute (e.g. new connections per IP): a burst of
/// `per_minute`, then one every `60 s / per_minute`.
///
/// Kept as GCRA (the token bucket's equivalent with one timestamp per
/// key): each key holds the instant its bucket would be full again, and a
/// key whose instant has passed is the same as no key, so those are
/// pruned. A key is stored as its 64-bit hash under a per-process random
/// seed: an entry is 16 bytes, and no key text is copied. Two keys whose
/// hashes collide (about 2^-64 per pair) would share one budget.
pub struct KeyedRate<K> {
    per_minute: u32,
    rate: Gcra,
    hasher: RandomState,
    table: Mutex<RateTable>,
    _key: PhantomData<fn(&K)>,
}

/// Keys and the instants ([`Moment::micros`]) their buckets are full again.
struct RateTable {
    full_at: HashTable<(u64, u64)>,
    /// Prune when this many keys are held.
    prune_at: usize,
}

impl<K: Hash> KeyedRate<K> {
    pub fn new(per_minute: u32) -> KeyedRate<K> {
        // Instants from now on are after the clock epoch.
        crate::moment::init();
        KeyedRate {
            per_minute,
            rate: Gcra::per_minute(u64::from(per_minute), u64::from(per_minute)),
            hasher: RandomState::new(),
            table: Mutex::new(RateTable {
                full_at: HashTable::new(),
                prune_at: PRUNE_AT,
            }),
            _key: PhantomData,
        }
    }

    /// Counts one event for `key`; false if it is over the rate.
    pub fn allow(&self, key: &K, now: Instant) -> bool {
        if self.per_minute == 0 {
            return true;
        }
        let now_us = Moment::from(now).micros();
        let h = self.hasher.hash_one(key);
        let mut t = self.table.lock();
        // Prune before the table would grow, and every `prune_at` keys.
        let full = t.full_at.len() == t.full_at.capacity();
        if full || t.full_at.len() >= t.prune_at {
            t.full_at.retain(|e| e.1 > now_us);
            let (len, cap) = (t.full_at.len(), t.full_at.capacity());
            if len < cap / 4 {
                t.full_at.shrink_to(len * 2, |e| e.0);
            } else if len > cap - cap / 8 {
                // Pruning freed little: grow now, not at every next key.
                t.full_at.reserve(len, |e| e.0);
            }
            t.prune_at = PRUNE_AT.max(2 * len);
        }
        match t.full_at.entry(h, |e| e.0 == h, |e| e.0) {
            Entry::Occupied(mut o) => self.rate.admit(&mut o.get_mut().1, now_us),
            Entry::Vacant(v) => {
                let mut bucket = 0;
                let admitted = self.rate.admit(&mut bucket, now_us);
                v.insert((h, bucket));
                admitted
            }
        }
    }

    /// Keys held (for tests).
    #[cfg(test)]
    fn held(&self) -> usize {
        self.table.lock().full_at.len()
    }

    /// Keys the table holds without growing (for tests).
    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.table.lock().full_at.capacity()
    }
}

/// The process-wide limits.
pub struct Limits {
    pub cfg: LimitsConfig,
    pub per_ip: KeyedRate<IpAddr>,
    pub per_user: KeyedRate<String>,
    open: Arc<AtomicUsize>,
    pub max_connections: usize,
    /// Each connection's message rate (`None`: unlimited).
    message_rate: Option<Gcra>,
}

/// One admitted connection; frees its slot when dropped.
pub struct ConnectionSlot(Arc<AtomicUsize>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Limits {
    pub fn new(cfg: &LimitsConfig) -> Limits {
        let max_connections = if cfg.max_connections == 0 {
            default_max_connections()
        } else {
            cfg.max_connections
        };
        Limits {
            per_ip: KeyedRate::new(cfg.connection_rate_per_ip),
            per_user: KeyedRate::new(cfg.connection_rate_per_user),
            open: Arc::new(AtomicUsize::new(0)),
            max_connections,
            message_rate: message_rate(cfg),
            cfg: cfg.clone(),
        }
    }

    /// Takes a connection slot, or `None` at `max_connections`.
    pub fn try_admit(&self) -> Option<ConnectionSlot> {
        let mut cur = self.open.load(Ordering::Acquire);
        loop {
            if cur >= self.max_connections {
                return None;
            }
            match self
                .open
                .compare_exchange(cur, cur + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Some(ConnectionSlot(self.open.clone())),
                Err(now) => cur = now,
            }
        }
    }

    /// Whether a new connection from `ip` is within the per-IP rate.
    pub fn allow_ip(&self, ip: IpAddr, now: Instant) -> bool {
        let ip = ip.to_canonical();
        (self.cfg.exempt_loopback && ip.is_loopback()) || self.per_ip.allow(&ip, now)
    }

    /// Counts one message at `now` against a connection's `bucket`
    /// (initially 0); false if it is over `limits.messages_per_minute`.
    pub fn admit_message(&self, bucket: &mut u64, now: Moment) -> bool {
        self.message_rate
            .is_none_or(|r| r.admit(bucket, now.micros()))
    }
}

/// Each connection's message rate: `messages_per_minute` with bursts of
/// `message_burst` (at least a second's worth).
fn message_rate(cfg: &LimitsConfig) -> Option<Gcra> {
    let per_minute = cfg.messages_per_minute();
    (per_minute > 0).then(|| {
        let burst = u64::from(cfg.message_burst).max(per_minute.div_ceil(60));
        Gcra::per_minute(per_minute, burst)
    })
}

/// The soft open-file limit less a reserve for listeners, logs and stores,
/// read from /proc (Linux); 10,000 where that cannot be read.
pub fn default_max_connections() -> usize {
    let soft = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse::<usize>().ok())
        })
        .unwrap_or(10_240);
    soft.saturating_sub(256).max(64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_refills() {
        // Two at once, then one a second.
        let r = Gcra::per_minute(60, 2);
        let mut b = 0;
        let s = 1_000_000;
        assert!(r.admit(&mut b, 5 * s) && r.admit(&mut b, 5 * s));
        assert!(!r.admit(&mut b, 5 * s));
        assert!(!r.admit(&mut b, 6 * s - 1));
        assert!(r.admit(&mut b, 6 * s + s / 10));
        assert!(!r.admit(&mut b, 6 * s + s / 10));
        // Idle long enough, the burst is back.
        assert!(r.admit(&mut b, 60 * s) && r.admit(&mut b, 60 * s));
        assert!(!r.admit(&mut b, 60 * s));
    }

    #[test]
    fn keyed_rate() {
        let r = KeyedRate::new(3);
        let t0 = Instant::now();
        assert!((0..3).all(|_| r.allow(&"a", t0)));
        assert!(!r.allow(&"a", t0));
        assert!(r.allow(&"b", t0));
        assert!(r.allow(&"a", t0 + Duration::from_secs(20)));
        assert!(!r.allow(&"a", t0 + Duration::from_secs(20)));
        assert!(r.allow(&"a", t0 + Duration::from_secs(40)));
        // A steady event every interval is never refused.
        let at = |s: u64| t0 + Duration::from_secs(100 + s);
        assert!((0..10).all(|i| r.allow(&"c", at(20 * i))));
    }

    #[test]
    fn keyed_rate_prunes_full_buckets_before_growing() {
        let r = KeyedRate::new(60);
        let t0 = Instant::now();
        assert!((0..1000).all(|i| r.allow(&i, t0)));
        assert_eq!(r.held(), 1000);
        let cap = r.capacity();
        // One second on, those buckets are full again (as good as gone):
        // the keys that fill the table prune them instead of growing it.
        let later = t0 + Duration::from_secs(1);
        assert!((1000..=cap).all(|i| r.allow(&i, later)));
        assert_eq!(r.held(), cap + 1 - 1000);
        assert!(r.capacity() <= cap);
        // Pruned keys start afresh: a full burst again.
        assert!((0..60).all(|_| r.allow(&0, later)));
        assert!(!r.allow(&0, later));
    }

    #[test]
    fn slots() {
        let l = Limits::new(&LimitsConfig {
            max_connections: 2,
            ..LimitsConfig::default()
        });
        let a = l.try_admit();
        let b = l.try_admit();
        assert!(a.is_some() && b.is_some());
        assert!(l.try_admit().is_none());
        drop(a);
        assert!(l.try_admit().is_some());
        assert!(default_max_connections() >= 64);
    }
}
