//! The embedded store: persistent history in fjall (an LSM-tree store)
//! under `data_dir`, with no setup.
//!
//! Layout:
//! - keyspace `pubs`: `channel ␀ offset(be64)` → `ts(be64) event_len(u8)
//!   event data` (the data bytes exactly as published);
//! - keyspace `meta`: `channel` → `base(be64) last(be64)`, written in the
//!   same atomic batch as the publication;
//! - keyspace `sys`: the store's instance id, generation and incarnation
//!   (see [`super::epochs`]) and the `running` marker;
//! - keyspace `idem`: recent idempotency keys with their offsets, written
//!   in the publication's batch (see `idem`), so a retry after a crash is
//!   not published twice.
//!
//! Durability is group commit: a background thread syncs the journal at
//! most every `fsync` interval when something was written; with
//! `fsync = "always"` it syncs as soon as it can and publishers wait for
//! the sync that covers their write ([`HistoryStore::synced`]), so
//! concurrent publishers share one fsync.
//!
//! Every commit reaches the OS before it is acknowledged, so a killed
//! process loses nothing it handed out. A store that may have lost writes
//! (see `start`: a machine crash before the last sync, or a restored
//! copy of the directory) grows its incarnation, which changes every
//! channel's epoch, so recovering clients are told instead of resuming
//! across a silent gap.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use parking_lot::Mutex;
use wavecast_protocol::Publication;

use super::epochs::Epochs;
use super::{Append, HistoryStore, Retention, StoreError, StreamTop};

mod codec;
mod idem;
mod start;
use codec::{decode_entry, decode_meta, encode_entry, encode_meta, key, offset_of, prefix};
use start::StartFacts;

fn io(e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(format!("embedded store: {e}"))
}

#[derive(Clone, Copy)]
struct ChanState {
    base: u64,
    last: u64,
    /// The first retained offset, once known.
    first: Option<u64>,
    idle: bool,
    touched: u64,
}

/// Persistent history in fjall.
pub struct EmbeddedStore {
    db: Database,
    pubs: Keyspace,
    meta: Keyspace,
    sys: Keyspace,
    idem: Keyspace,
    /// Idempotency keys recorded since the last sweep of `idem`.
    idem_recorded: AtomicU64,
    /// Every log, by channel (loaded from `meta` at open).
    logs: Mutex<HashMap<Box<str>, ChanState>>,
    epochs: Epochs,
    max_channels: usize,
    clock: AtomicU64,
    sync: Arc<SyncState>,
    budget: MemoryBudget,
    /// Per-channel write order (striped): an append and a retain or
    /// release of the same channel's log run one at a time, so a release
    /// that found the log empty cannot drop it after an append filled it
    /// (which handed the next publication the same offset again).
    writes: Box<[Mutex<()>]>,
}

/// Idle logs an eviction tries, oldest first, before it reports the
/// store full.
const EVICTION_CANDIDATES: usize = 8;

/// The stripe of [`EmbeddedStore::writes`] that orders `channel`'s writes.
fn stripe(channel: &str) -> usize {
    let h = channel.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    (h % WRITE_STRIPES as u64) as usize
}

/// Stripes of [`EmbeddedStore::writes`].
const WRITE_STRIPES: usize = 64;

/// Group-commit bookkeeping shared with the sync thread.
struct SyncState {
    written: AtomicU64,
    synced_tx: tokio::sync::watch::Sender<u64>,
    every_write: bool,
    stop: AtomicBool,
    wake: parking_lot::Condvar,
    wake_lock: Mutex<()>,
    /// Set when a write or an fsync failed (disk full, I/O error): fjall
    /// refuses every later write (it is "poisoned"), and what was written
    /// may not be durable, so the store stops until the process restarts.
    failed: AtomicBool,
}

/// How much memory the store's engine may hold besides the channel
/// index: each keyspace's memtable (recent writes, flushed to a table file
/// when full) and the shared block cache (`[history]` `memtable_bytes`,
/// `cache_bytes`). Without these bounds fjall keeps 64 MiB per keyspace and
/// a 32 MiB cache, which a long run fills (docs/reliability.md, "Soak").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryBudget {
    pub memtable_bytes: u64,
    pub cache_bytes: u64,
}

