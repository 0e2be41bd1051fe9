//! A pipelined Redis command connection: callers queue commands, a writer
//! sends every queued command in one write, and a reader matches replies
//! to callers in order (Redis answers in order). Many publishes in flight
//! share round trips instead of holding a pooled connection each.
//!
//! Commands queued on one pipeline run in the order they were queued (one
//! connection, one writer), so callers that need an order (a channel's
//! publishes) keep to one pipeline. Each connection loads the scripts when
//! it opens, and scripts go as `EVALSHA`; a `NOSCRIPT` answer (someone ran
//! `SCRIPT FLUSH`: nothing ran) is retried once as `EVAL`, which loads the
//! script again (publishes in flight at that moment may then take their
//! offsets out of order).
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
use tokio::io::{ReadHalf, WriteHalf};
use tokio::sync::{mpsc, oneshot};

use super::resp::{encode, parse, Conn, RespError, Value};
use super::scripts::{self, Script};
use super::tls::RedisStream;
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
        let deadline = tokio::time::Instant::now() + timeout;
        self.send(&[], args, deadline).await
    }

    /// Runs `script` with `keys` and `args` by `EVALSHA`, and by `EVAL`
    /// when Redis does not know the script; `timeout` bounds both.
    pub async fn eval(
        &self,
        script: &Script,
        keys: &[&[u8]],
        args: &[&[u8]],
        timeout: Duration,
    ) -> Result<Value, RespError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let nkeys = keys.len().to_string();
        let mut head: Vec<&[u8]> = Vec::with_capacity(3 + keys.len());
        head.extend_from_slice(&[b"EVALSHA", script.sha().as_bytes(), nkeys.as_bytes()]);
        head.extend_from_slice(keys);
        match self.send(&head, args, deadline).await {
            Err(RespError::Server(e)) if e.starts_with("NOSCRIPT") => {
                head[0] = b"EVAL";
                head[1] = script.body.as_bytes();
                self.send(&head, args, deadline).await
            }
            r => r,
        }
    }

    /// Queues `head` followed by `args` as one command and waits for its
    /// reply until `deadline`.
    async fn send(
        &self,
        head: &[&[u8]],
        args: &[&[u8]],
        deadline: tokio::time::Instant,
    ) -> Result<Value, RespError> {
        let size: usize = head.iter().chain(args).map(|a| a.len() + 16).sum();
        let mut cmd = Vec::with_capacity(16 + size);
        encode(&mut cmd, head, args);
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request { cmd, reply })
            .map_err(|_| RespError::Io("the redis connection task stopped".into()))?;
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(Ok(Value::Error(e)))) => Err(RespError::Server(e)),
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(RespError::Io("redis connection lost".into())),
            Err(_) => Err(RespError::Timeout),
        }
    }
}

/// Connects and loads the scripts, so that `EVALSHA` finds them (a
/// restarted Redis has none) and a channel's publishes are not reordered
/// by `NOSCRIPT` retries.
async fn connect(addr: &RedisUrl) -> Result<Conn, RespError> {
    let mut conn = Conn::connect(addr).await?;
    for script in scripts::ALL {
        conn.cmd(&[b"SCRIPT", b"LOAD", script.body.as_bytes()])
            .await?;
    }
    Ok(conn)
}

/// Owns the connection: connects, runs writer and reader, reconnects.
async fn supervise(addr: RedisUrl, mut rx: mpsc::UnboundedReceiver<Request>, up: Arc<AtomicBool>) {
    let mut backoff = Duration::from_millis(50);
    loop {
        let conn = match connect(&addr).await {
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
        let (read, write) = tokio::io::split(stream);
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
    mut write: WriteHalf<RedisStream>,
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
    mut read: ReadHalf<RedisStream>,
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
