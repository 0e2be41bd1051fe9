//! The task that drives one connection. A single task per connection polls,
//! in one `poll_fn`: close requests, the outbound queue (written in batches,
//! many frames per vectored write, one flush per batch), the socket's
//! incoming frames, and the heartbeat timer. Reading and writing share the
//! stream without a lock, and an idle connection costs one parked task.

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Interval, MissedTickBehavior, Sleep};
use tokio_websockets::proto::ProtocolError;
use tokio_websockets::{Message, WebSocketStream};
use wavecast_protocol::server::{encode_control, encode_error, fields};
use wavecast_protocol::time::now_rfc3339;
use wavecast_protocol::{CloseCode, ErrorCode, PROTOCOL_VERSION};

use super::admission::{self, Admission, SessionAuth};
use super::handler::{self, Deferred};
use super::outbound::{CloseRequest, Outgoing};
use super::Connection;
use crate::audit;
use crate::state::AppState;

/// Frames taken from the queue per batch.
const BATCH_FRAMES: usize = 256;
/// Bytes taken from the queue per batch.
const BATCH_BYTES: usize = 64 * 1024;
/// How long the close handshake (and the flush before it) may take.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndCause {
    /// The server closed it with this code.
    Server(CloseRequest),
    /// The client sent a close frame with this code (or none).
    ClientClose(Option<u16>),
    /// The client broke the protocol, or sent a message above the limit;
    /// the WebSocket layer answered with the matching close code.
    Violation(CloseCode),
    /// The socket failed or reached EOF without a close frame.
    Transport,
}

impl EndCause {
    /// The label for `disconnects_total{reason}` and the audit log.
    pub fn label(&self) -> &'static str {
        match self {
            EndCause::Server(r) => r.code.label(),
            EndCause::ClientClose(_) => "client_close",
            EndCause::Violation(c) => c.label(),
            EndCause::Transport => "transport",
        }
    }

    /// The close code of the connection, as far as the server knows it.
    pub fn code(&self) -> Option<u16> {
        match self {
            EndCause::Server(r) => Some(r.code.code()),
            EndCause::ClientClose(c) => *c,
            EndCause::Violation(c) => Some(c.code()),
            EndCause::Transport => None,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            EndCause::Server(r) => r.code.reason(),
            EndCause::ClientClose(_) => "closed by client",
            EndCause::Violation(c) => c.reason(),
            EndCause::Transport => "connection lost",
        }
    }
}

enum Event {
    Incoming(Message),
    Ended(EndCause),
    Tick,
    AuthTimer,
    Close(CloseRequest),
}

/// Frames popped from the queue but not yet written, and the accounting of
/// frames handed to the socket but not yet flushed.
#[derive(Default)]
struct WriteState {
    batch: VecDeque<Outgoing>,
    unflushed: u64,
    unflushed_bytes: u64,
    latencies: Vec<Instant>,
}