impl Default for MemoryBudget {
    fn default() -> Self {
        let h = crate::config::HistoryConfig::default();
        MemoryBudget {
            memtable_bytes: h.memtable_bytes,
            cache_bytes: h.cache_bytes,
        }
    }
}

impl EmbeddedStore {
    /// Opens (or creates) the store in `dir`. `fsync_interval` of `None`
    /// syncs every write before it is acknowledged.
    pub fn open(
        dir: &Path,
        fsync_interval: Option<Duration>,
        max_channels: usize,
    ) -> Result<EmbeddedStore, StoreError> {
        Self::open_with(dir, fsync_interval, max_channels, MemoryBudget::default())
    }

    /// [`EmbeddedStore::open`] with an engine memory budget.
    pub fn open_with(
        dir: &Path,
        fsync_interval: Option<Duration>,
        max_channels: usize,
        budget: MemoryBudget,
    ) -> Result<EmbeddedStore, StoreError> {
        Self::open_at_boot(dir, fsync_interval, max_channels, budget, start::boot_id())
    }

    /// [`EmbeddedStore::open_with`], as if the machine's boot id were `boot`.
    pub fn open_at_boot(
        dir: &Path,
        fsync_interval: Option<Duration>,
        max_channels: usize,
        budget: MemoryBudget,
        boot: String,
    ) -> Result<EmbeddedStore, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| io(format!("cannot create data_dir {}: {e}", dir.display())))?;
        let db = Database::builder(dir)
            .cache_size(budget.cache_bytes)
            .open()
            .map_err(|e| io(format!("cannot open {}: {e}", dir.display())))?;
        let ks = |name| open_keyspace(&db, name, budget).map_err(io);
        let (pubs, meta, sys, idem) = (ks("pubs")?, ks("meta")?, ks("sys")?, ks("idem")?);
        idem::sweep(&idem, wavecast_protocol::time::now_millis()).map_err(io)?;
        let epochs = open_epochs(&db, &sys, dir, boot)?;
        let logs = load_logs(&meta)?;
        let (synced_tx, _) = tokio::sync::watch::channel(0u64);
        let sync = Arc::new(SyncState {
            written: AtomicU64::new(0),
            synced_tx,
            every_write: fsync_interval.is_none(),
            stop: AtomicBool::new(false),
            wake: parking_lot::Condvar::new(),
            wake_lock: Mutex::new(()),
            failed: AtomicBool::new(false),
        });
        spawn_sync_thread(db.clone(), sync.clone(), fsync_interval)?;
        Ok(EmbeddedStore {
            db,
            pubs,
            meta,
            sys,
            idem,
            idem_recorded: AtomicU64::new(0),
            logs: Mutex::new(logs),
            epochs,
            max_channels: max_channels.max(1),
            clock: AtomicU64::new(0),
            sync,
            budget,
            writes: (0..WRITE_STRIPES).map(|_| Mutex::new(())).collect(),
        })
    }

    /// The write-order lock of `channel`'s log.
    fn write_order(&self, channel: &str) -> parking_lot::MutexGuard<'_, ()> {
        self.writes[stripe(channel)].lock()
    }

    /// A failed write: fjall refuses every write after one that failed
    /// part-way, so the store is marked failed ([`HistoryStore::healthy`]).
    fn write_failed(&self, e: &fjall::Error) -> StoreError {
        if !self.sync.failed.swap(true, Ordering::AcqRel) {
            tracing::error!(error = %e, "history write failed; the embedded store stops");
            self.sync.synced_tx.send_modify(|_| {});
        }
        StoreError::Unavailable(super::STORE_STOPPED.into())
    }

    /// Another keyspace of the same database, for a domain part's own data
    /// (the monitoring rollups and raw points): it shares the journal, the
    /// group commit and the clean close of the history.
    pub fn keyspace(&self, name: &str) -> Result<Keyspace, StoreError> {
        open_keyspace(&self.db, name, self.budget).map_err(io)
    }

    /// Bytes the engine holds in memtables (written, not yet in a table
    /// file) and in its block cache: the `history_store_*_bytes` gauges.
    pub fn engine_memory(&self) -> (u64, u64) {
        (self.db.write_buffer_size(), self.db.cache_size())
    }

    /// Whether this run started after an unclean stop (for tests and logs).
    pub fn incarnation(&self) -> u64 {
        self.epochs.incarnation()
    }

    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::Relaxed)
    }

    /// The channel's state, creating a log when `create`.
    fn state_of(&self, channel: &str, create: bool) -> Result<Option<ChanState>, StoreError> {
        let touched = self.tick();
        if let Some(st) = self.logs.lock().get_mut(channel) {
            st.touched = touched;
            return Ok(Some(*st));
        }
        if !create {
            return Ok(None);
        }
        if self.logs.lock().len() >= self.max_channels && !self.evict_one()? {
            return Err(StoreError::Full(self.max_channels));
        }
        let st = ChanState {
            base: self.epochs.new_base(channel),
            last: 0,
            first: Some(1),
            idle: true,
            touched,
        };
        self.meta
            .insert(channel, encode_meta(st.base, st.last))
            .map_err(|e| self.write_failed(&e))?;
        Ok(Some(*self.logs.lock().entry(channel.into()).or_insert(st)))
    }

    fn set_state(&self, channel: &str, f: impl FnOnce(&mut ChanState)) {
        if let Some(st) = self.logs.lock().get_mut(channel) {
            f(st);
        }
    }

    /// The first retained offset (one prefix scan per channel and run).
    fn first_of(&self, channel: &str, st: &ChanState) -> Result<u64, StoreError> {
        if let Some(f) = st.first {
            return Ok(f);
        }
        let first = match self.pubs.prefix(prefix(channel)).next() {
            Some(kv) => offset_of(&kv.key().map_err(io)?),
            None => st.last + 1,
        };
        self.set_state(channel, |s| s.first = Some(first));
        Ok(first)
    }

    /// Removes entries beyond the size or older than the TTL, from the
    /// first retained offset on, with point reads and deletes (scanning a
    /// prefix would walk every tombstone left by earlier trims).
    fn trim(
        &self,
        channel: &str,
        r: &Retention,
        now_ms: u64,
    ) -> Result<Option<ChanState>, StoreError> {
        let Some(mut st) = self.state_of(channel, false)? else {
            return Ok(None);
        };
        let keep_from = st.last.saturating_sub(r.size as u64) + 1;
        let mut first = self.first_of(channel, &st)?;
        let start = first;
        while first <= st.last {
            let k = key(channel, first);
            let expired = first < keep_from
                || match self.pubs.get(&k).map_err(io)? {
                    Some(v) => decode_entry(&v).is_none_or(|e| !r.keeps(e.ts_ms, now_ms)),
                    None => true,
                };
            if !expired {
                break;
            }
            self.pubs.remove(k).map_err(io)?;
            first += 1;
        }
        st.first = Some(first);
        if first != start {
            self.set_state(channel, |s| s.first = Some(first));
        }
        Ok(Some(st))
    }

    /// Drops a log that retains nothing: its meta record and cache entry.
    fn drop_log(&self, channel: &str, st: &ChanState) -> Result<(), StoreError> {
        self.meta.remove(channel).map_err(io)?;
        self.logs.lock().remove(channel);
        let gen = self.epochs.dropped(st.last > 0);
        if st.last > 0 {
            self.sys
                .insert("generation", gen.to_be_bytes())
                .map_err(io)?;
        }
        Ok(())
    }

    /// Evicts the least recently used idle log with its history.
    ///
    /// It runs inside another channel's append, under that channel's
    /// write order. The victim's own write order is taken too (an append,
    /// retain or release of the victim may not run meanwhile, or it could
    /// write an offset into a log being dropped), but never waited for:
    /// a victim whose order is taken (by a writer, or by the caller when
    /// both share a stripe) is passed over for the next oldest.
    fn evict_one(&self) -> Result<bool, StoreError> {
        for channel in self.eviction_candidates() {
            let Some(_order) = self.writes[stripe(&channel)].try_lock() else {
                continue;
            };
            // Read again under the order: it may have been used meanwhile.
            let st = self.logs.lock().get(channel.as_str()).copied();
            let Some(st) = st.filter(|s| s.idle) else {
                continue;
            };
            let first = self.first_of(&channel, &st)?;
            for o in first..=st.last {
                self.pubs.remove(key(&channel, o)).map_err(io)?;
            }
            self.drop_log(&channel, &st)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// The [`EVICTION_CANDIDATES`] least recently used idle logs, oldest
    /// first.
    fn eviction_candidates(&self) -> Vec<String> {
        let logs = self.logs.lock();
        let mut oldest: Vec<(u64, &str)> = Vec::with_capacity(EVICTION_CANDIDATES + 1);
        for (k, s) in logs.iter().filter(|(_, s)| s.idle) {
            let at = oldest.partition_point(|(t, _)| *t <= s.touched);
            if at < EVICTION_CANDIDATES {
                oldest.insert(at, (s.touched, k.as_ref()));
                oldest.truncate(EVICTION_CANDIDATES);
            }
        }
        oldest.into_iter().map(|(_, k)| k.to_string()).collect()
    }

    fn publication(channel: &str, k: &[u8], v: &[u8]) -> Result<Publication, StoreError> {
        let e = decode_entry(v)
            .ok_or_else(|| StoreError::Corrupt(format!("entry {} of {channel:?}", offset_of(k))))?;
        Ok(Publication {
            channel: channel.to_string(),
            event: e.event,
            data: e.data,
            offset: offset_of(k),
            ts_ms: e.ts_ms,
        })
    }
}

/// Reads (or creates) the epoch state and applies the unsafe-start rule.
fn open_epochs(
    db: &Database,
    sys: &Keyspace,
    dir: &Path,
    boot: String,
) -> Result<Epochs, StoreError> {
    let read = |k: &str| -> Result<Option<u64>, StoreError> {
        Ok(sys
            .get(k)
            .map_err(io)?
            .and_then(|v| <[u8; 8]>::try_from(&v[..]).ok())
            .map(u64::from_be_bytes))
    };
    let instance = match read("instance")? {
        Some(i) => i,
        None => {
            let i = fastrand::u64(..);
            sys.insert("instance", i.to_be_bytes()).map_err(io)?;
            i
        }
    };
    let generation = read("generation")?.unwrap_or(0);
    let mut incarnation = read("incarnation")?.unwrap_or(0);
    let facts = StartFacts {
        unclean: sys.get("running").map_err(io)?.is_some(),
        stored_boot: sys.get("boot_id").map_err(io)?.map(|v| v.to_vec()),
        boot,
        stored_identity: read("identity")?,
        identity: start::identity_inode(dir).map_err(io)?,
    };
    if let Some(why) = facts.may_have_lost_writes() {
        incarnation += 1;
        tracing::warn!(
            incarnation,
            why,
            "the history store may have lost writes it handed out; every channel gets a new epoch"
        );
        sys.insert("incarnation", incarnation.to_be_bytes())
            .map_err(io)?;
    }
    sys.insert("boot_id", facts.boot.as_bytes()).map_err(io)?;
    sys.insert("identity", facts.identity.to_be_bytes())
        .map_err(io)?;
    sys.insert("running", [1u8]).map_err(io)?;
    db.persist(PersistMode::SyncAll).map_err(io)?;
    Ok(Epochs::new(instance, generation, incarnation))
}

/// Every log's state from `meta` (idle until subscribed).
fn load_logs(meta: &Keyspace) -> Result<HashMap<Box<str>, ChanState>, StoreError> {
    let mut logs = HashMap::new();
    for kv in meta.iter() {
        let (k, v) = kv.into_inner().map_err(io)?;
        let Ok(channel) = std::str::from_utf8(&k) else {
            continue;
        };
        let Some((base, last)) = decode_meta(&v) else {
            return Err(StoreError::Corrupt(format!("meta of {channel:?}")));
        };
        let st = ChanState {
            base,
            last,
            first: None,
            idle: true,
            touched: 0,
        };
        logs.insert(channel.into(), st);
    }
    Ok(logs)
}

fn open_keyspace(db: &Database, name: &str, budget: MemoryBudget) -> fjall::Result<Keyspace> {
    db.keyspace(name, || {
        KeyspaceCreateOptions::default().max_memtable_size(budget.memtable_bytes)
    })
}

fn spawn_sync_thread(
    db: Database,
    sync: Arc<SyncState>,
    every: Option<Duration>,
) -> Result<(), StoreError> {
    std::thread::Builder::new()
        .name("wavecast-fsync".into())
        .spawn(move || {
            let mut done = 0u64;
            while !sync.stop.load(Ordering::Acquire) {
                match every {
                    Some(d) => std::thread::sleep(d),
                    None => {
                        let mut g = sync.wake_lock.lock();
                        if sync.written.load(Ordering::Acquire) == done {
                            sync.wake.wait_for(&mut g, Duration::from_millis(100));
                        }
                    }
                }
                let written = sync.written.load(Ordering::Acquire);
                if written == done {
                    continue;
                }
                match db.persist(PersistMode::SyncData) {
                    Ok(()) => {
                        done = written;
                        sync.synced_tx.send_replace(written);
                    }
                    Err(e) => {
                        // What was written may not be on disk: fail every
                        // waiting and later write instead of acknowledging it.
                        tracing::error!(error = %e, "history fsync failed; the embedded store stops");
                        sync.failed.store(true, Ordering::Release);
                        sync.synced_tx.send_modify(|_| {});
                    }
                }
            }
        })
        .map_err(io)?;
    Ok(())
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        self.sync.stop.store(true, Ordering::Release);
        self.sync.wake.notify_all();
        let closed = self
            .db
            .persist(PersistMode::SyncAll)
            .and_then(|()| self.sys.remove("running"))
            .and_then(|()| self.db.persist(PersistMode::SyncAll));
        if let Err(e) = closed {
            tracing::error!(error = %e, "history store did not close cleanly");
        }
    }
}

