//! History stores: each channel with history has a log of publications
//! whose offsets grow by 1, and an epoch that changes whenever the log may
//! have lost what it handed out (so clients are told instead of resuming
//! across a silent gap).
//!
//! - [`memory`]: in process, lost on restart (every epoch changes).
//! - [`embedded`]: persistent, fjall under `data_dir`, group commit.
//! - [`epochs`]: how epochs are derived, for logs that exist and for
//!   channels that have none yet.
//!
//! Invariants:
//! - callers serialize appends per channel (the local broker's channel
//!   lock), so a store only needs to be safe across channels;
//! - a store keeps state only for channels that have retained publications
//!   or local subscribers ([`HistoryStore::retain`]/[`HistoryStore::release`]),
//!   and at most `history.max_channels` logs in all, so unique channel
//!   names cannot grow memory or disk without bound;
//! - stored `data` is served as the exact bytes that were stored, never
//!   re-parsed.

pub mod embedded;
pub mod epochs;
pub mod memory;

pub use crate::config::Retention;
use wavecast_protocol::Publication;

/// The top of a channel's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamTop {
    /// The last offset handed out (0: none yet).
    pub offset: u64,
    pub epoch: String,
    /// The oldest offset still retained; `offset + 1` when none is.
    pub earliest: u64,
}

/// Why a history operation failed; callers can match on the kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The store (or Redis) cannot be reached.
    Unavailable(String),
    /// The operation took too long; for a publish, it may still have happened.
    Timeout(String),
    /// Stored bytes could not be decoded.
    Corrupt(String),
    /// The file system refused (disk full, permissions).
    Io(String),
    /// `history.max_channels` logs exist and none can be evicted.
    Full(usize),
}

impl StoreError {
    /// The stable label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::Unavailable(_) => "unavailable",
            StoreError::Timeout(_) => "timeout",
            StoreError::Corrupt(_) => "corrupt",
            StoreError::Io(_) => "io",
            StoreError::Full(_) => "full",
        }
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Unavailable(m) => write!(f, "history unavailable: {m}"),
            StoreError::Timeout(m) => write!(f, "history timeout: {m}"),
            StoreError::Corrupt(m) => write!(f, "history corrupt: {m}"),
            StoreError::Io(m) => write!(f, "history i/o error: {m}"),
            StoreError::Full(n) => write!(
                f,
                "history holds {n} channel logs (history.max_channels) and none is idle"
            ),
        }
    }
}

impl std::error::Error for StoreError {}

/// The `Unavailable` reason of a write refused by a store that stopped
/// after a failed write or fsync (disk full): nothing was written.
pub const STORE_STOPPED: &str = "the embedded store stopped after a write or fsync failed (disk full? see the log); free space and restart the process";

/// The `Unavailable` reason of a publication whose fsync failed: it was
/// written and delivered but may not survive a crash, so it is not
/// acknowledged.
pub const FSYNC_FAILED: &str =
    "the history fsync failed; the publication may have been made and the embedded store stopped";

/// A publication to append.
#[derive(Debug, Clone, Copy)]
pub struct Append<'a> {
    pub channel: &'a str,
    pub event: &'a str,
    pub data: &'a [u8],
    pub ts_ms: u64,
    /// The publish's idempotency key, which a durable store records with
    /// the publication ([`HistoryStore::idempotent`]).
    pub idempotency_key: Option<&'a str>,
}

/// A history store. Every method is quick (memory, or an LSM memtable);
/// durability waits go through [`HistoryStore::synced`].
pub trait HistoryStore: Send + Sync {
    /// Appends a publication; returns its offset and a write sequence
    /// number to wait on with [`HistoryStore::synced`].
    fn append(&self, p: Append<'_>, retention: &Retention) -> Result<(u64, u64), StoreError>;

    /// The channel's log top. A channel without a log gets the top its
    /// first append will continue from (offset 0), without creating state.
    fn top(
        &self,
        channel: &str,
        retention: &Retention,
        now_ms: u64,
    ) -> Result<StreamTop, StoreError>;

    /// Up to `limit` publications with offset > `since`, oldest first, and
    /// at most about `max_bytes` of data (at least one when any is left).
    fn read(
        &self,
        channel: &str,
        since: u64,
        limit: usize,
        max_bytes: usize,
        retention: &Retention,
        now_ms: u64,
    ) -> Result<Vec<Publication>, StoreError>;

    /// The newest retained publication.
    fn latest(
        &self,
        channel: &str,
        retention: &Retention,
        now_ms: u64,
    ) -> Result<Option<Publication>, StoreError>;

    /// The channel has local subscribers: keep its log.
    fn retain(&self, channel: &str);

    /// The channel has no local subscribers left: its log may go once it
    /// retains no publication.
    fn release(&self, channel: &str, retention: Option<&Retention>, now_ms: u64);

    /// Drops the logs of released channels whose publications all expired.
    /// Returns how many went.
    fn sweep(&self, retention_of: &dyn Fn(&str) -> Option<Retention>, now_ms: u64) -> usize;

    /// Channel logs held now.
    fn channels(&self) -> usize;

    /// When the store syncs every write (`fsync = "always"`): the sequence
    /// number of the last durable write, to wait on before acknowledging.
    fn synced(&self) -> Option<tokio::sync::watch::Receiver<u64>>;

    /// Whether reads may block on disk (run them off the async workers).
    fn may_block(&self) -> bool;

    /// Whether writes can succeed: false once a store has failed for good
    /// (the embedded store after a failed write or fsync), for `/ready`.
    fn healthy(&self) -> bool {
        true
    }

    /// The offset of the publication stored with idempotency `key` in
    /// `channel` recently, if the store records keys durably (the
    /// embedded store does; the memory store has only the broker's cache).
    fn idempotent(&self, channel: &str, key: &str, now_ms: u64) -> Result<Option<u64>, StoreError> {
        let _ = (channel, key, now_ms);
        Ok(None)
    }

    /// `memory` or `embedded`.
    fn name(&self) -> &'static str;
}
