//! One connection's bounded outbound queue and its backpressure strategies.
//!
//! Publishers (the hub, handlers, HTTP) push shared, already-encoded frames
//! under a short per-connection lock; the connection's single writer pops
//! them in batches. Nobody holds this lock across a socket write.
//!
//! Limits:
//! - per namespace (`max_queue_messages`, `max_queue_bytes`) with its
//!   backpressure strategy, for publications;
//! - per connection, every queued byte (control frames included) counts
//!   against `limits.max_connection_queue_bytes`, and at most
//!   [`MAX_QUEUED_CONTROL`] control frames may wait. Past either, the
//!   connection is closed with 4008 "slow consumer".
//!
//! Control frames (replies, heartbeats) are never dropped. Every dropped
//! publication is counted per channel, and the client is told with one
//! `dropped` frame before the next frame it receives on that channel (or as
//! soon as the queue drains).
//!
//! While the writer is idle, the thread that delivers a publication may
//! write the queue to the socket itself ([`Outbound::push_or_claim`],
//! [`Outbound::flush_direct`]). Frames still leave in the order they were
//! pushed: a direct write takes the head of the queue only while the
//! writer holds no popped frames, and the writer pops nothing while a
//! direct write is in flight.

mod direct;
pub use direct::{DirectSocket, Flushed, Published};

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use parking_lot::Mutex;
use wavecast_protocol::CloseCode;

use super::subs::{SubStats, SubTable};
use crate::config::{Backpressure, NamespaceConfig};

/// Control frames (replies, heartbeats, personal messages) that may wait in
/// one queue. They are never dropped; a client that lets this many pile up
/// without reading is closed with 4008 "slow consumer".
pub const MAX_QUEUED_CONTROL: usize = 10_000;

/// A frame waiting in the queue.
#[derive(Debug, Clone)]
struct Queued {
    bytes: Bytes,
    /// The channel of a publication; `None` for control frames.
    channel: Option<Arc<str>>,
    /// When the publication was accepted, for the latency histogram.
    published_at: Option<Instant>,
    /// A history page: while one is queued, no other page is read.
    history: bool,
    /// The rest of a frame a direct write sent in part: it is written
    /// before anything else, even before a close frame, and never dropped.
    rest: bool,
    /// The publication's offset (0: a control frame, or no history).
    offset: u64,
}

/// A frame handed to the writer.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub bytes: Bytes,
    /// When the publication was accepted, for the latency histogram.
    pub published_at: Option<Instant>,
    /// The channel of a publication (`None`: a control frame).
    pub channel: Option<Arc<str>>,
    /// The publication's offset (0: a control frame, or no history); an
    /// SSE stream makes its event ids from these.
    pub offset: u64,
    /// The rest of a frame a direct write sent in part: it must be written
    /// whole before anything else, even a close frame.
    pub rest: bool,
}

/// What became of a pushed publication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PushOutcome {
    /// The publication is in the queue.
    pub queued: bool,
    /// Publications dropped by this push (the new one or evicted ones).
    pub dropped: u64,
    /// The `disconnect` strategy fired: the connection is being closed.
    pub disconnected: bool,
    /// The publication is queued and the writer was not woken: the caller
    /// flushes the queue itself ([`Outbound::flush_direct`]).
    pub claimed: bool,
}

/// A request to close the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseRequest {
    pub code: CloseCode,
    /// Write what is queued before the close frame.
    pub flush: bool,
}

#[derive(Default)]
struct State {
    frames: VecDeque<Queued>,
    bytes: usize,
    publications: usize,
    subs: SubTable,
    /// Number of subscriptions with drops not yet announced.
    pending_notices: usize,
    dropped_total: u64,
    close: Option<CloseRequest>,
    history_queued: bool,
    /// The writer holds popped frames it has not finished writing.
    writer_busy: bool,
    /// A direct write is in flight (outside the lock): the writer pops
    /// nothing until it ends.
    direct: bool,
    /// The socket a publication may be written to directly (see
    /// [`Outbound::flush_direct`]); `None` once the session detached it.
    socket: Option<std::os::fd::RawFd>,
}