impl HistoryStore for EmbeddedStore {
    fn append(&self, p: Append<'_>, retention: &Retention) -> Result<(u64, u64), StoreError> {
        let _order = self.write_order(p.channel);
        let Some(st) = self.state_of(p.channel, true)? else {
            return Err(StoreError::Unavailable("no log".into()));
        };
        let offset = st.last + 1;
        let mut batch = self.db.batch();
        batch.insert(
            &self.pubs,
            &key(p.channel, offset)[..],
            encode_entry(p.ts_ms, p.event, p.data),
        );
        batch.insert(&self.meta, p.channel, encode_meta(st.base, offset));
        if let Some(k) = p.idempotency_key {
            idem::record(&mut batch, &self.idem, p.channel, k, offset, p.ts_ms);
        }
        // Hand the write to the OS at once (no fsync): a killed process
        // loses nothing it acknowledged; only a machine crash can lose up
        // to one fsync interval, which the next start detects.
        batch = batch.durability(Some(PersistMode::Buffer));
        if self.sync.failed.load(Ordering::Acquire) {
            return Err(StoreError::Unavailable(super::STORE_STOPPED.into()));
        }
        batch.commit().map_err(|e| self.write_failed(&e))?;
        let seq = self.sync.written.fetch_add(1, Ordering::AcqRel) + 1;
        if self.sync.every_write {
            self.sync.wake.notify_one();
        }
        self.set_state(p.channel, |s| s.last = offset);
        if p.idempotency_key.is_some()
            && self.idem_recorded.fetch_add(1, Ordering::Relaxed) + 1 >= idem::SWEEP_EVERY
        {
            self.idem_recorded.store(0, Ordering::Relaxed);
            idem::sweep(&self.idem, p.ts_ms).map_err(io)?;
        }
        self.trim(p.channel, retention, p.ts_ms)?;
        Ok((offset, seq))
    }