/// Runs a connection until it closes, then unregisters it and writes the
/// audit log.
pub async fn run<S>(
    state: Arc<AppState>,
    mut ws: WebSocketStream<S>,
    conn: Arc<Connection>,
    admission: Admission,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Admission {
        slot: _slot,
        admitted,
        extra_channels,
    } = admission;
    state.hub.add_connection(conn.clone());
    state.metrics.connections.inc();
    state.metrics.connections_total.inc();
    let mut sess = SessionAuth::new(admitted, state.config.auth.auth_timeout);
    if admitted {
        let principal = conn.principal.read().clone();
        if !conn.mode.is_stream() {
            conn.outbound.push_control(encode_control(
                "connection_established",
                fields([
                    ("connection_id", Value::from(&*conn.id)),
                    ("protocol_version", Value::from(PROTOCOL_VERSION)),
                    (
                        "heartbeat_interval_ms",
                        Value::from(state.config.heartbeat_interval.as_millis() as u64),
                    ),
                    (
                        "user_id",
                        principal
                            .user_id
                            .clone()
                            .map(Value::from)
                            .unwrap_or(Value::Null),
                    ),
                    ("timestamp", Value::from(now_rfc3339())),
                ]),
                None,
            ));
        }
        if principal.authenticated {
            if admission::register_user(&state, &conn) {
                sess.schedule_token(principal.expires_at, state.config.auth.refresh_before);
                admission::join_server_channels(&state, &conn, &extra_channels).await;
            } else {
                conn.outbound.request_close(CloseCode::AuthFailed, true);
            }
        }
    }
    // A shutdown that started before we registered must still reach us.
    if state.shutdown.is_cancelled() {
        conn.outbound.request_close(CloseCode::GoingAway, true);
    }

    let period = state.config.heartbeat_interval;
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut auth_timer: Option<Pin<Box<Sleep>>> = None;
    let mut last_seen = Instant::now();
    let mut ws_state = WriteState::default();
    let mut rate = state.limits.message_bucket(Instant::now());
    let mut limited_in_a_row = 0u32;

    let cause = loop {
        set_timer(&mut auth_timer, sess.next_deadline());
        let event = poll_fn(|cx| {
            poll_session(
                cx,
                &mut ws,
                &conn,
                &mut ticker,
                &mut auth_timer,
                &mut ws_state,
                &state,
            )
        })
        .await;
        match event {
            Event::Incoming(msg) => {
                last_seen = Instant::now();
                conn.packets_received
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                state.metrics.messages_received_total.inc();
                if let Some((code, _)) = msg.as_close() {
                    break EndCause::ClientClose(Some(u16::from(code)));
                } else if msg.is_close() {
                    break EndCause::ClientClose(None);
                }
                if let Some(bucket) = rate.as_mut() {
                    if !bucket.take(last_seen) {
                        limited_in_a_row += 1;
                        state.metrics.limit_rejections("message_rate");
                        if limited_in_a_row >= state.limits.cfg.rate_limit_close_after.max(1) {
                            conn.outbound.request_close(CloseCode::RateLimit, false);
                        } else {
                            conn.outbound.push_control(encode_error(
                                ErrorCode::RateLimited,
                                &format!(
                                    "more than {} messages per second; this one was not processed",
                                    state.limits.cfg.max_message_rate
                                ),
                                None,
                            ));
                        }
                        continue;
                    }
                    limited_in_a_row = 0;
                }
                if !(msg.is_text() || msg.is_binary()) {
                    // Ping frames are answered by the WebSocket layer (and
                    // count toward the rate above); pongs only show liveness.
                    continue;
                }
                if let Some(text) = msg.as_text() {
                    match handler::handle_text(&state, &conn, text, sess.admitted).await {
                        Some(Deferred::Auth(req, id)) => {
                            admission::authenticate(&state, &conn, &mut sess, req, id).await
                        }
                        Some(Deferred::Refresh(token, id)) => {
                            admission::refresh(&state, &conn, &mut sess, &token, id)
                        }
                        None => {}
                    }
                } else {
                    handler::handle_binary(&conn);
                }
            }
            Event::Tick => {
                if !conn.initialized.load(std::sync::atomic::Ordering::Acquire) {
                    // Stream endpoints say nothing before `init`.
                    if last_seen.elapsed() >= state.config.heartbeat_timeout {
                        conn.outbound
                            .request_close(CloseCode::HeartbeatTimeout, false);
                    }
                } else if last_seen.elapsed() >= state.config.heartbeat_timeout {
                    conn.outbound
                        .request_close(CloseCode::HeartbeatTimeout, false);
                } else {
                    conn.outbound.push_control(encode_control(
                        "heartbeat",
                        fields([("timestamp", Value::from(now_rfc3339()))]),
                        None,
                    ));
                }
            }
            Event::AuthTimer => {
                let now = Instant::now();
                if sess.auth_deadline.is_some_and(|d| d <= now) {
                    state.metrics.auth_result("timeout");
                    conn.outbound.request_close(CloseCode::AuthTimeout, true);
                    sess.auth_deadline = None;
                } else if sess.expires_at.is_some_and(|d| d <= now) {
                    conn.outbound.request_close(CloseCode::TokenExpired, true);
                    sess.expires_at = None;
                    sess.refresh_at = None;
                } else if sess.refresh_at.is_some_and(|d| d <= now) {
                    admission::refresh_required(&conn);
                    sess.refresh_at = None;
                }
            }
            Event::Close(req) => break EndCause::Server(req),
            Event::Ended(cause) => break cause,
        }
    };

    // Streams stop at once; new deliveries stop, but what is queued stays
    // for a flushing close.
    conn.streams.cancel_all();
    for ch in conn.outbound.channels() {
        state.hub.detach(&conn, &ch);
    }
    state.hub.remove_connection(&conn);

    match cause {
        EndCause::Server(req) => {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
                if req.flush {
                    flush_queue(&mut ws, &conn, &mut ws_state, &state).await?;
                }
                ws.send(Message::close(
                    tokio_websockets::CloseCode::try_from(req.code.code()).ok(),
                    req.code.reason(),
                ))
                .await?;
                // Wait for the client's close frame (or EOF).
                while let Some(Ok(_)) = ws.next().await {}
                Ok::<(), tokio_websockets::Error>(())
            })
            .await;
        }
        EndCause::ClientClose(_) | EndCause::Violation(_) => {
            // The WebSocket layer answers the close (or sends its own close
            // code); drive it until it is done.
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
                while let Some(Ok(_)) = ws.next().await {}
                let _ = ws.flush().await;
            })
            .await;
        }
        EndCause::Transport => {}
    }

    state.metrics.connections.dec();
    state.metrics.disconnect(cause.label());
    for (ch, stats) in conn.outbound.take_subs() {
        audit::subscription_ended(&conn, &ch, &stats, cause.label());
    }
    audit::connection_closed(&conn, &cause);
}