/// The outbound side of one connection.
pub struct Outbound {
    state: Mutex<State>,
    waker: AtomicWaker,
    closing: AtomicBool,
    /// The writer is coalescing: publications do not wake it (its timer
    /// will); control frames and close requests still do.
    holding: AtomicBool,
    /// Bytes this queue may hold in all (control frames included).
    /// (Kept in 32 bits: a budget past 4 GiB counts as 4 GiB.)
    budget: u32,
}

impl Default for Outbound {
    fn default() -> Self {
        Outbound::new(usize::MAX)
    }
}

impl Outbound {
    fn budget(&self) -> usize {
        self.budget as usize
    }

    /// A queue that may hold up to `budget` bytes.
    pub fn new(budget: usize) -> Outbound {
        Outbound {
            state: Mutex::new(State::default()),
            waker: AtomicWaker::new(),
            closing: AtomicBool::new(false),
            holding: AtomicBool::new(false),
            budget: u32::try_from(budget).unwrap_or(u32::MAX),
        }
    }

    /// Registers the writer task to be woken when frames arrive.
    pub fn register(&self, waker: &std::task::Waker) {
        self.waker.register(waker);
    }

    /// Whether new publications wake the writer: `true` while it holds
    /// frames back to coalesce them (it has a timer for the flush).
    pub fn set_holding(&self, holding: bool) {
        if self.holding.load(Ordering::Relaxed) != holding {
            self.holding.store(holding, Ordering::Relaxed);
        }
    }

    /// Adds a subscription; false if it already existed.
    pub fn add_sub(&self, channel: Arc<str>) -> bool {
        self.state.lock().subs.insert(channel)
    }

    pub fn is_subscribed(&self, channel: &str) -> bool {
        self.state.lock().subs.contains(channel)
    }

    /// Publications of `channel` at or below `offset` are covered by the
    /// subscription's start (see [`SubStats::floor`]).
    pub fn set_floor(&self, channel: &str, offset: u64) {
        if let Some(sub) = self.state.lock().subs.get_mut(channel) {
            sub.floor = sub.floor.max(offset);
        }
    }

    pub fn subscription_count(&self) -> usize {
        self.state.lock().subs.len()
    }

    /// Removes a subscription and discards its queued publications, so no
    /// frame of the channel reaches the client after `unsubscribe_success`.
    pub fn remove_sub(&self, channel: &str) -> Option<SubStats> {
        let mut st = self.state.lock();
        let stats = st.subs.remove(channel)?;
        if stats.pending_dropped > 0 {
            st.pending_notices -= 1;
        }
        let st = &mut *st;
        let (mut bytes, mut pubs) = (0, 0);
        st.frames.retain(|f| {
            let keep = f.channel.as_deref() != Some(channel);
            if !keep {
                bytes += f.bytes.len();
                pubs += 1;
            }
            keep
        });
        st.bytes -= bytes;
        st.publications -= pubs;
        Some(stats)
    }

    /// Removes a subscription but leaves its queued publications to be
    /// written (a stream that ended by itself: its last frames still go
    /// out). Their count is included in the returned `sent`.
    pub fn remove_sub_keep_queued(&self, channel: &str) -> Option<SubStats> {
        let mut st = self.state.lock();
        let mut stats = st.subs.remove(channel)?;
        if stats.pending_dropped > 0 {
            st.pending_notices -= 1;
        }
        let queued = st
            .frames
            .iter()
            .filter(|f| f.channel.as_deref() == Some(channel))
            .count();
        stats.sent += queued as u64;
        Some(stats)
    }

    /// Removes every subscription, returning their stats.
    pub fn take_subs(&self) -> Vec<(Arc<str>, SubStats)> {
        let mut st = self.state.lock();
        st.pending_notices = 0;
        st.subs.drain()
    }

    /// The channels this connection is subscribed to.
    pub fn channels(&self) -> Vec<Arc<str>> {
        self.state.lock().subs.keys()
    }

    /// Total publications dropped on this connection.
    pub fn dropped_total(&self) -> u64 {
        self.state.lock().dropped_total
    }

    /// Queued frames and bytes, for tests and stats.
    pub fn depth(&self) -> (usize, usize) {
        let st = self.state.lock();
        (st.frames.len(), st.bytes)
    }

