//! The Server-Sent Events transport (`GET /api/sse`): a read-only stream
//! of one connection's deliveries, for clients that cannot open a
//! WebSocket.
//!
//! It is a transport beside the WebSocket session, not inside it: a
//! [`Connection`] in the [`Format::SSE`](crate::conn::format::Format::SSE)
//! format, registered with the hub and subscribed through
//! [`crate::hub::Hub::subscribe`] exactly as the channel protocol does, so
//! permissions, recovery, backpressure (the same bounded queue and
//! namespace strategy) and the server API (`/api/disconnect`,
//! `/api/ws/subscribe`, `/api/send`) work unchanged. The HTTP side
//! (credentials, admission) is [`crate::http::sse`].
//!
//! Invariants:
//! - every publication event carries `id:` = the stream's [`Cursor`]
//!   after it (each channel's last offset and epoch), so `Last-Event-ID`
//!   resumes every channel with no gap;
//! - a comment (`: heartbeat …`) is written every `heartbeat_interval`, so
//!   a live reader takes a chunk at least that often. A reader that takes
//!   nothing for `heartbeat_interval + heartbeat_timeout` is closed as a
//!   slow consumer (4008), and a stream whose close the reader never
//!   takes (a full socket) has its HTTP connection dropped;
//! - a close (server API, shutdown, slow consumer, token expiry) ends the
//!   stream with one `close` event (`{"type":"close","code","reason"}`);
//! - dropping the stream (the reader went away) unsubscribes, unregisters
//!   and audits, once.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use wavecast_protocol::replies::success_fields;
use wavecast_protocol::time::now_rfc3339;
use wavecast_protocol::to_client::fields;
use wavecast_protocol::to_server::{StreamPosition, SubscribeOptions};
use wavecast_protocol::{CloseCode, ErrorCode, PROTOCOL_VERSION};

use crate::audit;
use crate::conn::format::sse_event;
use crate::conn::outbound::Outgoing;
use crate::conn::Connection;
use crate::limits::ConnectionSlot;
use crate::moment::Moment;
use crate::session::admission::{
    check_subscribe, join_server_channels, register_user, Refusal, Requester,
};
use crate::state::AppState;

/// Frames taken from the queue per chunk.
const BATCH_FRAMES: usize = 256;
/// Bytes taken from the queue per chunk.
const BATCH_BYTES: usize = 256 * 1024;
/// How long a closing stream may take to be read before its HTTP
/// connection is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Where a stream is: per channel, the last offset delivered and its
/// epoch. Written `news=5/EPOCH,chat:1=7/EPOCH` (channel names hold no
/// `=`, `,` or space); `since` also takes a bare offset for every channel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor(BTreeMap<String, StreamPosition>);

impl Cursor {
    /// Reads `since` or `Last-Event-ID` for `channels`: a cursor, or a
    /// bare offset that applies to each of them (any epoch).
    pub fn parse(text: &str, channels: &[String]) -> Result<Cursor, String> {
        let text = text.trim();
        if let Ok(offset) = text.parse::<u64>() {
            let all = channels.iter().map(|c| {
                let p = StreamPosition {
                    offset,
                    epoch: None,
                };
                (c.clone(), p)
            });
            return Ok(Cursor(all.collect()));
        }
        let mut out = BTreeMap::new();
        for item in text.split(',').filter(|i| !i.trim().is_empty()) {
            let Some((channel, pos)) = item.trim().split_once('=') else {
                return Err(format!("{item:?} is not CHANNEL=OFFSET[/EPOCH]"));
            };
            let (offset, epoch) = match pos.split_once('/') {
                Some((o, e)) => (o, Some(e.to_string()).filter(|e| !e.is_empty())),
                None => (pos, None),
            };
            let offset = offset
                .parse::<u64>()
                .map_err(|_| format!("{item:?}: the offset is not a number"))?;
            out.insert(channel.to_string(), StreamPosition { offset, epoch });
        }
        Ok(Cursor(out))
    }

    /// The text form (the `id:` of an event).
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (c, p) in &self.0 {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(c);
            out.push('=');
            out.push_str(&p.offset.to_string());
            if let Some(e) = &p.epoch {
                out.push('/');
                out.push_str(e);
            }
        }
        out
    }

    /// The position of `channel`, if any.
    pub fn get(&self, channel: &str) -> Option<&StreamPosition> {
        self.0.get(channel)
    }

    fn advance(&mut self, channel: &str, offset: u64) {
        match self.0.get_mut(channel) {
            Some(p) => p.offset = offset,
            None => {
                let p = StreamPosition {
                    offset,
                    epoch: None,
                };
                self.0.insert(channel.to_string(), p);
            }
        }
    }
}

/// Why a stream could not open.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub code: ErrorCode,
    pub message: String,
}

impl From<Refusal> for Refused {
    fn from(r: Refusal) -> Self {
        Refused {
            code: r.code,
            message: r.message,
        }
    }
}

