//! The embedded engine: persistent history in fjall (an LSM-tree store)
//! under `data_dir`, with no setup. Publications live in keyspace `pubs`
//! under `channel ␀ offset(be64)`; each channel's epoch and last offset
//! live in keyspace `meta`, written in the same atomic batch. After a
//! restart offsets continue and epochs stay the same.
//!
//! Durability is group commit: a background thread fsyncs the journal at
//! most every `fsync_interval` when something was written, or every write
//! is synced when `fsync = "always"`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::{new_epoch, Engine, EngineError, Retention, StoredPublication, StreamTop};

#[derive(Serialize, Deserialize)]
struct Meta {
    epoch: String,
    last: u64,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    e: String,
    d: Box<serde_json::value::RawValue>,
    t: u64,
}

fn err(e: impl std::fmt::Display) -> EngineError {
    EngineError(format!("embedded store: {e}"))
}

fn key(channel: &str, offset: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(channel.len() + 9);
    k.extend_from_slice(channel.as_bytes());
    k.push(0);
    k.extend_from_slice(&offset.to_be_bytes());
    k
}

fn prefix(channel: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(channel.len() + 1);
    k.extend_from_slice(channel.as_bytes());
    k.push(0);
    k
}

fn offset_of(k: &[u8]) -> u64 {
    let n = k.len();
    if n < 8 {
        return 0;
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(&k[n - 8..]);
    u64::from_be_bytes(b)
}

#[derive(Clone)]
struct ChanState {
    epoch: String,
    last: u64,
    first: u64,
}

/// Persistent history in fjall.
pub struct EmbeddedEngine {
    db: Database,
    pubs: Keyspace,
    meta: Keyspace,
    /// Per channel: epoch, last offset, first retained offset. The first
    /// offset is tracked here so trimming is point deletes: scanning a
    /// prefix would walk every tombstone left by earlier trims.
    cache: Mutex<HashMap<String, ChanState>>,
    sync_every_write: bool,
    dirty: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl EmbeddedEngine {
    /// Opens (or creates) the store in `dir`. `fsync_interval` of `None`
    /// syncs every write.
    pub fn open(
        dir: &Path,
        fsync_interval: Option<Duration>,
    ) -> Result<EmbeddedEngine, EngineError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| err(format!("cannot create data_dir {}: {e}", dir.display())))?;
        let db = Database::builder(dir)
            .open()
            .map_err(|e| err(format!("cannot open {}: {e}", dir.display())))?;
        let pubs = db
            .keyspace("pubs", KeyspaceCreateOptions::default)
            .map_err(err)?;
        let meta = db
            .keyspace("meta", KeyspaceCreateOptions::default)
            .map_err(err)?;
        let dirty = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        if let Some(every) = fsync_interval {
            let (db, dirty, stop) = (db.clone(), dirty.clone(), stop.clone());
            std::thread::Builder::new()
                .name("wavecast-fsync".into())
                .spawn(move || {
                    while !stop.load(Ordering::Acquire) {
                        std::thread::sleep(every);
                        if dirty.swap(false, Ordering::AcqRel) {
                            if let Err(e) = db.persist(PersistMode::SyncData) {
                                tracing::error!(error = %e, "history fsync failed");
                            }
                        }
                    }
                })
                .map_err(err)?;
        }
        Ok(EmbeddedEngine {
            db,
            pubs,
            meta,
            cache: Mutex::new(HashMap::new()),
            sync_every_write: fsync_interval.is_none(),
            dirty,
            stop,
        })
    }

    /// The channel's state, loaded (or created) on first use.
    fn state_of(&self, channel: &str) -> Result<ChanState, EngineError> {
        if let Some(m) = self.cache.lock().get(channel) {
            return Ok(m.clone());
        }
        let (epoch, last) = match self.meta.get(channel).map_err(err)? {
            Some(v) => {
                let m: Meta = serde_json::from_slice(&v).map_err(err)?;
                (m.epoch, m.last)
            }
            None => {
                let m = Meta {
                    epoch: new_epoch(),
                    last: 0,
                };
                let bytes = serde_json::to_vec(&m).map_err(err)?;
                self.meta.insert(channel, &bytes[..]).map_err(err)?;
                (m.epoch, 0)
            }
        };
        // One prefix scan per channel and process start.
        let first = match self.pubs.prefix(prefix(channel)).next() {
            Some(kv) => offset_of(&kv.key().map_err(err)?),
            None => last + 1,
        };
        let st = ChanState { epoch, last, first };
        self.cache.lock().insert(channel.to_string(), st.clone());
        Ok(st)
    }

    /// Removes entries beyond the size or older than the TTL, from the
    /// first retained offset on, with point reads and deletes.
    fn trim(&self, channel: &str, r: &Retention, now_ms: u64) -> Result<ChanState, EngineError> {
        let mut st = self.state_of(channel)?;
        let keep_from = st.last.saturating_sub(r.size as u64) + 1;
        let start = st.first;
        while st.first <= st.last {
            let k = key(channel, st.first);
            let expired = if st.first < keep_from {
                true
            } else {
                match self.pubs.get(&k).map_err(err)? {
                    Some(v) => serde_json::from_slice::<Entry>(&v)
                        .map(|e| !r.keeps(e.t, now_ms))
                        .unwrap_or(true),
                    // Missing (trimmed by an earlier run): skip it.
                    None => true,
                }
            };
            if !expired {
                break;
            }
            self.pubs.remove(k).map_err(err)?;
            st.first += 1;
        }
        if st.first != start {
            if let Some(c) = self.cache.lock().get_mut(channel) {
                c.first = st.first;
            }
        }
        Ok(st)
    }

    fn decode(k: &[u8], v: &[u8]) -> Result<StoredPublication, EngineError> {
        let e: Entry = serde_json::from_slice(v).map_err(err)?;
        Ok(StoredPublication {
            offset: offset_of(k),
            event: e.e,
            data: e.d.get().to_string(),
            ts_ms: e.t,
        })
    }
}

