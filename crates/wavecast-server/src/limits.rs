//! Admission and rate limits: connections per process, new connections
//! per IP and per user per minute, and each connection's message rate.
//! Every limit has a knob in `[limits]`, a `limit_rejections_total{limit}`
//! counter and a documented error or close code (docs/security.md).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use crate::config::LimitsConfig;

/// Keys kept before idle buckets are pruned.
const PRUNE_AT: usize = 10_000;

/// A token bucket: `capacity` tokens, refilled at `per_sec`.
#[derive(Debug, Clone, Copy)]
pub struct TokenBucket {
    tokens: f64,
    last: Instant,
    capacity: f64,
    per_sec: f64,
}

impl TokenBucket {
    pub fn new(capacity: u32, per_sec: f64, now: Instant) -> TokenBucket {
        TokenBucket {
            tokens: capacity as f64,
            last: now,
            capacity: capacity as f64,
            per_sec,
        }
    }

    /// Takes one token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.per_sec).min(self.capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn full_at(&self, now: Instant) -> bool {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens + dt * self.per_sec >= self.capacity
    }
}

/// Events per key per minute (e.g. new connections per IP).
pub struct KeyedRate<K> {
    per_minute: u32,
    buckets: Mutex<HashMap<K, TokenBucket>>,
}

impl<K: Hash + Eq + Clone> KeyedRate<K> {
    pub fn new(per_minute: u32) -> KeyedRate<K> {
        KeyedRate {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one event for `key`; false if it is over the rate.
    pub fn allow(&self, key: &K, now: Instant) -> bool {
        if self.per_minute == 0 {
            return true;
        }
        let mut b = self.buckets.lock();
        if b.len() >= PRUNE_AT {
            b.retain(|_, bucket| !bucket.full_at(now));
        }
        let per_minute = self.per_minute;
        b.entry(key.clone())
            .or_insert_with(|| TokenBucket::new(per_minute, per_minute as f64 / 60.0, now))
            .take(now)
    }
}

/// The process-wide limits.
pub struct Limits {
    pub cfg: LimitsConfig,
    pub per_ip: KeyedRate<IpAddr>,
    pub per_user: KeyedRate<String>,
    open: Arc<AtomicUsize>,
    pub max_connections: usize,
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

    /// A fresh message-rate bucket for one connection, if limited.
    pub fn message_bucket(&self, now: Instant) -> Option<TokenBucket> {
        let per_minute = self.cfg.messages_per_minute();
        (per_minute > 0).then(|| {
            let burst = u64::from(self.cfg.message_burst).max(per_minute.div_ceil(60));
            TokenBucket::new(
                u32::try_from(burst).unwrap_or(u32::MAX),
                per_minute as f64 / 60.0,
                now,
            )
        })
    }
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
        let t0 = Instant::now();
        let mut b = TokenBucket::new(2, 1.0, t0);
        assert!(b.take(t0) && b.take(t0));
        assert!(!b.take(t0));
        assert!(b.take(t0 + Duration::from_millis(1100)));
    }

    #[test]
    fn keyed_rate() {
        let r = KeyedRate::new(3);
        let t0 = Instant::now();
        assert!((0..3).all(|_| r.allow(&"a", t0)));
        assert!(!r.allow(&"a", t0));
        assert!(r.allow(&"b", t0));
        assert!(r.allow(&"a", t0 + Duration::from_secs(20)));
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
