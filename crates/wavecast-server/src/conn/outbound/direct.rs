//! Direct writes: publications written to the socket by the thread that
//! delivered them, while the connection's writer is idle, so a quiet
//! subscriber's delivery costs one system call and no task wake-up.
//!
//! A delivery first queues the frame as usual ([`Outbound::push_or_claim`]);
//! when the writer is idle the pusher, instead of waking it, flushes the
//! queue itself after it has released every lock of its own
//! ([`Outbound::flush_direct`]). Only plain TCP sockets take part (a TLS
//! stream's records belong to its session). The session attaches the
//! socket's descriptor when it starts and detaches it before it writes its
//! close frame or drops the socket.
//!
//! Invariants:
//! - frames leave in the order they were queued: a flush takes the head of
//!   the queue only while the writer holds no popped frames, and the writer
//!   pops nothing while a flush is in flight;
//! - no lock is held across the write: the `direct` flag marks the flush
//!   in flight, and detaching waits for it to end, so the descriptor is
//!   never written after the socket closed;
//! - the write never blocks (`MSG_DONTWAIT`): what a full socket did not
//!   take goes back to the head of the queue, as frames nothing may drop,
//!   and the writer is woken for it.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::{Outbound, Outgoing, PushOutcome, Queued, State};
use crate::config::NamespaceConfig;

/// Frames per direct write.
const FLUSH_FRAMES: usize = 64;
/// Bytes per direct write (about).
const FLUSH_BYTES: usize = 256 * 1024;

/// A stream whose socket a delivering thread may write whole frames to
/// while the session's writer is idle.
pub trait DirectSocket {
    /// The socket's descriptor, if frames may be written to it directly
    /// (plain TCP; `None` for TLS).
    fn direct_fd(&self) -> Option<RawFd>;
}

/// A publication's place and time: its offset (0 without history) and
/// when it was accepted.
#[derive(Debug, Clone, Copy)]
pub struct Published {
    pub offset: u64,
    pub at: Instant,
}

/// What one direct flush wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flushed {
    /// System calls that wrote something (0 or 1).
    pub writes: u64,
    /// Frames written whole, of which `deliveries` were publications.
    pub frames: u64,
    pub deliveries: u64,
    /// Bytes written (a frame sent in part counts its part).
    pub bytes: u64,
    /// When the oldest of those deliveries was accepted.
    pub oldest: Option<Instant>,
}

impl Flushed {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &Flushed) {
        self.writes += other.writes;
        self.frames += other.frames;
        self.deliveries += other.deliveries;
        self.bytes += other.bytes;
        self.oldest = match (self.oldest, other.oldest) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

impl Outbound {
    /// Lets [`Outbound::flush_direct`] write to `fd`, the connection's
    /// open socket, until [`Outbound::detach_socket`].
    pub fn attach_socket(&self, fd: RawFd) {
        self.state.lock().socket = Some(fd);
    }

    /// Ends direct writes, waiting for one in flight on another thread
    /// (a single non-blocking system call). Call it before the socket is
    /// written by anyone else for the last time, or closed.
    pub fn detach_socket(&self) {
        loop {
            {
                let mut st = self.state.lock();
                if !st.direct {
                    st.socket = None;
                    return;
                }
            }
            std::thread::yield_now();
        }
    }

    /// Like [`Outbound::push_publication`], but when the writer is idle
    /// and the socket attached, it is not woken: `claimed` in the outcome
    /// tells the caller to call [`Outbound::flush_direct`] once it holds
    /// no lock of its own.
    pub fn push_or_claim(
        &self,
        channel: &Arc<str>,
        bytes: &Bytes,
        published: Published,
        policy: &NamespaceConfig,
    ) -> PushOutcome {
        let mut st = self.state.lock();
        if !st.admits(channel, published.offset) {
            return PushOutcome::default();
        }
        let mut out = self.queue_locked(
            &mut st,
            channel,
            bytes,
            published.offset,
            published.at,
            policy,
        );
        if out.queued && !out.disconnected && self.idle_writer(&st) {
            out.claimed = true;
            return out;
        }
        drop(st);
        self.wake_after_push(&out);
        out
    }