    fn top(
        &self,
        channel: &str,
        retention: &Retention,
        now_ms: u64,
    ) -> Result<StreamTop, StoreError> {
        Ok(match self.trim(channel, retention, now_ms)? {
            Some(st) => StreamTop {
                offset: st.last,
                epoch: self.epochs.epoch(st.base),
                earliest: st.first.unwrap_or(st.last + 1),
            },
            None => StreamTop {
                offset: 0,
                epoch: self.epochs.epoch(self.epochs.new_base(channel)),
                earliest: 1,
            },
        })
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
        let Some(st) = self.trim(channel, retention, now_ms)? else {
            return Ok(Vec::new());
        };
        let first = st.first.unwrap_or(st.last + 1);
        let start = key(channel, since.saturating_add(1).max(first));
        let end = key(channel, u64::MAX);
        let (mut out, mut bytes) = (Vec::new(), 0usize);
        for kv in self.pubs.range(start..=end) {
            if out.len() >= limit || (bytes > 0 && bytes >= max_bytes) {
                break;
            }
            let (k, v) = kv.into_inner().map_err(io)?;
            let p = Self::publication(channel, &k, &v)?;
            bytes += p.data.len() + 1;
            if bytes > max_bytes && !out.is_empty() {
                break;
            }
            out.push(p);
        }
        Ok(out)
    }

