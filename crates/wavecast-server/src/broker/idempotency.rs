//! Idempotency keys for publishes: a publish retried with the key of one
//! that already happened returns the first outcome instead of publishing
//! again, so a publisher whose request timed out can retry safely.
//!
//! Keys are remembered for [`KEEP`] and at most [`MAX_KEYS`] at a time
//! (the oldest are forgotten first). Callers check and record under the
//! channel's lock, so two retries of one key cannot both publish.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::api::Published;

/// How long a key is remembered.
pub const KEEP: Duration = Duration::from_secs(600);
/// Keys remembered at most.
pub const MAX_KEYS: usize = 100_000;

#[derive(Default)]
struct Inner {
    outcomes: HashMap<String, (Published, Instant)>,
    order: VecDeque<(String, Instant)>,
}

/// Recent publish outcomes by idempotency key.
#[derive(Default)]
pub struct IdempotencyCache {
    inner: Mutex<Inner>,
}

impl IdempotencyCache {
    /// The outcome recorded for `key` (scoped by channel), if still known.
    pub fn get(&self, channel: &str, key: &str, now: Instant) -> Option<Published> {
        let mut inner = self.inner.lock();
        inner.expire(now);
        inner
            .outcomes
            .get(&scoped(channel, key))
            .map(|(p, _)| Published {
                duplicate: true,
                ..*p
            })
    }

    /// Records the outcome of a publish made with `key`.
    pub fn put(&self, channel: &str, key: &str, outcome: Published, now: Instant) {
        let mut inner = self.inner.lock();
        inner.expire(now);
        while inner.order.len() >= MAX_KEYS {
            if let Some((k, _)) = inner.order.pop_front() {
                inner.outcomes.remove(&k);
            }
        }
        let k = scoped(channel, key);
        inner.order.push_back((k.clone(), now));
        inner.outcomes.insert(k, (outcome, now));
    }
}

impl Inner {
    fn expire(&mut self, now: Instant) {
        while let Some((k, t)) = self.order.front() {
            if now.saturating_duration_since(*t) < KEEP {
                break;
            }
            self.outcomes.remove(k);
            self.order.pop_front();
        }
    }
}

fn scoped(channel: &str, key: &str) -> String {
    format!("{channel}\u{0}{key}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_then_forgets() {
        let c = IdempotencyCache::default();
        let t0 = Instant::now();
        assert_eq!(c.get("ch", "k", t0), None);
        let first = Published {
            offset: Some(7),
            ..Published::default()
        };
        c.put("ch", "k", first, t0);
        let again = c.get("ch", "k", t0).unwrap();
        assert_eq!((again.offset, again.duplicate), (Some(7), true));
        assert_eq!(c.get("other", "k", t0), None, "keys are per channel");
        assert_eq!(c.get("ch", "k", t0 + KEEP), None);
    }
}
