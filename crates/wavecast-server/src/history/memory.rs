//! The memory store: per-channel logs in process memory. Lost on restart;
//! a restarted server has a new random instance, so every channel's epoch
//! changes and clients learn that recovery is impossible.
//!
//! A log lives while its channel has local subscribers or retained
//! publications; at most `max_channels` logs exist (the least recently
//! used idle log is evicted first, with its history).

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;
use wavecast_protocol::Publication;

use super::epochs::Epochs;
use super::{Append, HistoryStore, Retention, StoreError, StreamTop};

struct Entry {
    offset: u64,
    event: Box<str>,
    data: Bytes,
    ts_ms: u64,
}

struct Log {
    base: u64,
    last: u64,
    entries: VecDeque<Entry>,
    /// No local subscribers: the log may go once it retains nothing.
    idle: bool,
    /// Logical time of last use, for eviction.
    touched: u64,
}

impl Log {
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
        if self.entries.is_empty() && self.entries.capacity() > 0 {
            self.entries = VecDeque::new();
        }
    }

    fn publication(channel: &str, e: &Entry) -> Publication {
        Publication {
            channel: channel.to_string(),
            event: e.event.to_string(),
            data: e.data.clone(),
            offset: e.offset,
            ts_ms: e.ts_ms,
        }
    }
}

const STRIPES: usize = 64;

/// In-memory history.
pub struct MemoryStore {
    stripes: Vec<Mutex<HashMap<Box<str>, Log>>>,
    hasher: std::collections::hash_map::RandomState,
    epochs: Epochs,
    logs: AtomicUsize,
    max_channels: usize,
    clock: AtomicU64,
}

impl MemoryStore {
    /// A store holding at most `max_channels` logs.
    pub fn new(max_channels: usize) -> MemoryStore {
        MemoryStore {
            stripes: (0..STRIPES).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: Default::default(),
            epochs: Epochs::new(fastrand::u64(..), 0, 0),
            logs: AtomicUsize::new(0),
            max_channels: max_channels.max(1),
            clock: AtomicU64::new(0),
        }
    }

    fn stripe(&self, channel: &str) -> &Mutex<HashMap<Box<str>, Log>> {
        &self.stripes[(self.hasher.hash_one(channel) as usize) % STRIPES]
    }

    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::Relaxed)
    }

    /// Runs `f` on the channel's log, creating it (idle) if `create`.
    fn with_log<T>(
        &self,
        channel: &str,
        create: bool,
        f: impl FnOnce(&mut Log) -> T,
    ) -> Result<Option<T>, StoreError> {
        let touched = self.tick();
        {
            let mut map = self.stripe(channel).lock();
            if let Some(log) = map.get_mut(channel) {
                log.touched = touched;
                return Ok(Some(f(log)));
            }
        }
        if !create {
            return Ok(None);
        }
        if self.logs.load(Ordering::Acquire) >= self.max_channels && !self.evict_one() {
            return Err(StoreError::Full(self.max_channels));
        }
        let mut map = self.stripe(channel).lock();
        let log = map.entry(channel.into()).or_insert_with(|| {
            self.logs.fetch_add(1, Ordering::AcqRel);
            Log {
                base: self.epochs.new_base(channel),
                last: 0,
                entries: VecDeque::new(),
                idle: true,
                touched,
            }
        });
        Ok(Some(f(log)))
    }

    /// Evicts the least recently used idle log; false if there is none.
    fn evict_one(&self) -> bool {
        let mut oldest: Option<(u64, usize, Box<str>)> = None;
        for (i, stripe) in self.stripes.iter().enumerate() {
            for (name, log) in stripe.lock().iter() {
                if log.idle && oldest.as_ref().is_none_or(|(t, _, _)| log.touched < *t) {
                    oldest = Some((log.touched, i, name.clone()));
                }
            }
        }
        let Some((_, i, name)) = oldest else {
            return false;
        };
        if let Some(log) = self.stripes[i].lock().remove(&name) {
            self.logs.fetch_sub(1, Ordering::AcqRel);
            self.epochs.dropped(log.last > 0);
        }
        true
    }

    fn empty_top(&self, channel: &str) -> StreamTop {
        StreamTop {
            offset: 0,
            epoch: self.epochs.epoch(self.epochs.new_base(channel)),
            earliest: 1,
        }
    }
}

impl HistoryStore for MemoryStore {
    fn append(&self, p: Append<'_>, retention: &Retention) -> Result<(u64, u64), StoreError> {
        let offset = self.with_log(p.channel, true, |log| {
            log.last += 1;
            log.entries.push_back(Entry {
                offset: log.last,
                event: p.event.into(),
                data: Bytes::copy_from_slice(p.data),
                ts_ms: p.ts_ms,
            });
            log.trim(retention, p.ts_ms);
            log.last
        })?;
        Ok((offset.unwrap_or(0), 0))
    }

    fn top(
        &self,
        channel: &str,
        retention: &Retention,
        now_ms: u64,
    ) -> Result<StreamTop, StoreError> {
        let top = self.with_log(channel, false, |log| {
            log.trim(retention, now_ms);
            StreamTop {
                offset: log.last,
                epoch: self.epochs.epoch(log.base),
                earliest: log.entries.front().map_or(log.last + 1, |e| e.offset),
            }
        })?;
        Ok(top.unwrap_or_else(|| self.empty_top(channel)))
    }

