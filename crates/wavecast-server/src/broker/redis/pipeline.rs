//! A pipelined Redis command connection: callers queue commands, a writer
//! sends every queued command in one write, and a reader matches replies
//! to callers in order (Redis answers in order). Many publishes in flight
//! share round trips instead of holding a pooled connection each.
//!
//! The connection reconnects with backoff; while it is down, commands fail
//! at once (`unavailable`). A command whose connection broke after it was
//! sent has an unknown outcome: the caller gets an error, and publishes
//! carry an idempotency key so that a retry cannot publish twice.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};

use super::resp::{encode, parse, Conn, RespError, Value};
use crate::config::RedisUrl;

/// Bytes written per batch at most.
const MAX_BATCH: usize = 256 * 1024;

type Reply = oneshot::Sender<Result<Value, RespError>>;

struct Request {
    cmd: Vec<u8>,
    reply: Reply,
}

/// A handle to a pipelined connection (cheap to share).
pub struct Pipeline {
    tx: mpsc::UnboundedSender<Request>,
    up: Arc<AtomicBool>,
}

impl Pipeline {
    /// Starts the connection's task (inside a Tokio runtime).
    pub fn start(addr: RedisUrl) -> Pipeline {
        let (tx, rx) = mpsc::unbounded_channel();
        let up = Arc::new(AtomicBool::new(false));
        tokio::spawn(supervise(addr, rx, up.clone()));
        Pipeline { tx, up }
    }

    /// Whether the connection is up now.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Runs one command; an error reply is a [`RespError::Server`].
    pub async fn cmd(&self, args: &[&[u8]], timeout: Duration) -> Result<Value, RespError> {
        let mut cmd = Vec::with_capacity(64 + args.iter().map(|a| a.len() + 16).sum::<usize>());
        encode(&mut cmd, args);
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request { cmd, reply })
            .map_err(|_| RespError::Io("the redis connection task stopped".into()))?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(Ok(Value::Error(e)))) => Err(RespError::Server(e)),
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(RespError::Io("redis connection lost".into())),
            Err(_) => Err(RespError::Timeout),
        }
    }
}

/// Owns the connection: connects, runs writer and reader, reconnects.
async fn supervise(addr: RedisUrl, mut rx: mpsc::UnboundedReceiver<Request>, up: Arc<AtomicBool>) {
    let mut backoff = Duration::from_millis(50);
    loop {
        let conn = match Conn::connect(&addr).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(redis = %addr, error = %e, "redis connect failed; retrying");
                if !refuse_while_down(&mut rx, backoff).await {
                    return;
                }
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        backoff = Duration::from_millis(50);
        up.store(true, Ordering::Release);
        let (stream, buf) = conn.into_parts();
        let (read, write) = stream.into_split();
        let (pending_tx, pending_rx) = mpsc::unbounded_channel();
        let stopped = tokio::select! {
            r = writer(write, &mut rx, pending_tx) => r,
            r = reader(read, buf, pending_rx) => r,
        };
        up.store(false, Ordering::Release);
        match stopped {
            Stop::Closed => return,
            Stop::Broken(e) => tracing::warn!(redis = %addr, error = %e, "redis connection lost"),
        }
    }
}

enum Stop {
    /// Every handle is gone.
    Closed,
    Broken(RespError),
}

/// Fails queued commands for `wait` while the connection is down; false
/// when every handle is gone.
async fn refuse_while_down(rx: &mut mpsc::UnboundedReceiver<Request>, wait: Duration) -> bool {
    let jitter = Duration::from_millis(fastrand::u64(0..=wait.as_millis() as u64));
    let deadline = tokio::time::Instant::now() + wait + jitter;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => return true,
            req = rx.recv() => match req {
                None => return false,
                Some(r) => {
                    let _ = r.reply.send(Err(RespError::Io("redis unavailable".into())));
                }
            },
        }
    }
}

async fn writer(
    mut write: OwnedWriteHalf,
    rx: &mut mpsc::UnboundedReceiver<Request>,
    pending: mpsc::UnboundedSender<Reply>,
) -> Stop {
    let mut batch = Vec::with_capacity(16 * 1024);
    loop {
        let Some(first) = rx.recv().await else {
            return Stop::Closed;
        };
        batch.clear();
        batch.extend_from_slice(&first.cmd);
        let mut replies = vec![first.reply];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => {
                    batch.extend_from_slice(&r.cmd);
                    replies.push(r.reply);
                }
                Err(_) => break,
            }
        }
        for r in replies {
            if pending.send(r).is_err() {
                return Stop::Broken(RespError::Io("the reader stopped".into()));
            }
        }
        if let Err(e) = write.write_all(&batch).await {
            return Stop::Broken(RespError::Io(e.to_string()));
        }
    }
}

async fn reader(
    mut read: OwnedReadHalf,
    mut buf: BytesMut,
    mut pending: mpsc::UnboundedReceiver<Reply>,
) -> Stop {
    loop {
        loop {
            match parse(&buf) {
                Ok(Some((v, used))) => {
                    buf.advance(used);
                    match pending.try_recv() {
                        Ok(r) => {
                            let _ = r.send(Ok(v));
                        }
                        Err(_) => {
                            return Stop::Broken(RespError::Protocol(
                                "a reply nobody asked for".into(),
                            ))
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => return Stop::Broken(e),
            }
        }
        match read.read_buf(&mut buf).await {
            Ok(0) => return Stop::Broken(RespError::Io("connection closed by redis".into())),
            Ok(_) => {}
            Err(e) => return Stop::Broken(RespError::Io(e.to_string())),
        }
    }
}