/// What a stream starts from.
pub struct Open {
    pub conn: Arc<Connection>,
    pub slot: ConnectionSlot,
    pub channels: Vec<String>,
    /// Where to resume (from `since` or `Last-Event-ID`).
    pub resume: Cursor,
    /// Channels the connect hook asked to join.
    pub extra_channels: Vec<String>,
    /// Drops the HTTP connection (when the reader never takes the close).
    pub kill: CancellationToken,
}

/// Registers the connection and subscribes it; the stream then yields
/// its deliveries as SSE text until it closes.
pub async fn open(state: &Arc<AppState>, o: Open) -> Result<SseStream, Refused> {
    let conn = o.conn;
    check_subscribe(state, &conn, &o.channels, Requester::Client)?;
    state.hub.add_connection(conn.clone());
    let guard = Guard {
        state: state.clone(),
        conn: conn.clone(),
        stop: CancellationToken::new(),
        _slot: o.slot,
    };
    opened(state, &conn);
    if !register_user(state, &conn) {
        return Err(Refused {
            code: ErrorCode::TooManyConnections,
            message: "this user is at its connection limit".into(),
        });
    }
    greet(state, &conn);
    let opts = SubscribeOptions {
        recover: o
            .channels
            .iter()
            .filter_map(|c| o.resume.get(c).map(|p| (c.clone(), p.clone())))
            .collect(),
        ..SubscribeOptions::default()
    };
    let joined = state
        .hub
        .subscribe(&conn, &o.channels, &opts, |results| {
            conn.control_frame(
                "subscribe_success",
                success_fields(&o.channels, results, false),
                None,
            )
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "history read failed during an SSE subscribe");
            Refused {
                code: ErrorCode::Unavailable,
                message: "history storage is unavailable; retry".into(),
            }
        })?;
    join_server_channels(state, &conn, &o.extra_channels).await;
    let mut cursor = Cursor::default();
    for j in joined {
        if let Some((offset, epoch)) = j.position {
            let p = StreamPosition {
                offset,
                epoch: Some(epoch),
            };
            cursor.0.insert(j.channel, p);
        }
    }
    if state.shutdown.is_cancelled() {
        conn.close(CloseCode::GoingAway, true);
    }
    let taken = Arc::new(AtomicU64::new(0));
    spawn_watchdog(state, &conn, &taken, guard.stop.clone(), o.kill);
    let every = state.config.heartbeat_interval;
    Ok(SseStream {
        conn,
        cursor,
        batch: VecDeque::new(),
        beat: tokio::time::interval_at(tokio::time::Instant::now() + every, every),
        taken,
        ended: false,
        guard,
    })
}

/// Counts and audits a new stream.
fn opened(state: &AppState, conn: &Connection) {
    state.metrics.sse_connections.inc();
    state.metrics.sse_connections_total.inc();
    let user = conn.user_id();
    audit::connection_opened(&audit::ConnectionOpened {
        connection_id: &conn.id,
        remote: conn.remote,
        user: user.as_deref(),
        endpoint: "/api/sse",
        dialect: "sse",
    });
}

/// The first event: `connection_established`, as on a WebSocket.
fn greet(state: &AppState, conn: &Connection) {
    let user = conn.user_id();
    conn.send(
        "connection_established",
        fields([
            ("connection_id", Value::from(&*conn.id)),
            ("protocol_version", Value::from(PROTOCOL_VERSION)),
            (
                "heartbeat_interval_ms",
                Value::from(state.config.heartbeat_interval.as_millis() as u64),
            ),
            ("user_id", user.map(Value::from).unwrap_or(Value::Null)),
            ("timestamp", Value::from(now_rfc3339())),
        ]),
        None,
    );
}

/// Milliseconds since `start`.
fn since(start: Moment) -> u64 {
    start.elapsed().as_millis() as u64
}

/// Closes a stream whose reader stopped taking chunks, or whose token
/// expired, and drops the HTTP connection of a close nobody reads.
fn spawn_watchdog(
    state: &Arc<AppState>,
    conn: &Arc<Connection>,
    taken: &Arc<AtomicU64>,
    stop: CancellationToken,
    kill: CancellationToken,
) {
    let (conn, taken) = (conn.clone(), taken.clone());
    let patience = state.config.heartbeat_interval + state.config.heartbeat_timeout;
    let tick = (state.config.heartbeat_timeout / 4)
        .clamp(Duration::from_millis(20), Duration::from_secs(5));
    let expires = conn.principal.read().expires_at;
    tokio::spawn(async move {
        let mut closing_since: Option<Instant> = None;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(tick) => {}
            }
            if conn.outbound.close_request().is_some() {
                let at = *closing_since.get_or_insert_with(Instant::now);
                if at.elapsed() >= CLOSE_GRACE {
                    kill.cancel();
                    return;
                }
                continue;
            }
            let idle = since(conn.connected_at).saturating_sub(taken.load(Relaxed));
            if Duration::from_millis(idle) > patience {
                conn.close(CloseCode::SlowConsumer, false);
            } else if expires.is_some_and(|e| e * 1000 <= wavecast_protocol::time::now_millis()) {
                conn.close(CloseCode::TokenExpired, true);
            }
        }
    });
}