    fn read(
        &self,
        channel: &str,
        since: u64,
        limit: usize,
        max_bytes: usize,
        retention: &Retention,
        now_ms: u64,
    ) -> Result<Vec<Publication>, StoreError> {
        let rows = self.with_log(channel, false, |log| {
            log.trim(retention, now_ms);
            let mut bytes = 0;
            log.entries
                .iter()
                .filter(|e| e.offset > since)
                .take(limit)
                .take_while(|e| {
                    let first = bytes == 0;
                    bytes += e.data.len() + 1;
                    first || bytes <= max_bytes
                })
                .map(|e| Log::publication(channel, e))
                .collect()
        })?;
        Ok(rows.unwrap_or_default())
    }

    fn latest(
        &self,
        channel: &str,
        retention: &Retention,
        now_ms: u64,
    ) -> Result<Option<Publication>, StoreError> {
        let row = self.with_log(channel, false, |log| {
            log.trim(retention, now_ms);
            log.entries.back().map(|e| Log::publication(channel, e))
        })?;
        Ok(row.flatten())
    }

    fn retain(&self, channel: &str) {
        // A log for a subscribed channel must exist, so its epoch stays the
        // one the subscriber was told. Over budget, the subscriber is told
        // the epoch of a log that does not exist yet, which is the same.
        let _ = self.with_log(channel, true, |log| log.idle = false);
    }

    fn release(&self, channel: &str, retention: Option<&Retention>, now_ms: u64) {
        let mut map = self.stripe(channel).lock();
        let Some(log) = map.get_mut(channel) else {
            return;
        };
        log.idle = true;
        if let Some(r) = retention {
            log.trim(r, now_ms);
        }
        if log.entries.is_empty() {
            let had = log.last > 0;
            map.remove(channel);
            self.logs.fetch_sub(1, Ordering::AcqRel);
            self.epochs.dropped(had);
        }
    }

    fn sweep(&self, retention_of: &dyn Fn(&str) -> Option<Retention>, now_ms: u64) -> usize {
        let mut gone = 0;
        for stripe in &self.stripes {
            let mut map = stripe.lock();
            map.retain(|name, log| {
                if !log.idle {
                    return true;
                }
                if let Some(r) = retention_of(name) {
                    log.trim(&r, now_ms);
                } else {
                    log.entries.clear();
                }
                let keep = !log.entries.is_empty();
                if !keep {
                    self.epochs.dropped(log.last > 0);
                    gone += 1;
                }
                keep
            });
        }
        self.logs.fetch_sub(gone, Ordering::AcqRel);
        gone
    }

    fn channels(&self) -> usize {
        self.logs.load(Ordering::Acquire)
    }

    fn synced(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }

    fn may_block(&self) -> bool {
        false
    }

    fn name(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn append(s: &MemoryStore, ch: &str, data: &str, ts: u64, r: &Retention) -> u64 {
        let p = Append {
            channel: ch,
            event: "p",
            data: data.as_bytes(),
            ts_ms: ts,
            idempotency_key: None,
        };
        s.append(p, r).unwrap().0
    }

    #[test]
    fn offsets_retention_and_ttl() {
        let e = MemoryStore::new(100);
        let r = Retention {
            size: 3,
            ttl: Duration::from_secs(10),
        };
        e.retain("c");
        for i in 1..=5u64 {
            assert_eq!(append(&e, "c", &i.to_string(), 1000 * i, &r), i);
        }
        let top = e.top("c", &r, 5000).unwrap();
        assert_eq!((top.offset, top.earliest), (5, 3));
        let got: Vec<u64> = e
            .read("c", 3, 10, usize::MAX, &r, 5000)
            .unwrap()
            .iter()
            .map(|p| p.offset)
            .collect();
        assert_eq!(got, [4, 5]);
        // Everything expires; offsets go on while the channel is subscribed.
        let top = e.top("c", &r, 60_000).unwrap();
        assert_eq!((top.offset, top.earliest), (5, 6));
        assert_eq!(append(&e, "c", "6", 60_000, &r), 6);
    }

    #[test]
    fn unsubscribed_empty_channels_leave_no_state() {
        let e = MemoryStore::new(100);
        let r = Retention {
            size: 10,
            ttl: Duration::from_secs(10),
        };
        for i in 0..1000 {
            let ch = format!("c{i}");
            let told = e.top(&ch, &r, 0).unwrap();
            e.retain(&ch);
            assert_eq!(e.top(&ch, &r, 0).unwrap(), told, "the epoch told stays");
            e.release(&ch, Some(&r), 0);
        }
        assert_eq!(e.channels(), 0);
        // A log with history stays until it expires, then a sweep drops it.
        let before = e.top("h", &r, 0).unwrap().epoch;
        append(&e, "h", "1", 0, &r);
        e.release("h", Some(&r), 0);
        assert_eq!(e.channels(), 1);
        assert_eq!(e.sweep(&|_| Some(r), 60_000), 1);
        assert_eq!(e.channels(), 0);
        // A re-created log never reuses the old epoch.
        assert_ne!(e.top("h", &r, 60_000).unwrap().epoch, before);
    }

    #[test]
    fn the_budget_evicts_idle_logs_first() {
        let e = MemoryStore::new(2);
        let r = Retention {
            size: 10,
            ttl: Duration::ZERO,
        };
        e.retain("busy");
        append(&e, "busy", "1", 0, &r);
        append(&e, "old", "1", 0, &r);
        append(&e, "new", "1", 0, &r);
        assert_eq!(e.channels(), 2);
        assert_eq!(e.top("old", &r, 0).unwrap().offset, 0, "evicted");
        assert_eq!(
            e.top("busy", &r, 0).unwrap().offset,
            1,
            "subscribed logs stay"
        );
        e.retain("new");
        assert!(matches!(
            e.append(
                Append {
                    channel: "third",
                    event: "p",
                    data: b"1",
                    ts_ms: 0,
                    idempotency_key: None,
                },
                &r
            ),
            Err(StoreError::Full(2))
        ));
    }
}