/// Points the auth timer at `deadline` (or removes it).
fn set_timer(timer: &mut Option<Pin<Box<Sleep>>>, deadline: Option<Instant>) {
    match (deadline, timer.as_mut()) {
        (None, _) => *timer = None,
        (Some(d), Some(t)) => {
            let d = tokio::time::Instant::from_std(d);
            if t.deadline() != d {
                t.as_mut().reset(d);
            }
        }
        (Some(d), None) => {
            *timer = Some(Box::pin(tokio::time::sleep_until(
                tokio::time::Instant::from_std(d),
            )))
        }
    }
}

/// Writes everything still queued (used before a flushing close).
async fn flush_queue<S>(
    ws: &mut WebSocketStream<S>,
    conn: &Connection,
    w: &mut WriteState,
    state: &AppState,
) -> Result<(), tokio_websockets::Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        let done = poll_fn(|cx| {
            conn.outbound.register(cx.waker());
            match pump_writes(cx, ws, conn, w, state) {
                Err(e) => Poll::Ready(Err(e)),
                Ok(()) if w.batch.is_empty() && w.unflushed == 0 && conn.outbound.is_empty() => {
                    Poll::Ready(Ok(true))
                }
                Ok(()) => Poll::Pending,
            }
        })
        .await?;
        if done {
            return Ok(());
        }
    }
}

fn poll_session<S>(
    cx: &mut Context<'_>,
    ws: &mut WebSocketStream<S>,
    conn: &Connection,
    ticker: &mut Interval,
    auth_timer: &mut Option<Pin<Box<Sleep>>>,
    w: &mut WriteState,
    state: &AppState,
) -> Poll<Event>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    conn.outbound.register(cx.waker());
    if let Some(req) = conn.outbound.close_request() {
        return Poll::Ready(Event::Close(req));
    }
    if pump_writes(cx, ws, conn, w, state).is_err() {
        return Poll::Ready(Event::Ended(EndCause::Transport));
    }
    match Pin::new(&mut *ws).poll_next(cx) {
        Poll::Ready(Some(Ok(msg))) => return Poll::Ready(Event::Incoming(msg)),
        Poll::Ready(Some(Err(e))) => {
            let cause = match e {
                tokio_websockets::Error::PayloadTooLong { .. } => {
                    EndCause::Violation(CloseCode::MessageTooBig)
                }
                tokio_websockets::Error::Protocol(ProtocolError::InvalidUtf8) => {
                    EndCause::Violation(CloseCode::InvalidPayload)
                }
                tokio_websockets::Error::Protocol(_) => {
                    EndCause::Violation(CloseCode::ProtocolError)
                }
                _ => EndCause::Transport,
            };
            return Poll::Ready(Event::Ended(cause));
        }
        Poll::Ready(None) => return Poll::Ready(Event::Ended(EndCause::Transport)),
        Poll::Pending => {}
    }
    if ticker.poll_tick(cx).is_ready() {
        return Poll::Ready(Event::Tick);
    }
    if let Some(t) = auth_timer.as_mut() {
        if t.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Event::AuthTimer);
        }
    }
    Poll::Pending
}

/// Moves queued frames into the WebSocket sink while it accepts them, then
/// flushes. Never blocks: on a full socket it leaves the rest queued (where
/// backpressure applies) and is woken when the socket becomes writable.
fn pump_writes<S>(
    cx: &mut Context<'_>,
    ws: &mut WebSocketStream<S>,
    conn: &Connection,
    w: &mut WriteState,
    state: &AppState,
) -> Result<(), tokio_websockets::Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        if w.batch.is_empty() {
            conn.outbound
                .pop_batch(&mut w.batch, BATCH_FRAMES, BATCH_BYTES);
            if w.batch.is_empty() {
                break;
            }
        }
        match Pin::new(&mut *ws).poll_ready(cx) {
            Poll::Ready(Ok(())) => {
                while let Some(out) = w.batch.pop_front() {
                    w.unflushed += 1;
                    w.unflushed_bytes += out.bytes.len() as u64;
                    if let Some(t) = out.published_at {
                        w.latencies.push(t);
                    }
                    Pin::new(&mut *ws).start_send(Message::text(out.bytes))?;
                }
            }
            Poll::Ready(Err(e)) => return Err(e),
            Poll::Pending => return Ok(()),
        }
    }
    if w.unflushed > 0 {
        match Pin::new(&mut *ws).poll_flush(cx) {
            Poll::Ready(Ok(())) => {
                let now = Instant::now();
                for t in w.latencies.drain(..) {
                    state
                        .metrics
                        .delivery_latency
                        .observe(now.saturating_duration_since(t));
                }
                state.metrics.messages_sent_total.inc_by(w.unflushed);
                state.metrics.bytes_sent_total.inc_by(w.unflushed_bytes);
                conn.packets_sent
                    .fetch_add(w.unflushed, std::sync::atomic::Ordering::Relaxed);
                w.unflushed = 0;
                w.unflushed_bytes = 0;
            }
            Poll::Ready(Err(e)) => return Err(e),
            Poll::Pending => {}
        }
    }
    Ok(())
}