    /// Writes the head of the queue to the socket without blocking, if
    /// the writer is idle; wakes the writer for whatever is left.
    /// `notice` builds a `dropped` notice, as for [`Outbound::pop_batch`].
    pub fn flush_direct(&self, notice: impl Fn(&str, u64) -> Bytes) -> Flushed {
        let mut batch = VecDeque::new();
        let fd = {
            let mut st = self.state.lock();
            let Some(fd) = st.socket.filter(|_| self.idle_writer(&st)) else {
                let wake = !st.writer_busy && !st.direct && !st.frames.is_empty();
                drop(st);
                if wake {
                    self.waker.wake();
                }
                return Flushed::default();
            };
            st.take(&mut batch, FLUSH_FRAMES, FLUSH_BYTES, notice);
            if batch.is_empty() {
                return Flushed::default();
            }
            st.direct = true;
            fd
        };
        let sent = send_now(fd, &batch).unwrap_or(0);
        let (done, mut rest) = completed(&mut batch, sent);
        let mut st = self.state.lock();
        st.direct = false;
        // What the socket did not take goes first, in order, as control
        // frames (they are already counted as sent); the rest of a frame
        // sent in part is marked so that nothing drops it.
        let mut head = VecDeque::with_capacity(batch.len());
        for f in batch {
            st.bytes += f.bytes.len();
            head.push_back(Queued {
                bytes: f.bytes,
                channel: None,
                published_at: f.published_at,
                history: false,
                // (a rest sent not at all is still a rest)
                rest: std::mem::take(&mut rest) || f.rest,
                offset: f.offset,
            });
        }
        if !head.is_empty() {
            head.append(&mut st.frames);
            st.frames = head;
        }
        let wake = !st.frames.is_empty() || st.close.is_some();
        drop(st);
        if wake {
            self.waker.wake();
        }
        Flushed {
            writes: u64::from(sent > 0),
            ..done
        }
    }