    /// Bytes the queue can still take before its budget is spent.
    pub fn room_left(&self) -> usize {
        self.budget().saturating_sub(self.state.lock().bytes)
    }

    /// Whether a history page is still waiting to be written.
    pub fn history_queued(&self) -> bool {
        self.state.lock().history_queued
    }

    /// Queues a control frame (never dropped; see [`MAX_QUEUED_CONTROL`]).
    pub fn push_control(&self, bytes: Bytes) {
        self.push_control_frame(bytes, false);
    }

    /// Queues a history page: a control frame that marks a page in flight.
    pub fn push_history(&self, bytes: Bytes) {
        self.push_control_frame(bytes, true);
    }

    fn push_control_frame(&self, bytes: Bytes, history: bool) {
        {
            let mut st = self.state.lock();
            if st.close.is_some() {
                return;
            }
            let over_count = st.frames.len() - st.publications >= MAX_QUEUED_CONTROL;
            if over_count || st.bytes + bytes.len() > self.budget() {
                self.close_locked(&mut st, CloseCode::SlowConsumer, false);
                drop(st);
                self.waker.wake();
                return;
            }
            st.bytes += bytes.len();
            st.history_queued |= history;
            st.frames.push_back(Queued {
                bytes,
                channel: None,
                published_at: None,
                history,
                rest: false,
                offset: 0,
            });
        }
        self.waker.wake();
    }

    /// Queues a publication of `channel` (at `offset`, 0 without
    /// history), applying the namespace's limits and strategy when the
    /// queue is full.
    pub fn push_publication(
        &self,
        channel: &Arc<str>,
        bytes: &Bytes,
        offset: u64,
        published_at: Instant,
        policy: &NamespaceConfig,
    ) -> PushOutcome {
        let out = self.push_publication_quiet(channel, bytes, offset, published_at, policy);
        self.wake_after_push(&out);
        out
    }

    /// Wakes the writer for a pushed publication, unless it holds writes
    /// (coalescing: it wakes itself).
    fn wake_after_push(&self, out: &PushOutcome) {
        if out.disconnected || (out.queued && !self.holding.load(Ordering::Relaxed)) {
            self.waker.wake();
        }
    }

    /// Like [`Outbound::push_publication`], but leaves waking the writer
    /// to the caller, who takes its waker with [`Outbound::take_waker`]:
    /// a thread that queues frames for many connections wakes their
    /// writers once, after the batch.
    pub fn push_publication_quiet(
        &self,
        channel: &Arc<str>,
        bytes: &Bytes,
        offset: u64,
        published_at: Instant,
        policy: &NamespaceConfig,
    ) -> PushOutcome {
        let mut st = self.state.lock();
        if !st.admits(channel, offset) {
            return PushOutcome::default();
        }
        self.queue_locked(&mut st, channel, bytes, offset, published_at, policy)
    }

    /// Queues an admitted publication (see [`State::admits`]), applying
    /// the namespace's limits and strategy.
    fn queue_locked(
        &self,
        st: &mut State,
        channel: &Arc<str>,
        bytes: &Bytes,
        offset: u64,
        published_at: Instant,
        policy: &NamespaceConfig,
    ) -> PushOutcome {
        let mut out = PushOutcome::default();
        if !self.make_room(st, channel, bytes.len(), policy, &mut out) || out.disconnected {
            return out;
        }
        st.bytes += bytes.len();
        st.publications += 1;
        st.frames.push_back(Queued {
            bytes: bytes.clone(),
            channel: Some(channel.clone()),
            published_at: Some(published_at),
            history: false,
            rest: false,
            offset,
        });
        out.queued = true;
        out
    }

    /// Wakes the writer (for frames a caller claimed but did not write).
    pub fn wake_writer(&self) {
        self.waker.wake();
    }

    /// Takes the writer's waker (`None` when the writer is running or
    /// already woken): wake it once the frames are queued.
    pub fn take_waker(&self) -> Option<std::task::Waker> {
        self.waker.take()
    }

