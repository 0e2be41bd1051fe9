//! Where rollup blocks live: in memory (`engine = "memory"`, and on Redis,
//! where each node keeps its own) or in the embedded engine's fjall
//! database, keyspace `monitor` (`engine = "embedded"`), which shares the
//! history's journal and group commit and survives a restart.
//!
//! Invariants: keys and values are exactly `wavecast_monitor`'s
//! `block_key` / `HourBlock::encode`; a put overwrites; the store never
//! interprets a value.

use std::collections::BTreeMap;

use fjall::Keyspace;
use parking_lot::Mutex;
use wavecast_monitor::{parse_block_key, BlockWrite};

/// Stored `(key, value)` pairs.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// The rollup store.
pub enum MetricStore {
    Memory(Mutex<BTreeMap<Vec<u8>, Vec<u8>>>),
    Embedded(Keyspace),
}

fn io(e: impl std::fmt::Display) -> String {
    format!("monitoring store: {e}")
}

impl MetricStore {
    /// An empty in-memory store.
    pub fn memory() -> MetricStore {
        MetricStore::Memory(Mutex::new(BTreeMap::new()))
    }

    /// Which engine, for `/api/ws/metrics` answers.
    pub fn engine(&self) -> &'static str {
        match self {
            MetricStore::Memory(_) => "memory",
            MetricStore::Embedded(_) => "embedded",
        }
    }

    /// Puts every block (overwriting).
    pub fn put(&self, writes: &[BlockWrite]) -> Result<(), String> {
        match self {
            MetricStore::Memory(m) => {
                let mut m = m.lock();
                for w in writes {
                    m.insert(w.key.clone(), w.value.clone());
                }
                Ok(())
            }
            MetricStore::Embedded(ks) => {
                for w in writes {
                    ks.insert(&w.key, &w.value).map_err(io)?;
                }
                Ok(())
            }
        }
    }

    /// The values found for `keys` (missing keys left out).
    pub fn get_many(&self, keys: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, String> {
        match self {
            MetricStore::Memory(m) => {
                let m = m.lock();
                Ok(keys.iter().filter_map(|k| m.get(k).cloned()).collect())
            }
            MetricStore::Embedded(ks) => {
                let mut out = Vec::with_capacity(keys.len());
                for k in keys {
                    if let Some(v) = ks.get(k).map_err(io)? {
                        out.push(v.to_vec());
                    }
                }
                Ok(out)
            }
        }
    }

    /// Every stored block, in key order (at start).
    pub fn all(&self) -> Result<Entries, String> {
        match self {
            MetricStore::Memory(m) => Ok(m
                .lock()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()),
            MetricStore::Embedded(ks) => {
                let mut out = Vec::new();
                for kv in ks.iter() {
                    let (k, v) = kv.into_inner().map_err(io)?;
                    out.push((k.to_vec(), v.to_vec()));
                }
                Ok(out)
            }
        }
    }

    /// Deletes every block of an hour below `hour`, and keys that do not
    /// parse; returns how many went.
    pub fn delete_before(&self, hour: u32) -> Result<usize, String> {
        let old = |k: &[u8]| parse_block_key(k).map_or(true, |(_, h)| h < hour);
        match self {
            MetricStore::Memory(m) => {
                let mut m = m.lock();
                let before = m.len();
                m.retain(|k, _| !old(k));
                Ok(before - m.len())
            }
            MetricStore::Embedded(ks) => {
                let mut doomed = Vec::new();
                for kv in ks.iter() {
                    let k = kv.key().map_err(io)?;
                    if old(&k) {
                        doomed.push(k.to_vec());
                    }
                }
                for k in &doomed {
                    ks.remove(k.as_slice()).map_err(io)?;
                }
                Ok(doomed.len())
            }
        }
    }

    /// Number of blocks stored and their key + value bytes.
    pub fn size(&self) -> Result<(usize, usize), String> {
        let all = self.all()?;
        Ok((all.len(), all.iter().map(|(k, v)| k.len() + v.len()).sum()))
    }
}