    /// Whether a direct flush may run: nothing is in flight, the writer
    /// holds no popped frames and is not holding writes back to coalesce.
    fn idle_writer(&self, st: &State) -> bool {
        st.socket.is_some()
            && !st.direct
            && !st.writer_busy
            && !self.holding.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Drops from `batch` the frames `sent` bytes completed (a partly sent
/// one keeps its rest), counting them; true when one was sent in part.
fn completed(batch: &mut VecDeque<Outgoing>, mut sent: usize) -> (Flushed, bool) {
    let mut done = Flushed::default();
    while let Some(f) = batch.front_mut() {
        if sent < f.bytes.len() {
            if sent == 0 {
                return (done, false);
            }
            done.bytes += sent as u64;
            f.bytes = f.bytes.slice(sent..);
            return (done, true);
        }
        sent -= f.bytes.len();
        done.frames += 1;
        done.bytes += f.bytes.len() as u64;
        if let Some(at) = f.published_at {
            done.deliveries += 1;
            done.oldest = Some(done.oldest.map_or(at, |o| o.min(at)));
        }
        batch.pop_front();
    }
    (done, false)
}

/// One non-blocking vectored `sendmsg` of `batch` to `fd`.
fn send_now(fd: RawFd, batch: &VecDeque<Outgoing>) -> std::io::Result<usize> {
    let iov: Vec<IoSlice<'_>> = batch.iter().map(|f| IoSlice::new(&f.bytes)).collect();
    // SAFETY: an all-zero `msghdr` is valid (no name, no control data).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    // `IoSlice` is ABI-compatible with `iovec` on Unix.
    msg.msg_iov = iov.as_ptr().cast_mut().cast();
    msg.msg_iovlen = iov.len() as _;
    // SAFETY: `msg` points at `iov`, whose buffers stay valid for the
    // call, and `fd` is an open socket: it is only used while attached,
    // and the session detaches it (waiting out a write in flight) before
    // the socket is closed.
    let n = unsafe { libc::sendmsg(fd, &msg, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) };
    usize::try_from(n).map_err(|_| std::io::Error::last_os_error())
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    use super::*;
    use crate::config::Backpressure;

    fn policy() -> NamespaceConfig {
        NamespaceConfig {
            backpressure: Backpressure::DropOldest,
            max_queue_messages: 1_000_000,
            max_queue_bytes: usize::MAX,
            ..NamespaceConfig::default()
        }
    }

    fn queue(fd: RawFd) -> (Outbound, Arc<str>) {
        let q = Outbound::default();
        let ch: Arc<str> = "a".into();
        q.add_sub(ch.clone());
        q.attach_socket(fd);
        (q, ch)
    }

    /// Pushes `frame` as a fan-out does: claimed, then flushed.
    fn push(q: &Outbound, ch: &Arc<str>, frame: &[u8]) -> (PushOutcome, Flushed) {
        let at = Published {
            offset: 0,
            at: Instant::now(),
        };
        let out = q.push_or_claim(ch, &Bytes::copy_from_slice(frame), at, &policy());
        let flushed = if out.claimed {
            q.flush_direct(|_, _| Bytes::new())
        } else {
            Flushed::default()
        };
        (out, flushed)
    }

    fn pop(q: &Outbound) -> Vec<Bytes> {
        let mut out = VecDeque::new();
        q.pop_batch(&mut out, usize::MAX, usize::MAX, |_, _| Bytes::new());
        out.into_iter().map(|o| o.bytes).collect()
    }

    #[test]
    fn an_idle_connection_is_written_at_once() {
        let (mine, mut peer) = UnixStream::pair().unwrap();
        let (q, ch) = queue(mine.as_raw_fd());
        let (out, flushed) = push(&q, &ch, b"hello");
        assert!(out.queued && out.claimed, "{out:?}");
        let counts = (
            flushed.writes,
            flushed.frames,
            flushed.deliveries,
            flushed.bytes,
        );
        assert_eq!(counts, (1, 1, 1, 5));
        assert!(flushed.oldest.is_some());
        assert_eq!(q.depth(), (0, 0));
        let mut got = [0u8; 5];
        peer.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello");
    }

    #[test]
    fn a_busy_writer_or_a_detached_socket_keeps_the_frame_queued() {
        let (mine, mut peer) = UnixStream::pair().unwrap();
        let (q, ch) = queue(mine.as_raw_fd());
        q.push_control(Bytes::from_static(b"reply"));
        assert_eq!(pop(&q).len(), 1, "the writer holds the reply");
        let (out, _) = push(&q, &ch, b"p1");
        assert!(out.queued && !out.claimed, "the writer holds popped frames");
        assert_eq!(pop(&q), [Bytes::from_static(b"p1")]);
        assert!(pop(&q).is_empty(), "the writer is idle again");
        assert_eq!(push(&q, &ch, b"p2").1.frames, 1);
        q.detach_socket();
        let (out, _) = push(&q, &ch, b"p3");
        assert!(out.queued && !out.claimed, "no socket once detached");
        assert_eq!(pop(&q), [Bytes::from_static(b"p3")]);
        let mut got = [0u8; 2];
        peer.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"p2");
    }

    #[test]
    fn what_a_full_socket_did_not_take_stays_first_in_line() {
        let (mine, mut peer) = UnixStream::pair().unwrap();
        let (q, ch) = queue(mine.as_raw_fd());
        // Frames of 1 KiB until the socket takes one only in part, or
        // none: those wait in the queue, in order, whole.
        let frame = |i: u32| -> Vec<u8> {
            let mut f = vec![0u8; 1024];
            f[..4].copy_from_slice(&i.to_be_bytes());
            f
        };
        let mut i = 0;
        while push(&q, &ch, &frame(i)).1.frames == 1 {
            i += 1;
            assert!(i < 100_000, "the socket never filled");
        }
        let full_at = i;
        for k in 1..4 {
            let (out, flushed) = push(&q, &ch, &frame(i + k));
            assert!(out.queued && flushed.frames == 0, "{out:?} {flushed:?}");
        }
        let last = i + 3;
        let writer = std::thread::spawn(move || {
            let mut sink = mine;
            let mut left = pop(&q);
            while !left.is_empty() {
                for b in &left {
                    sink.write_all(b).unwrap();
                }
                left = pop(&q);
            }
        });
        let mut all = Vec::new();
        let want = (last as usize + 1) * 1024;
        let mut buf = [0u8; 65536];
        while all.len() < want {
            let n = peer.read(&mut buf).unwrap();
            assert!(n > 0, "the stream ended early");
            all.extend_from_slice(&buf[..n]);
        }
        writer.join().unwrap();
        let seen: Vec<u32> = all
            .chunks(1024)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(seen, (0..=last).collect::<Vec<_>>(), "full at {full_at}");
    }

    #[test]
    fn a_close_keeps_the_rest_of_a_frame_sent_in_part() {
        let (mine, _peer) = UnixStream::pair().unwrap();
        let (q, ch) = queue(mine.as_raw_fd());
        let frame = vec![7u8; 1 << 20];
        let (out, flushed) = push(&q, &ch, &frame);
        assert!(out.claimed && flushed.writes == 1 && flushed.frames == 0);
        let (_, queued) = q.depth();
        assert!(
            queued > 0 && queued < frame.len(),
            "sent in part: {queued} left"
        );
        let again = q.flush_direct(|_, _| Bytes::new());
        assert_eq!(again, Flushed::default(), "the socket is still full");
        q.request_close(wavecast_protocol::CloseCode::SlowConsumer, false);
        assert_eq!(q.depth(), (1, queued), "the close keeps the rest");
        let mut batch = VecDeque::new();
        q.pop_batch(&mut batch, 10, usize::MAX, |_, _| Bytes::new());
        assert!(batch[0].rest, "the writer knows the frame was begun");
        assert_eq!(batch[0].bytes.len(), queued);
        assert_eq!(q.take_rest(), None, "popped already");
    }

    #[test]
    fn direct_writes_and_the_writer_never_interleave_or_reorder() {
        const N: u32 = 20_000;
        let (mine, mut peer) = UnixStream::pair().unwrap();
        let (q, ch) = queue(mine.as_raw_fd());
        let q = Arc::new(q);
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // The session's writer: pops and writes (blocking) until told.
        let writer = {
            let (q, done) = (q.clone(), done.clone());
            std::thread::spawn(move || {
                let mut sink = mine;
                loop {
                    // Read before popping: once every push returned, an
                    // empty pop means everything went out.
                    let finished = done.load(std::sync::atomic::Ordering::Acquire);
                    let batch = pop(&q);
                    for b in &batch {
                        sink.write_all(b).unwrap();
                    }
                    if batch.is_empty() && finished {
                        break;
                    }
                }
                q.detach_socket();
            })
        };
        let reader = std::thread::spawn(move || {
            let mut all = Vec::new();
            let mut buf = [0u8; 65536];
            while all.len() < N as usize * 64 {
                let n = peer.read(&mut buf).unwrap();
                assert!(n > 0);
                all.extend_from_slice(&buf[..n]);
            }
            all
        });
        let mut direct = 0;
        for i in 0..N {
            let mut f = [b'.'; 64];
            f[..4].copy_from_slice(&i.to_be_bytes());
            direct += push(&q, &ch, &f).1.deliveries;
        }
        done.store(true, std::sync::atomic::Ordering::Release);
        writer.join().unwrap();
        let all = reader.join().unwrap();
        for (i, c) in all.chunks(64).enumerate() {
            assert_eq!(u32::from_be_bytes([c[0], c[1], c[2], c[3]]), i as u32);
            assert!(c[4..].iter().all(|b| *b == b'.'), "frame {i} was cut");
        }
        assert!(direct > 0, "no direct write happened");
    }
}