    fn latest(
        &self,
        channel: &str,
        retention: &Retention,
        now_ms: u64,
    ) -> Result<Option<Publication>, StoreError> {
        let Some(st) = self.trim(channel, retention, now_ms)? else {
            return Ok(None);
        };
        if st.first.unwrap_or(st.last + 1) > st.last {
            return Ok(None);
        }
        let k = key(channel, st.last);
        match self.pubs.get(&k).map_err(io)? {
            Some(v) => Ok(Some(Self::publication(channel, &k, &v)?)),
            None => Ok(None),
        }
    }

    fn retain(&self, channel: &str) {
        let _order = self.write_order(channel);
        match self.state_of(channel, true) {
            Ok(_) => self.set_state(channel, |s| s.idle = false),
            Err(e) => {
                tracing::warn!(channel, error = %e, "history log not kept for a subscribed channel")
            }
        }
    }

    fn release(&self, channel: &str, retention: Option<&Retention>, now_ms: u64) {
        let _order = self.write_order(channel);
        self.set_state(channel, |s| s.idle = true);
        let st = match retention {
            Some(r) => self.trim(channel, r, now_ms),
            None => self.state_of(channel, false),
        };
        if let Ok(Some(st)) = st {
            if st.first.unwrap_or(st.last + 1) > st.last || retention.is_none() {
                if let Err(e) = self.drop_log(channel, &st) {
                    tracing::warn!(channel, error = %e, "history log not dropped");
                }
            }
        }
    }

    fn sweep(&self, retention_of: &dyn Fn(&str) -> Option<Retention>, now_ms: u64) -> usize {
        let idle: Vec<String> = {
            let logs = self.logs.lock();
            logs.iter()
                .filter(|(_, s)| s.idle)
                .map(|(k, _)| k.to_string())
                .collect()
        };
        let before = self.channels();
        for channel in idle {
            self.release(&channel, retention_of(&channel).as_ref(), now_ms);
        }
        before.saturating_sub(self.channels())
    }

    fn channels(&self) -> usize {
        self.logs.lock().len()
    }

    fn synced(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        self.sync
            .every_write
            .then(|| self.sync.synced_tx.subscribe())
    }

    fn may_block(&self) -> bool {
        true
    }

    fn healthy(&self) -> bool {
        !self.sync.failed.load(Ordering::Acquire)
    }

    fn idempotent(&self, channel: &str, key: &str, now_ms: u64) -> Result<Option<u64>, StoreError> {
        idem::lookup(&self.idem, channel, key, now_ms).map_err(io)
    }

    fn name(&self) -> &'static str {
        "embedded"
    }
}

#[cfg(test)]
mod tests;
