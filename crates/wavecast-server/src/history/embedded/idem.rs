//! Idempotency keys that survive a restart. A publish with a key writes
//! `channel ␀ key` → `offset(be64) ts(be64)` into keyspace `idem` in the
//! same atomic batch as the publication, so after a crash a retry of a
//! publish that was stored but never acknowledged finds its offset instead
//! of publishing twice.
//!
//! Records are kept for [`KEEP`] (the in-memory cache's window) and swept:
//! at open, and after every [`SWEEP_EVERY`] recorded keys, so the keyspace
//! holds at most the keys of one window plus one sweep interval.

use fjall::{Keyspace, OwnedWriteBatch};

use crate::broker::idempotency::KEEP;

/// Recorded keys between two sweeps.
pub const SWEEP_EVERY: u64 = 4096;

fn record_key(channel: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(channel.len() + key.len() + 1);
    k.extend_from_slice(channel.as_bytes());
    k.push(0);
    k.extend_from_slice(key.as_bytes());
    k
}

fn decode(v: &[u8]) -> Option<(u64, u64)> {
    let offset = u64::from_be_bytes(v.get(..8)?.try_into().ok()?);
    let ts = u64::from_be_bytes(v.get(8..16)?.try_into().ok()?);
    Some((offset, ts))
}

fn expired(ts_ms: u64, now_ms: u64) -> bool {
    now_ms.saturating_sub(ts_ms) > KEEP.as_millis() as u64
}

/// Adds the record of `key` to the publication's batch.
pub fn record(
    batch: &mut OwnedWriteBatch,
    ks: &Keyspace,
    channel: &str,
    key: &str,
    offset: u64,
    ts_ms: u64,
) {
    let mut v = Vec::with_capacity(16);
    v.extend_from_slice(&offset.to_be_bytes());
    v.extend_from_slice(&ts_ms.to_be_bytes());
    batch.insert(ks, record_key(channel, key), v);
}

/// The offset stored with `key` in `channel` within [`KEEP`], if any.
pub fn lookup(
    ks: &Keyspace,
    channel: &str,
    key: &str,
    now_ms: u64,
) -> Result<Option<u64>, fjall::Error> {
    Ok(ks
        .get(record_key(channel, key))?
        .and_then(|v| decode(&v))
        .filter(|(_, ts)| !expired(*ts, now_ms))
        .map(|(offset, _)| offset))
}

/// Removes the records older than [`KEEP`]; returns how many.
pub fn sweep(ks: &Keyspace, now_ms: u64) -> Result<usize, fjall::Error> {
    let mut old = Vec::new();
    for kv in ks.iter() {
        let (k, v) = kv.into_inner()?;
        if decode(&v).is_none_or(|(_, ts)| expired(ts, now_ms)) {
            old.push(k);
        }
    }
    for k in &old {
        ks.remove(k.clone())?;
    }
    Ok(old.len())
}
