//! The socket side of a session: decoding client frames and writing queued
//! frames.
//!
//! Reading: bytes are read into a per-thread scratch buffer and fed to the
//! connection's streaming [`Decoder`], which keeps whatever an incomplete
//! frame needs; the connection itself holds no read buffer while idle.
//! Decoded messages wait in a small inbox until the session handles them;
//! the socket is not read again until the inbox is empty.
//!
//! Writing: frames popped from the outbound queue are written many per
//! vectored write, from where the last partial write stopped. The session
//! decides when to write (it may hold frames back to coalesce them). Nothing here
//! blocks: on a full socket the rest stays queued (where backpressure
//! applies) and the task is woken when the socket is writable again.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use wavecast_ws::{Decoder, Message, WsError};

use crate::conn::outbound::{DirectSocket, Outgoing};
use crate::conn::Connection;
use crate::metrics::Metrics;
use crate::moment::Moment;

/// Bytes read per system call.
const READ_CHUNK: usize = 16 * 1024;
/// Frames taken from the queue per batch.
const BATCH_FRAMES: usize = 256;
/// Bytes taken from the queue per batch.
const BATCH_BYTES: usize = 256 * 1024;
/// Frames per vectored write.
const IOV_MAX: usize = 64;

thread_local! {
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0u8; READ_CHUNK].into_boxed_slice());
}

/// What reading gave.
#[derive(Debug)]
pub enum Read {
    Message(Message),
    /// The peer closed the TCP connection (or the socket failed).
    Eof,
    /// The peer broke the protocol; close with this error's code.
    Violation(WsError),
}

/// What the socket has for the session, the message itself left in the
/// inbox.
#[derive(Debug)]
pub enum Readable {
    Message,
    /// The peer closed the TCP connection (or the socket failed).
    Eof,
    /// The peer broke the protocol; close with this error's code.
    Violation(WsError),
}

/// The socket, its decoder and the write progress.
pub struct SocketIo<S> {
    stream: S,
    decoder: Decoder,
    inbox: VecDeque<Message>,
    batch: VecDeque<Outgoing>,
    /// Bytes of the first frame of `batch` already written.
    written: usize,
    /// When the last write went out (for coalescing).
    last_write: Option<Moment>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> SocketIo<S> {
    /// Wraps `stream`; `early` holds bytes read past the upgrade request.
    pub fn new(stream: S, decoder: Decoder, early: &mut [u8]) -> Result<SocketIo<S>, WsError> {
        let mut io = SocketIo {
            stream,
            decoder,
            inbox: VecDeque::new(),
            batch: VecDeque::new(),
            written: 0,
            last_write: None,
        };
        io.feed(early)?;
        Ok(io)
    }

    fn feed(&mut self, buf: &mut [u8]) -> Result<(), WsError> {
        let mut off = 0;
        while off < buf.len() {
            let (used, r) = self.decoder.feed(&mut buf[off..]);
            off += used;
            match r {
                Ok(Some(m)) => self.inbox.push_back(m),
                Ok(None) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The next client message, reading the socket when the inbox is empty.
    pub fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Read> {
        loop {
            if let Some(m) = self.next_message() {
                return Poll::Ready(Read::Message(m));
            }
            match self.poll_readable(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Readable::Message) => {}
                Poll::Ready(Readable::Eof) => return Poll::Ready(Read::Eof),
                Poll::Ready(Readable::Violation(e)) => return Poll::Ready(Read::Violation(e)),
            }
        }
    }

    /// Ready when a decoded message waits in the inbox (take it with
    /// [`SocketIo::next_message`]), or the socket ended; reads the socket
    /// while the inbox is empty.
    pub fn poll_readable(&mut self, cx: &mut Context<'_>) -> Poll<Readable> {
        loop {
            if !self.inbox.is_empty() {
                return Poll::Ready(Readable::Message);
            }
            let got = SCRATCH.with(|scratch| {
                let mut scratch = scratch.borrow_mut();
                let mut rb = ReadBuf::new(&mut scratch[..]);
                match Pin::new(&mut self.stream).poll_read(cx, &mut rb) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Err(_)) => Poll::Ready(Err(None)),
                    Poll::Ready(Ok(())) if rb.filled().is_empty() => Poll::Ready(Err(None)),
                    Poll::Ready(Ok(())) => {
                        let n = rb.filled().len();
                        Poll::Ready(self.feed(&mut scratch[..n]).map_err(Some))
                    }
                }
            });
            match got {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(None)) => return Poll::Ready(Readable::Eof),
                Poll::Ready(Err(Some(e))) => return Poll::Ready(Readable::Violation(e)),
                Poll::Ready(Ok(())) => {}
            }
        }
    }

