//! The memory engine: per-channel logs in process memory. Lost on
//! restart; a restarted server gives each channel a new epoch, so clients
//! learn that recovery is impossible.

use std::collections::{HashMap, VecDeque};

use parking_lot::Mutex;

use super::{new_epoch, Engine, EngineError, Retention, StoredPublication, StreamTop};

struct Log {
    epoch: String,
    last: u64,
    entries: VecDeque<StoredPublication>,
}

impl Log {
    fn new() -> Log {
        Log {
            epoch: new_epoch(),
            last: 0,
            entries: VecDeque::new(),
        }
    }

    fn trim(&mut self, r: &Retention, now_ms: u64) {
        while self.entries.len() > r.size {
            self.entries.pop_front();
        }
        while self
            .entries
            .front()
            .is_some_and(|e| !r.keeps(e.ts_ms, now_ms))
        {
            self.entries.pop_front();
        }
    }
}

const STRIPES: usize = 64;

/// In-memory history.
pub struct MemoryEngine {
    stripes: Vec<Mutex<HashMap<String, Log>>>,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for MemoryEngine {
    fn default() -> Self {
        MemoryEngine {
            stripes: (0..STRIPES).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: Default::default(),
        }
    }
}

impl MemoryEngine {
    fn with_log<T>(&self, channel: &str, f: impl FnOnce(&mut Log) -> T) -> T {
        use std::hash::BuildHasher;
        let stripe = &self.stripes[(self.hasher.hash_one(channel) as usize) % STRIPES];
        let mut map = stripe.lock();
        if !map.contains_key(channel) {
            map.insert(channel.to_string(), Log::new());
        }
        match map.get_mut(channel) {
            Some(log) => f(log),
            None => f(&mut Log::new()),
        }
    }
}

impl Engine for MemoryEngine {
    fn append(
        &self,
        channel: &str,
        event: &str,
        data: &str,
        ts_ms: u64,
        retention: &Retention,
    ) -> Result<u64, EngineError> {
        Ok(self.with_log(channel, |log| {
            log.last += 1;
            log.entries.push_back(StoredPublication {
                offset: log.last,
                event: event.to_string(),
                data: data.to_string(),
                ts_ms,
            });
            log.trim(retention, ts_ms);
            log.last
        }))
    }

    fn top(
        &self,
        channel: &str,
        retention: &Retention,
        now_ms: u64,
    ) -> Result<StreamTop, EngineError> {
        Ok(self.with_log(channel, |log| {
            log.trim(retention, now_ms);
            StreamTop {
                offset: log.last,
                epoch: log.epoch.clone(),
                earliest: log.entries.front().map_or(log.last + 1, |e| e.offset),
            }
        }))
    }

    fn read(
        &self,
        channel: &str,
        since: u64,
        limit: usize,
        retention: &Retention,
        now_ms: u64,
    ) -> Result<Vec<StoredPublication>, EngineError> {
        Ok(self.with_log(channel, |log| {
            log.trim(retention, now_ms);
            log.entries
                .iter()
                .filter(|e| e.offset > since)
                .take(limit)
                .cloned()
                .collect()
        }))
    }

    fn latest(
        &self,
        channel: &str,
        retention: &Retention,
        now_ms: u64,
    ) -> Result<Option<StoredPublication>, EngineError> {
        Ok(self.with_log(channel, |log| {
            log.trim(retention, now_ms);
            log.entries.back().cloned()
        }))
    }

    fn name(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn offsets_retention_and_ttl() {
        let e = MemoryEngine::default();
        let r = Retention {
            size: 3,
            ttl: Duration::from_secs(10),
        };
        for i in 1..=5u64 {
            assert_eq!(e.append("c", "p", &i.to_string(), 1000 * i, &r).unwrap(), i);
        }
        let top = e.top("c", &r, 5000).unwrap();
        assert_eq!((top.offset, top.earliest), (5, 3));
        let got: Vec<u64> = e
            .read("c", 3, 10, &r, 5000)
            .unwrap()
            .iter()
            .map(|p| p.offset)
            .collect();
        assert_eq!(got, [4, 5]);
        // Everything expires; offsets go on.
        let top = e.top("c", &r, 60_000).unwrap();
        assert_eq!((top.offset, top.earliest), (5, 6));
        assert_eq!(e.append("c", "p", "6", 60_000, &r).unwrap(), 6);
        assert_ne!(e.top("other", &r, 0).unwrap().epoch, top.epoch);
    }
}
