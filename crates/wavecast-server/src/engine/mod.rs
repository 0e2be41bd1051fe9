//! History storage engines. Each channel with history has a log of
//! publications with offsets that grow by 1, and an epoch that changes
//! when the log was lost. Callers serialize appends per channel (the hub's
//! stripe lock), so an engine only needs to be safe across channels.
//!
//! - [`memory`]: in process, lost on restart (a new epoch after restart).
//! - [`embedded`]: persistent, fjall under `data_dir`, group commit.

pub mod embedded;
pub mod memory;
pub mod redis;

/// One stored publication.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPublication {
    pub offset: u64,
    pub event: String,
    /// The publication's `data`, as JSON text.
    pub data: String,
    /// When it was accepted, ms since the epoch.
    pub ts_ms: u64,
}

/// The top of a channel's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamTop {
    /// The last offset handed out (0: none yet).
    pub offset: u64,
    pub epoch: String,
    /// The oldest offset still retained; `offset + 1` when none is.
    pub earliest: u64,
}

/// How much history a namespace keeps: defined by the configuration.
pub use crate::config::Retention;

/// A storage failure.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineError(pub String);

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EngineError {}

/// A history store.
pub trait Engine: Send + Sync {
    /// Appends a publication and returns its offset.
    fn append(
        &self,
        channel: &str,
        event: &str,
        data: &str,
        ts_ms: u64,
        retention: &Retention,
    ) -> Result<u64, EngineError>;

    /// The channel's log top (creating its epoch if it has none).
    fn top(
        &self,
        channel: &str,
        retention: &Retention,
        now_ms: u64,
    ) -> Result<StreamTop, EngineError>;

    /// Up to `limit` publications with offset > `since`, oldest first.
    fn read(
        &self,
        channel: &str,
        since: u64,
        limit: usize,
        retention: &Retention,
        now_ms: u64,
    ) -> Result<Vec<StoredPublication>, EngineError>;

    /// The newest retained publication.
    fn latest(
        &self,
        channel: &str,
        retention: &Retention,
        now_ms: u64,
    ) -> Result<Option<StoredPublication>, EngineError>;

    /// `memory` or `embedded`.
    fn name(&self) -> &'static str;
}

/// A new random epoch.
pub fn new_epoch() -> String {
    format!("{:016x}", fastrand::u64(..))
}