    /// The oldest decoded message not yet handled.
    pub fn next_message(&mut self) -> Option<Message> {
        let m = self.inbox.pop_front();
        if self.inbox.is_empty() && self.inbox.capacity() > 0 {
            // Give the allocation back: idle connections stay small.
            self.inbox = VecDeque::new();
        }
        m
    }

    /// Writes queued frames until the queue is empty (`Ready(Ok)`) or the
    /// socket is full (`Pending`).
    pub fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        conn: &Connection,
        metrics: &Metrics,
    ) -> Poll<std::io::Result<()>> {
        loop {
            if self.batch.is_empty() {
                conn.outbound
                    .pop_batch(&mut self.batch, BATCH_FRAMES, BATCH_BYTES, |ch, n| {
                        conn.format.dropped(ch, n)
                    });
                if self.batch.is_empty() {
                    self.batch = VecDeque::new();
                    // A TLS stream may hold written records until flushed
                    // (a no-op for TCP).
                    return Pin::new(&mut self.stream).poll_flush(cx);
                }
            }
            let n = {
                let mut iov: [IoSlice<'_>; IOV_MAX] = [IoSlice::new(&[]); IOV_MAX];
                let mut k = 0;
                for (i, f) in self.batch.iter().take(IOV_MAX).enumerate() {
                    let from = if i == 0 { self.written } else { 0 };
                    iov[k] = IoSlice::new(&f.bytes[from..]);
                    k += 1;
                }
                match Pin::new(&mut self.stream).poll_write_vectored(cx, &iov[..k]) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Ready(Ok(0)) => {
                        return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()))
                    }
                    Poll::Ready(Ok(n)) => n,
                }
            };
            conn.socket_writes.fetch_add(1, Relaxed);
            metrics.socket_writes_total.inc();
            self.advance(n, conn, metrics);
        }
    }

    /// Drops the frames `n` written bytes completed, with their accounting.
    fn advance(&mut self, mut n: usize, conn: &Connection, metrics: &Metrics) {
        let now = Instant::now();
        self.last_write = Some(Moment::from(now));
        let (mut frames, mut bytes, mut deliveries) = (0u64, 0u64, 0u64);
        while let Some(f) = self.batch.front() {
            let left = f.bytes.len() - self.written;
            if n < left {
                self.written += n;
                break;
            }
            n -= left;
            self.written = 0;
            frames += 1;
            bytes += f.bytes.len() as u64;
            if let Some(t) = f.published_at {
                deliveries += 1;
                metrics
                    .delivery_latency
                    .observe(now.saturating_duration_since(t));
            }
            self.batch.pop_front();
        }
        if frames > 0 {
            metrics.messages_sent_total.inc_by(frames);
            metrics.bytes_sent_total.inc_by(bytes);
            conn.packets_sent.fetch_add(frames, Relaxed);
        }
        if deliveries > 0 {
            metrics.publications_delivered_total.inc_by(deliveries);
        }
    }

    /// The socket's descriptor, if the fan-out may write to it directly
    /// (see [`crate::conn::outbound`]).
    pub fn direct_fd(&self) -> Option<std::os::fd::RawFd>
    where
        S: DirectSocket,
    {
        self.stream.direct_fd()
    }

    /// When the last write went out, if any did.
    pub fn last_write(&self) -> Option<Instant> {
        self.last_write.map(Moment::instant)
    }

    /// Whether every popped frame was written.
    pub fn idle_writer(&self) -> bool {
        self.batch.is_empty()
    }

    /// Writes `frame` (a close frame) next: completes the frame a partial
    /// write (this writer's, or a direct write's) left unfinished, drops
    /// the rest of the batch, then writes.
    pub async fn write_now(&mut self, frame: &[u8]) -> std::io::Result<()> {
        let begun = self.batch.front().is_some_and(|f| f.rest);
        if self.written > 0 || begun {
            if let Some(f) = self.batch.front() {
                let rest = f.bytes.slice(self.written..);
                self.stream.write_all(&rest).await?;
            }
        }
        self.batch.clear();
        self.written = 0;
        self.stream.write_all(frame).await?;
        self.stream.flush().await
    }

    /// Writes `bytes` as they are (the rest of a frame another thread
    /// began). The writer holds no popped frames when there is one.
    pub async fn write_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Sends FIN.
    pub async fn shutdown(&mut self) {
        let _ = self.stream.shutdown().await;
    }

    /// True once the client's close frame arrived.
    pub fn client_closed(&self) -> bool {
        self.decoder.is_closed()
    }
}