impl Drop for EmbeddedEngine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.db.persist(PersistMode::SyncAll);
    }
}

impl Engine for EmbeddedEngine {
    fn append(
        &self,
        channel: &str,
        event: &str,
        data: &str,
        ts_ms: u64,
        retention: &Retention,
    ) -> Result<u64, EngineError> {
        let st = self.state_of(channel)?;
        let offset = st.last + 1;
        let entry = format!(
            "{{\"e\":{},\"d\":{data},\"t\":{ts_ms}}}",
            serde_json::to_string(event).map_err(err)?
        );
        let meta = serde_json::to_vec(&Meta {
            epoch: st.epoch.clone(),
            last: offset,
        })
        .map_err(err)?;
        let mut batch = self.db.batch();
        batch.insert(&self.pubs, &key(channel, offset)[..], entry.as_bytes());
        batch.insert(&self.meta, channel, &meta[..]);
        if self.sync_every_write {
            batch = batch.durability(Some(PersistMode::SyncData));
        }
        batch.commit().map_err(err)?;
        self.dirty.store(true, Ordering::Release);
        if let Some(c) = self.cache.lock().get_mut(channel) {
            c.last = offset;
        }
        self.trim(channel, retention, ts_ms)?;
        Ok(offset)
    }

    fn top(
        &self,
        channel: &str,
        retention: &Retention,
        now_ms: u64,
    ) -> Result<StreamTop, EngineError> {
        let st = self.trim(channel, retention, now_ms)?;
        Ok(StreamTop {
            offset: st.last,
            epoch: st.epoch,
            earliest: st.first,
        })
    }

    fn read(
        &self,
        channel: &str,
        since: u64,
        limit: usize,
        retention: &Retention,
        now_ms: u64,
    ) -> Result<Vec<StoredPublication>, EngineError> {
        let st = self.trim(channel, retention, now_ms)?;
        let start = key(channel, since.saturating_add(1).max(st.first));
        let end = key(channel, u64::MAX);
        let mut out = Vec::new();
        for kv in self.pubs.range(start..=end) {
            if out.len() >= limit {
                break;
            }
            let (k, v) = kv.into_inner().map_err(err)?;
            out.push(Self::decode(&k, &v)?);
        }
        Ok(out)
    }

    fn latest(
        &self,
        channel: &str,
        retention: &Retention,
        now_ms: u64,
    ) -> Result<Option<StoredPublication>, EngineError> {
        let st = self.trim(channel, retention, now_ms)?;
        if st.first > st.last {
            return Ok(None);
        }
        match self.pubs.get(key(channel, st.last)).map_err(err)? {
            Some(v) => Ok(Some(Self::decode(&key(channel, st.last), &v)?)),
            None => Ok(None),
        }
    }

    fn name(&self) -> &'static str {
        "embedded"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("wavecast-test-{name}-{}", fastrand::u64(..)));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn persists_offsets_and_epoch_across_reopen() {
        let dir = tmp("reopen");
        let r = Retention {
            size: 3,
            ttl: Duration::ZERO,
        };
        let epoch = {
            let e = EmbeddedEngine::open(&dir, Some(Duration::from_millis(5))).unwrap();
            for i in 1..=5u64 {
                assert_eq!(
                    e.append("ch", "p", &format!("{{\"i\":{i}}}"), 1, &r)
                        .unwrap(),
                    i
                );
            }
            e.append("ch2", "p", "1", 1, &r).unwrap();
            e.top("ch", &r, 2).unwrap().epoch
        };
        let e = EmbeddedEngine::open(&dir, None).unwrap();
        let top = e.top("ch", &r, 2).unwrap();
        assert_eq!(
            (top.offset, top.earliest, top.epoch.as_str()),
            (5, 3, epoch.as_str())
        );
        let got = e.read("ch", 3, 10, &r, 2).unwrap();
        assert_eq!(got.iter().map(|p| p.offset).collect::<Vec<_>>(), [4, 5]);
        assert_eq!(got[1].data, "{\"i\":5}");
        assert_eq!(e.append("ch", "p", "6", 3, &r).unwrap(), 6);
        assert_eq!(e.latest("ch", &r, 3).unwrap().unwrap().offset, 6);
        assert_eq!(e.top("ch2", &r, 3).unwrap().offset, 1);
        drop(e);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn ttl_trims_and_many_appends_stay_fast() {
        let dir = tmp("ttl");
        let e = EmbeddedEngine::open(&dir, Some(Duration::from_millis(5))).unwrap();
        let r = Retention {
            size: 100,
            ttl: Duration::from_secs(10),
        };
        for i in 1..=20u64 {
            e.append("t", "p", "1", i * 1000, &r).unwrap();
        }
        // At 25 s, entries older than 15 s (offsets 1..=14) are gone.
        let top = e.top("t", &r, 25_000).unwrap();
        assert_eq!((top.offset, top.earliest), (20, 15));
        assert_eq!(e.read("t", 0, 100, &r, 25_000).unwrap().len(), 6);
        // Trimming is point deletes: 20,000 appends with size 10 stay cheap.
        let small = Retention {
            size: 10,
            ttl: Duration::ZERO,
        };
        let started = std::time::Instant::now();
        for _ in 0..20_000 {
            e.append("busy", "p", "1", 1, &small).unwrap();
        }
        let top = e.top("busy", &small, 1).unwrap();
        assert_eq!((top.offset, top.earliest), (20_000, 19_991));
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{:?}",
            started.elapsed()
        );
        drop(e);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
