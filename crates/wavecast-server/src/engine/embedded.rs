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

/// Persistent history in fjall.
pub struct EmbeddedEngine {
    db: Database,
    pubs: Keyspace,
    meta: Keyspace,
    cache: Mutex<HashMap<String, (String, u64)>>,
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

    /// The channel's (epoch, last offset), creating an epoch if needed.
    fn meta_of(&self, channel: &str) -> Result<(String, u64), EngineError> {
        if let Some(m) = self.cache.lock().get(channel) {
            return Ok(m.clone());
        }
        let m = match self.meta.get(channel).map_err(err)? {
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
        self.cache.lock().insert(channel.to_string(), m.clone());
        Ok(m)
    }

    /// Removes entries beyond the size or older than the TTL.
    fn trim(
        &self,
        channel: &str,
        last: u64,
        r: &Retention,
        now_ms: u64,
    ) -> Result<(), EngineError> {
        let keep_from = last.saturating_sub(r.size as u64) + 1;
        let mut doomed = Vec::new();
        for kv in self.pubs.prefix(prefix(channel)) {
            let (k, v) = kv.into_inner().map_err(err)?;
            let off = offset_of(&k);
            let expired = serde_json::from_slice::<Entry>(&v)
                .map(|e| !r.keeps(e.t, now_ms))
                .unwrap_or(true);
            if off < keep_from || expired {
                doomed.push(k);
            } else {
                break;
            }
        }
        for k in doomed {
            self.pubs.remove(k).map_err(err)?;
        }
        Ok(())
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
        let (epoch, last) = self.meta_of(channel)?;
        let offset = last + 1;
        let entry = format!(
            "{{\"e\":{},\"d\":{data},\"t\":{ts_ms}}}",
            serde_json::to_string(event).map_err(err)?
        );
        let meta = serde_json::to_vec(&Meta {
            epoch: epoch.clone(),
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
        self.cache
            .lock()
            .insert(channel.to_string(), (epoch, offset));
        self.trim(channel, offset, retention, ts_ms)?;
        Ok(offset)
    }

    fn top(
        &self,
        channel: &str,
        retention: &Retention,
        now_ms: u64,
    ) -> Result<StreamTop, EngineError> {
        let (epoch, last) = self.meta_of(channel)?;
        self.trim(channel, last, retention, now_ms)?;
        let earliest = match self.pubs.prefix(prefix(channel)).next() {
            Some(kv) => offset_of(&kv.key().map_err(err)?),
            None => last + 1,
        };
        Ok(StreamTop {
            offset: last,
            epoch,
            earliest,
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
        let (_, last) = self.meta_of(channel)?;
        self.trim(channel, last, retention, now_ms)?;
        let start = key(channel, since.saturating_add(1));
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
        let (_, last) = self.meta_of(channel)?;
        self.trim(channel, last, retention, now_ms)?;
        match self.pubs.prefix(prefix(channel)).next_back() {
            Some(kv) => {
                let (k, v) = kv.into_inner().map_err(err)?;
                Ok(Some(Self::decode(&k, &v)?))
            }
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
}