    /// Applies the strategy until `len` more bytes fit. False when the new
    /// publication is dropped instead (drop_newest, or nothing to evict).
    fn make_room(
        &self,
        st: &mut State,
        channel: &Arc<str>,
        len: usize,
        policy: &NamespaceConfig,
        out: &mut PushOutcome,
    ) -> bool {
        let full = |st: &State| {
            st.publications + 1 > policy.max_queue_messages
                || (st.bytes + len > policy.max_queue_bytes.min(self.budget())
                    && st.publications > 0)
        };
        while full(st) {
            let freed = match policy.backpressure {
                Backpressure::DropNewest => false,
                Backpressure::Disconnect => {
                    st.count_drop(channel);
                    out.dropped += 1;
                    out.disconnected = true;
                    self.close_locked(st, CloseCode::SlowConsumer, false);
                    return true;
                }
                Backpressure::DropOldest => st.evict_oldest(out),
                Backpressure::Sample => st.thin(policy.sample_every, out) || st.evict_oldest(out),
            };
            if !freed {
                st.count_drop(channel);
                out.dropped += 1;
                return false;
            }
        }
        if st.bytes + len > self.budget() {
            // Control frames alone fill the budget: the client is not reading.
            self.close_locked(st, CloseCode::SlowConsumer, false);
            out.disconnected = true;
        }
        true
    }

    /// Moves frames to `out` until about `max_bytes` are taken, inserting
    /// `dropped` notices (built by `notice`) where due.
    pub fn pop_batch(
        &self,
        out: &mut VecDeque<Outgoing>,
        max_frames: usize,
        max_bytes: usize,
        notice: impl Fn(&str, u64) -> Bytes,
    ) {
        let mut st = self.state.lock();
        if st.direct {
            // A direct write is in flight; it wakes the writer when done.
            return;
        }
        st.take(out, max_frames, max_bytes, notice);
        st.writer_busy = !out.is_empty();
    }

    /// Asks the writer to close the connection. The first request wins.
    pub fn request_close(&self, code: CloseCode, flush: bool) {
        {
            let mut st = self.state.lock();
            if st.close.is_some() {
                return;
            }
            self.close_locked(&mut st, code, flush);
        }
        self.waker.wake();
    }

    fn close_locked(&self, st: &mut State, code: CloseCode, flush: bool) {
        if st.close.is_some() {
            return;
        }
        st.close = Some(CloseRequest { code, flush });
        if !flush {
            // Only the rest of a half-written frame stays (the close frame
            // may not follow half a frame).
            let rest = st.frames.pop_front().filter(|f| f.rest);
            st.frames.clear();
            st.bytes = rest.as_ref().map_or(0, |f| f.bytes.len());
            st.frames.extend(rest);
            st.publications = 0;
            st.history_queued = false;
        }
        self.closing.store(true, Ordering::Release);
    }

    /// The pending close request, if any (cheap when there is none).
    pub fn close_request(&self) -> Option<CloseRequest> {
        if !self.closing.load(Ordering::Acquire) {
            return None;
        }
        self.state.lock().close
    }

    /// Takes the rest of a frame a direct write sent in part, if it is
    /// still queued: the writer writes it before its close frame.
    pub fn take_rest(&self) -> Option<Bytes> {
        let mut st = self.state.lock();
        if !st.frames.front().is_some_and(|f| f.rest) {
            return None;
        }
        let f = st.frames.pop_front()?;
        st.bytes -= f.bytes.len();
        Some(f.bytes)
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        let st = self.state.lock();
        st.frames.is_empty() && st.pending_notices == 0
    }
}

