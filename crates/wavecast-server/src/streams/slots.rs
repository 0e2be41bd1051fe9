//! The bookkeeping of running streams: each connection's streams with
//! their cancel flags ([`ConnStreams`]), the per-process count
//! ([`StreamCounter`], [`StreamSlot`]) beside the process's simulation
//! pool, and the audit record of a stream that ended.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use parking_lot::Mutex;

use super::pool::SimPool;
use crate::audit;
use crate::config::StreamsConfig;
use crate::conn::subs::SubStats;
use crate::conn::Connection;

/// The channel-like key under which a stream's frames are queued.
pub fn queue_key(stream_id: &str) -> String {
    format!("stream:{stream_id}")
}

/// A running stream.
pub(super) struct StreamHandle {
    pub(super) cancel: Arc<AtomicBool>,
    pub(super) started: Instant,
    pub(super) stream_type: &'static str,
}

/// The streams of one connection, shared with their tasks.
#[derive(Default)]
pub struct ConnStreams {
    pub(super) running: Mutex<HashMap<String, StreamHandle>>,
}

impl ConnStreams {
    pub(super) fn count(&self) -> usize {
        self.running.lock().len()
    }

    /// Forgets a stream that ended by itself, with its audit record. Its
    /// frames still queued are written (they may wait for the simulation
    /// pool's batched wake-up).
    pub fn finished(&self, conn: &Connection, id: &str, reason: &str) {
        if let Some(h) = self.running.lock().remove(id) {
            let stats = conn.outbound.remove_sub_keep_queued(&queue_key(id));
            audit_end(conn, id, &h, reason, stats);
        }
    }
}

/// Streams running in this process, for the per-server limit, and the
/// pool that runs them (started with the first stream).
#[derive(Default)]
pub struct StreamCounter(Arc<AtomicUsize>, OnceLock<SimPool>);

/// Holds one slot of the per-server limit.
pub struct StreamSlot(Arc<AtomicUsize>);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl StreamCounter {
    pub(super) fn try_take(&self, max: usize) -> Option<StreamSlot> {
        let mut cur = self.0.load(Ordering::Acquire);
        loop {
            if cur >= max {
                return None;
            }
            match self
                .0
                .compare_exchange(cur, cur + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Some(StreamSlot(self.0.clone())),
                Err(now) => cur = now,
            }
        }
    }

    pub fn running(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }

    /// The simulation pool, started on first use with `cfg`'s `workers`
    /// and `worker_nice`.
    pub fn pool(&self, cfg: &StreamsConfig) -> &SimPool {
        self.1
            .get_or_init(|| SimPool::start(cfg.workers, cfg.worker_nice))
    }
}

/// The audit record of a stream that was stopped (unsubscribe,
/// disconnect): its queued frames are discarded.
pub(super) fn end_record(conn: &Connection, stream_id: &str, h: &StreamHandle, reason: &str) {
    let stats = conn.outbound.remove_sub(&queue_key(stream_id));
    audit_end(conn, stream_id, h, reason, stats);
}

fn audit_end(
    conn: &Connection,
    stream_id: &str,
    h: &StreamHandle,
    reason: &str,
    stats: Option<SubStats>,
) {
    audit::stream_ended(&audit::StreamEnded {
        connection_id: &conn.id,
        stream_id,
        stream_type: h.stream_type,
        stream_duration_seconds: h.started.elapsed().as_secs_f64(),
        packets_sent: stats.map_or(0, |s| s.sent),
        dropped_frames: stats.map_or(0, |s| s.dropped),
        reason,
    });
}
