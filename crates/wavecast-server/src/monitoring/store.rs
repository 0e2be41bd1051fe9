//! Where rollup blocks and raw chunks live: in memory (`engine =
//! "memory"`, and on Redis, where each node keeps its own) or in the
//! embedded engine's fjall database (`engine = "embedded"`): keyspace
//! `monitor` for the rollup blocks, keyspace `monitor_raw` for the raw
//! chunks of the last hour. Both share the history's journal and group
//! commit and survive a restart.
//!
//! Invariants: keys and values are exactly `wavecast_monitor`'s
//! `block_key` / `HourBlock::encode` (a put overwrites) and `raw_key` /
//! `RawChunk::encode` (each key new); the store never interprets a value.
//! In memory the raw chunks are not kept at all: the aggregator's ring is
//! the only copy of the raw hour, and there is no restart to survive.

use std::collections::BTreeMap;

use fjall::Keyspace;
use parking_lot::Mutex;
use wavecast_monitor::{parse_block_key, BlockWrite, RawWrite};

use crate::history::embedded::EmbeddedStore;

/// Stored `(key, value)` pairs.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// The rollup and raw store.
pub enum MetricStore {
    Memory(Mutex<BTreeMap<Vec<u8>, Vec<u8>>>),
    Embedded { blocks: Keyspace, raw: Keyspace },
}

fn io(e: impl std::fmt::Display) -> String {
    format!("monitoring store: {e}")
}

impl MetricStore {
    /// An empty in-memory store.
    pub fn memory() -> MetricStore {
        MetricStore::Memory(Mutex::new(BTreeMap::new()))
    }

    /// The embedded engine's keyspaces `monitor` and `monitor_raw`.
    pub fn embedded(db: &EmbeddedStore) -> Result<MetricStore, String> {
        Ok(MetricStore::Embedded {
            blocks: db.keyspace("monitor").map_err(io)?,
            raw: db.keyspace("monitor_raw").map_err(io)?,
        })
    }

    /// Which engine, for `/api/ws/metrics` answers.
    pub fn engine(&self) -> &'static str {
        match self {
            MetricStore::Memory(_) => "memory",
            MetricStore::Embedded { .. } => "embedded",
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
            MetricStore::Embedded { blocks: ks, .. } => {
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
            MetricStore::Embedded { blocks: ks, .. } => {
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
            MetricStore::Embedded { blocks, .. } => entries(blocks),
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
            MetricStore::Embedded { blocks: ks, .. } => {
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
        Ok(sizes(&self.all()?))
    }

    /// Whether raw chunks are kept (the embedded engine); in memory the
    /// aggregator's ring is the only copy, so none are cut.
    pub fn keeps_raw(&self) -> bool {
        matches!(self, MetricStore::Embedded { .. })
    }

    /// Every stored raw chunk, in key order (at start; none in memory).
    pub fn raw_all(&self) -> Result<Entries, String> {
        match self {
            MetricStore::Memory(_) => Ok(Vec::new()),
            MetricStore::Embedded { raw, .. } => entries(raw),
        }
    }

    /// Puts raw chunks, in order; on an error, returns it with the writes
    /// not known to be put (the failing one and those after it).
    pub fn put_raw(&self, writes: Vec<RawWrite>) -> Result<(), (String, Vec<RawWrite>)> {
        let MetricStore::Embedded { raw, .. } = self else {
            return Ok(());
        };
        let mut rest = writes.into_iter();
        while let Some(w) = rest.next() {
            if let Err(e) = raw.insert(&w.key, &w.value) {
                return Err((io(e), std::iter::once(w).chain(rest).collect()));
            }
        }
        Ok(())
    }

    /// Deletes raw chunks; returns how many.
    pub fn delete_raw(&self, keys: &[Vec<u8>]) -> Result<usize, String> {
        let MetricStore::Embedded { raw, .. } = self else {
            return Ok(0);
        };
        for k in keys {
            raw.remove(k.as_slice()).map_err(io)?;
        }
        Ok(keys.len())
    }

    /// Number of raw chunks stored and their key + value bytes.
    pub fn raw_size(&self) -> Result<(usize, usize), String> {
        Ok(sizes(&self.raw_all()?))
    }
}

fn entries(ks: &Keyspace) -> Result<Entries, String> {
    let mut out = Vec::new();
    for kv in ks.iter() {
        let (k, v) = kv.into_inner().map_err(io)?;
        out.push((k.to_vec(), v.to_vec()));
    }
    Ok(out)
}

fn sizes(all: &Entries) -> (usize, usize) {
    (all.len(), all.iter().map(|(k, v)| k.len() + v.len()).sum())
}