impl State {
    /// Moves frames to `out` until about `max_bytes` are taken, inserting
    /// `dropped` notices (built by `notice`) where due.
    fn take(
        &mut self,
        out: &mut VecDeque<Outgoing>,
        max_frames: usize,
        max_bytes: usize,
        notice: impl Fn(&str, u64) -> Bytes,
    ) {
        let st = self;
        let mut taken = 0;
        while taken < max_bytes && out.len() < max_frames {
            let Some(f) = st.frames.pop_front() else {
                break;
            };
            st.bytes -= f.bytes.len();
            taken += f.bytes.len();
            if f.history {
                st.history_queued = st.frames.iter().any(|q| q.history);
            }
            if let Some(ch) = &f.channel {
                st.publications -= 1;
                if let Some(sub) = st.subs.get_mut(ch) {
                    if sub.pending_dropped > 0 {
                        out.push_back(Outgoing {
                            bytes: notice(ch, sub.pending_dropped),
                            published_at: None,
                            channel: None,
                            offset: 0,
                            rest: false,
                        });
                        sub.pending_dropped = 0;
                        st.pending_notices -= 1;
                    }
                    sub.sent += 1;
                }
            }
            out.push_back(Outgoing {
                bytes: f.bytes,
                published_at: f.published_at,
                channel: f.channel,
                offset: f.offset,
                rest: f.rest,
            });
        }
        if st.frames.is_empty() {
            // Give the allocation back: idle connections stay small.
            st.frames = VecDeque::new();
        }
        if st.frames.is_empty() && st.pending_notices > 0 {
            for (ch, sub) in st.subs.iter_mut() {
                if sub.pending_dropped > 0 {
                    out.push_back(Outgoing {
                        bytes: notice(ch, sub.pending_dropped),
                        published_at: None,
                        channel: None,
                        offset: 0,
                        rest: false,
                    });
                    sub.pending_dropped = 0;
                }
            }
            st.pending_notices = 0;
        }
    }

    /// Whether a publication of `channel` at `offset` is taken: the
    /// connection is subscribed, not closing, and the subscription's start
    /// did not already cover the offset.
    fn admits(&self, channel: &str, offset: u64) -> bool {
        let covered = match self.subs.get(channel) {
            None => true,
            Some(sub) => offset > 0 && offset <= sub.floor,
        };
        self.close.is_none() && !covered
    }

    fn count_drop(&mut self, channel: &str) {
        self.dropped_total += 1;
        if let Some(sub) = self.subs.get_mut(channel) {
            if sub.pending_dropped == 0 {
                self.pending_notices += 1;
            }
            sub.pending_dropped += 1;
            sub.dropped += 1;
        }
    }

    /// Drops the oldest queued publication; false if there is none.
    fn evict_oldest(&mut self, out: &mut PushOutcome) -> bool {
        let Some(idx) = self.frames.iter().position(|f| f.channel.is_some()) else {
            return false;
        };
        let Some(f) = self.frames.remove(idx) else {
            return false;
        };
        self.bytes -= f.bytes.len();
        self.publications -= 1;
        if let Some(ch) = f.channel {
            self.count_drop(&ch);
        }
        out.dropped += 1;
        true
    }