/// Unsubscribes, unregisters and audits when the stream goes away.
struct Guard {
    state: Arc<AppState>,
    conn: Arc<Connection>,
    stop: CancellationToken,
    _slot: ConnectionSlot,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.stop.cancel();
        let (state, conn) = (&self.state, &self.conn);
        for ch in conn.outbound.channels() {
            state.hub.detach(conn, &ch);
        }
        state.hub.remove_connection(conn);
        let close = conn.outbound.close_request();
        let reason = close.map_or("client_close", |c| c.code.label());
        state.metrics.sse_connections.dec();
        state.metrics.disconnect(reason);
        for (ch, stats) in conn.outbound.take_subs() {
            crate::hub::subscription_ended(conn, &ch, &stats, reason);
        }
        let user = conn.user_id();
        audit::connection_closed(&audit::ConnectionClosed {
            connection_id: &conn.id,
            remote: conn.remote,
            user: user.as_deref(),
            duration_seconds: conn.connected_at.elapsed().as_secs_f64(),
            packets_sent: conn.packets_sent.load(Relaxed),
            packets_received: 0,
            dropped_frames: conn.outbound.dropped_total(),
            close_code: close.map(|c| c.code.code()),
            close_reason: close.map_or("", |c| c.code.reason()),
            reason,
        });
    }
}

/// The response body of one SSE stream.
pub struct SseStream {
    conn: Arc<Connection>,
    cursor: Cursor,
    batch: VecDeque<Outgoing>,
    beat: tokio::time::Interval,
    /// When the reader last took a chunk (ms since the connection began).
    taken: Arc<AtomicU64>,
    ended: bool,
    guard: Guard,
}

impl SseStream {
    /// The queued frames as one chunk, each publication with its `id:`.
    fn chunk(&mut self) -> Bytes {
        let metrics = &self.guard.state.metrics;
        let now = Instant::now();
        let mut out = BytesMut::new();
        let (mut frames, mut deliveries) = (0u64, 0u64);
        for f in self.batch.drain(..) {
            if let (Some(ch), true) = (&f.channel, f.offset > 0) {
                self.cursor.advance(ch, f.offset);
                out.extend_from_slice(b"id: ");
                out.extend_from_slice(self.cursor.render().as_bytes());
                out.extend_from_slice(b"\n");
            }
            if let Some(t) = f.published_at {
                deliveries += 1;
                metrics
                    .delivery_latency
                    .observe(now.saturating_duration_since(t));
            }
            out.extend_from_slice(&f.bytes);
            frames += 1;
        }
        metrics.messages_sent_total.inc_by(frames);
        metrics.bytes_sent_total.inc_by(out.len() as u64);
        metrics.publications_delivered_total.inc_by(deliveries);
        self.conn.packets_sent.fetch_add(frames, Relaxed);
        out.freeze()
    }

    fn pop(&mut self) {
        let format = self.conn.format;
        self.conn
            .outbound
            .pop_batch(&mut self.batch, BATCH_FRAMES, BATCH_BYTES, |ch, n| {
                format.dropped(ch, n)
            });
    }

    /// Hands `b` to the reader; the next heartbeat is due an interval
    /// from now.
    fn took(&mut self, b: Bytes) -> Poll<Option<Result<Bytes, Infallible>>> {
        self.taken.store(since(self.conn.connected_at), Relaxed);
        self.beat.reset();
        Poll::Ready(Some(Ok(b)))
    }
}

/// The last event of a closed stream.
fn close_event(code: CloseCode) -> Bytes {
    let v = serde_json::json!({
        "type": "close",
        "code": code.code(),
        "reason": code.reason(),
    });
    sse_event("close", &v.to_string())
}

impl futures_util::Stream for SseStream {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        this.conn.outbound.register(cx.waker());
        if let Some(close) = this.conn.outbound.close_request() {
            if close.flush {
                this.pop();
                if !this.batch.is_empty() {
                    let b = this.chunk();
                    return this.took(b);
                }
            }
            this.ended = true;
            return this.took(close_event(close.code));
        }
        this.pop();
        if !this.batch.is_empty() {
            let b = this.chunk();
            return this.took(b);
        }
        if this.beat.poll_tick(cx).is_ready() {
            let b = this.conn.keepalive_frame();
            return this.took(b);
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let chans = vec!["news".to_string(), "chat:1".to_string()];
        let c = Cursor::parse("news=5/ep1,chat:1=7", &chans).unwrap();
        assert_eq!(c.render(), "chat:1=7,news=5/ep1");
        assert_eq!(Cursor::parse(&c.render(), &chans).unwrap(), c);
        let all = Cursor::parse("3", &chans).unwrap();
        assert_eq!(all.get("news").unwrap().offset, 3);
        assert_eq!(all.get("chat:1").unwrap().epoch, None);
        assert!(Cursor::parse("news", &chans).is_err());
        assert!(Cursor::parse("news=x", &chans).is_err());
        assert_eq!(Cursor::parse("", &chans).unwrap(), Cursor::default());
    }
}