    /// Keeps every `n`-th queued publication, counting from the newest so
    /// the latest state survives; false if nothing could be dropped.
    fn thin(&mut self, n: usize, out: &mut PushOutcome) -> bool {
        if self.publications < 2 {
            return false;
        }
        let mut seen_from_end = 0usize;
        let mut removed: Vec<Arc<str>> = Vec::new();
        let mut bytes = 0;
        let mut kept = VecDeque::with_capacity(self.frames.len() / n.max(1) + 8);
        while let Some(f) = self.frames.pop_back() {
            match &f.channel {
                Some(ch) => {
                    let keep = seen_from_end.is_multiple_of(n.max(1));
                    seen_from_end += 1;
                    if keep {
                        kept.push_front(f);
                    } else {
                        bytes += f.bytes.len();
                        removed.push(ch.clone());
                    }
                }
                None => kept.push_front(f),
            }
        }
        self.frames = kept;
        self.bytes -= bytes;
        self.publications -= removed.len();
        out.dropped += removed.len() as u64;
        for ch in &removed {
            self.count_drop(ch);
        }
        !removed.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(b: Backpressure, max: usize) -> NamespaceConfig {
        NamespaceConfig {
            backpressure: b,
            max_queue_messages: max,
            ..NamespaceConfig::default()
        }
    }

    fn notice(ch: &str, n: u64) -> Bytes {
        Bytes::from(format!("dropped {ch} {n}"))
    }

    fn drain(q: &Outbound) -> Vec<String> {
        let mut out = VecDeque::new();
        q.pop_batch(&mut out, usize::MAX, usize::MAX, notice);
        out.into_iter()
            .map(|o| String::from_utf8(o.bytes.to_vec()).unwrap())
            .collect()
    }

    fn fill(q: &Outbound, ch: &Arc<str>, n: usize, p: &NamespaceConfig) -> u64 {
        (0..n)
            .map(|i| {
                q.push_publication(ch, &Bytes::from(format!("m{i}")), 0, Instant::now(), p)
                    .dropped
            })
            .sum()
    }

    #[test]
    fn drop_oldest_keeps_latest_and_announces() {
        let q = Outbound::default();
        let ch: Arc<str> = "a".into();
        q.add_sub(ch.clone());
        let p = policy(Backpressure::DropOldest, 3);
        assert_eq!(fill(&q, &ch, 5, &p), 2);
        let got = drain(&q);
        assert_eq!(got[0], "dropped a 2");
        assert_eq!(&got[1..], ["m2", "m3", "m4"]);
        assert!(q.is_empty());
    }

    #[test]
    fn offsets_the_subscription_start_covered_are_not_queued_again() {
        let q = Outbound::default();
        let ch: Arc<str> = "a".into();
        q.add_sub(ch.clone());
        q.set_floor(&ch, 5);
        let p = policy(Backpressure::DropOldest, 10);
        let push = |o: u64| {
            let frame = Bytes::from(format!("m{o}"));
            q.push_publication(&ch, &frame, o, Instant::now(), &p)
                .queued
        };
        assert!(!push(4), "below the floor");
        assert!(!push(5), "at the floor: the reply's position covered it");
        assert!(push(6));
        assert!(push(0), "no offset (no history): always queued");
        assert_eq!(drain(&q), ["m6", "m0"]);
    }

    #[test]
    fn drop_newest_keeps_first() {
        let q = Outbound::default();
        let ch: Arc<str> = "a".into();
        q.add_sub(ch.clone());
        assert_eq!(fill(&q, &ch, 5, &policy(Backpressure::DropNewest, 3)), 2);
        let got = drain(&q);
        // The notice comes before the next frame the client gets on the
        // channel, which for drop_newest is the oldest queued one.
        assert_eq!(got[0], "dropped a 2");
        assert_eq!(&got[1..], ["m0", "m1", "m2"]);
    }

    #[test]
    fn sample_thins_and_counts() {
        let q = Outbound::default();
        let ch: Arc<str> = "a".into();
        q.add_sub(ch.clone());
        let dropped = fill(&q, &ch, 100, &policy(Backpressure::Sample, 10));
        let got = drain(&q);
        let pubs = got.iter().filter(|m| m.starts_with('m')).count() as u64;
        assert_eq!(pubs + dropped, 100);
        assert_eq!(got.last().map(String::as_str), Some("m99"));
    }

    #[test]
    fn disconnect_requests_close() {
        let q = Outbound::default();
        let ch: Arc<str> = "a".into();
        q.add_sub(ch.clone());
        fill(&q, &ch, 4, &policy(Backpressure::Disconnect, 3));
        assert_eq!(
            q.close_request(),
            Some(CloseRequest {
                code: CloseCode::SlowConsumer,
                flush: false
            })
        );
    }

    #[test]
    fn control_frames_survive_and_unsubscribe_purges() {
        let q = Outbound::default();
        let ch: Arc<str> = "a".into();
        q.add_sub(ch.clone());
        q.push_control(Bytes::from_static(b"ctl"));
        let p = policy(Backpressure::DropOldest, 2);
        fill(&q, &ch, 5, &p);
        q.remove_sub("a");
        assert_eq!(drain(&q), ["ctl"]);
        assert_eq!(q.depth(), (0, 0));
    }

    #[test]
    fn control_bytes_count_against_the_budget() {
        let q = Outbound::new(100);
        for _ in 0..3 {
            q.push_control(Bytes::from(vec![b'x'; 30]));
        }
        assert_eq!(q.close_request(), None);
        q.push_control(Bytes::from(vec![b'x'; 30]));
        assert_eq!(
            q.close_request().map(|c| c.code),
            Some(CloseCode::SlowConsumer)
        );
        assert_eq!(q.depth(), (0, 0), "a non-flushing close frees the queue");
    }

    #[test]
    fn a_history_page_is_in_flight_until_popped() {
        let q = Outbound::default();
        q.push_history(Bytes::from_static(b"page"));
        assert!(q.history_queued());
        assert_eq!(drain(&q), ["page"]);
        assert!(!q.history_queued());
    }
}
