//! The task that drives one connection, in three phases:
//!
//! 1. `open`: register the connection, say hello through the handler,
//!    join the channels the connect hook chose;
//! 2. `serve`: one `poll_fn` at a time, in this order — a close request,
//!    the outbound queue (written in batches), the socket's incoming
//!    messages, then the timers: the heartbeat and the auth deadlines on
//!    the shared wheel ([`crate::timer`], up to 10 ms late), and the end of
//!    a coalescing hold on a timer of its own;
//! 3. `finish`: stop deliveries, run the close handshake, unregister,
//!    and write the audit records.
//!
//! Coalescing: while the server is busy ([`crate::load`]), a connection
//! that wrote less than `delivery.coalesce_window` ago holds new frames
//! until the window has passed (publications then do not wake it; the
//! timer does), so a burst leaves in one write. On a quiet server, or for
//! a connection that has not written lately, frames go out at once.
//!
//! Reading and writing share the socket without a lock, and an idle
//! connection costs one parked task with no buffers. The open and finish
//! phases and message handling run in boxed futures, so the parked task
//! is only as large as the serving loop.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Sleep;
use wavecast_protocol::dialect::RateUnit;
use wavecast_protocol::{CloseCode, ErrorCode};
use wavecast_ws::{encode_close, encode_close_empty, encode_ping, encode_pong, Message, WsError};

use super::admission::{join_server_channels, register_user, Admission};
use super::auth::SessionAuth;
use super::io::{Read, Readable, SocketIo};
use super::{core, Handler, Session};
use crate::audit;
use crate::conn::outbound::{CloseRequest, DirectSocket};
use crate::conn::Connection;
use crate::limits::ConnectionSlot;
use crate::moment::Moment;
use crate::state::AppState;
use crate::timer::Wheel;

/// How long the close handshake (and the flush before it) may take.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndCause {
    /// The server closed it with this code.
    Server(CloseRequest),
    /// The client sent a close frame with this code (or none).
    ClientClose(Option<u16>),
    /// The client broke the protocol, or sent a message above the limit.
    Violation(WsError),
    /// The socket failed or reached EOF without a close frame.
    Transport,
}

impl EndCause {
    fn violation_code(e: WsError) -> CloseCode {
        match e.close_code() {
            1007 => CloseCode::InvalidPayload,
            1009 => CloseCode::MessageTooBig,
            _ => CloseCode::ProtocolError,
        }
    }

    /// The label for `disconnects_total{reason}` and the audit log.
    pub fn label(&self) -> &'static str {
        match self {
            EndCause::Server(r) => r.code.label(),
            EndCause::ClientClose(_) => "client_close",
            EndCause::Violation(e) => Self::violation_code(*e).label(),
            EndCause::Transport => "transport",
        }
    }

    /// The close code of the connection, as far as the server knows it.
    pub fn code(&self) -> Option<u16> {
        match self {
            EndCause::Server(r) => Some(r.code.code()),
            EndCause::ClientClose(c) => *c,
            EndCause::Violation(e) => Some(e.close_code()),
            EndCause::Transport => None,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            EndCause::Server(r) => r.code.reason(),
            EndCause::ClientClose(_) => "closed by client",
            EndCause::Violation(e) => e.reason(),
            EndCause::Transport => "connection lost",
        }
    }
}

/// What woke the serving loop. It carries no message (that waits in the
/// socket's inbox), so it takes no room in the task beside the awaited
/// future.
enum Event {
    Message,
    Ended(EndCause),
    Timer,
}

/// Everything a running session owns, kept in one place so the task's
/// future holds each of them once (an `async fn`'s arguments would stay in
/// its state beside the locals they were moved into).
struct Live<S, H> {
    s: Session,
    handler: H,
    io: SocketIo<S>,
    /// The channels the connect hook chose, until `open` joins them (a
    /// thin box, and none when there are none: the task keeps this field
    /// for its whole life).
    #[allow(
        clippy::box_collection,
        reason = "the box keeps the field one pointer wide for the task's life"
    )]
    extra_channels: Option<Box<Vec<String>>>,
    _slot: ConnectionSlot,
}

impl<S, H> Drop for Live<S, H> {
    /// However the task ends (even dropped mid-way), no direct write
    /// reaches the socket once it is closed.
    fn drop(&mut self) {
        self.s.conn.outbound.detach_socket();
    }
}

/// The future that runs a connection until it closes.
pub fn run<S, H>(
    state: Arc<AppState>,
    io: SocketIo<S>,
    conn: Arc<Connection>,
    handler: H,
    admission: Admission,
    endpoint: Arc<str>,
) -> impl Future<Output = ()>
where
    S: AsyncRead + AsyncWrite + Unpin + DirectSocket,
    H: Handler,
{
    if let Some(fd) = io.direct_fd() {
        // Detached when the session ends (see `finish` and `Live`'s drop).
        conn.outbound.attach_socket(fd);
    }
    let Admission {
        slot,
        admitted,
        extra_channels,
    } = admission;
    let auth = SessionAuth::new(admitted, state.config.auth.auth_timeout);
    drive(Live {
        s: Session {
            state,
            conn,
            endpoint,
            auth,
            initialized: false,
        },
        handler,
        io,
        extra_channels: (!extra_channels.is_empty()).then(|| Box::new(extra_channels)),
        _slot: slot,
    })
}

/// The three phases; only `serve` runs inline, so a parked connection's
/// future is the serving loop and nothing else.
///
/// An `async` block, not an `async fn`: an `async fn` moves its argument
/// into a local, and its future keeps room for both (336 bytes more per
/// connection); the block uses the captured `live` in place.
#[allow(
    clippy::manual_async_fn,
    reason = "an async fn would keep its arguments twice"
)]
fn drive<S, H>(mut live: Live<S, H>) -> impl Future<Output = ()>
where
    S: AsyncRead + AsyncWrite + Unpin,
    H: Handler,
{
    async move {
        let Live {
            s,
            handler,
            io,
            extra_channels,
            ..
        } = &mut live;
        let extra = extra_channels.take().map(|b| *b).unwrap_or_default();
        Box::pin(open(s, handler, extra)).await;
        let cause = serve(s, handler, io).await;
        Box::pin(finish(s, handler, io, cause)).await;
    }
}

/// Phase 1: register, greet, join the hook's channels.
async fn open<H: Handler>(s: &mut Session, h: &mut H, extra_channels: Vec<String>) {
    let (state, conn) = (s.state.clone(), s.conn.clone());
    state.hub.add_connection(conn.clone());
    state.metrics.connections.inc();
    state.metrics.connections_total.inc();
    let user = conn.user_id();
    audit::connection_opened(&audit::ConnectionOpened {
        connection_id: &conn.id,
        remote: conn.remote,
        user: user.as_deref(),
        endpoint: &s.endpoint,
        dialect: conn.format.dialect.as_str(),
    });
    if s.auth.admitted {
        h.on_open(s).await;
        let p = conn.principal.read().clone();
        if p.authenticated {
            if register_user(&state, &conn) {
                s.auth
                    .schedule_token(p.expires_at, state.config.auth.refresh_before);
                join_server_channels(&state, &conn, &extra_channels).await;
            } else {
                conn.close(CloseCode::AuthFailed, true);
            }
        }
    }
    // A shutdown that started before we registered must still reach us.
    if state.shutdown.is_cancelled() {
        conn.close(CloseCode::GoingAway, true);
    }
}

/// Liveness and message-rate state of the serving loop.
struct Pace {
    last_seen: Moment,
    next_beat: Moment,
    /// The message-rate bucket (see [`crate::limits::Gcra`]).
    rate: u64,
    limited_in_a_row: u32,
}

/// Phase 2: the event loop (an `async` block for the reason given at
/// [`drive`]).
#[allow(
    clippy::manual_async_fn,
    reason = "an async fn would keep its arguments twice"
)]
fn serve<'a, S, H>(
    s: &'a mut Session,
    h: &'a mut H,
    io: &'a mut SocketIo<S>,
) -> impl Future<Output = EndCause> + 'a
where
    S: AsyncRead + AsyncWrite + Unpin,
    H: Handler,
{
    async move {
        let state = s.state.clone();
        let period = state.config.heartbeat_interval;
        let now = Moment::now();
        let mut pace = Pace {
            last_seen: now,
            next_beat: now + period,
            rate: 0,
            limited_in_a_row: 0,
        };
        let mut timers = Timers {
            tick: 0,
            armed: 0,
            hold: None,
        };
        let cause = loop {
            let wake = s
                .auth
                .next_deadline()
                .map_or(pace.next_beat.instant(), |d| {
                    d.min(pace.next_beat.instant())
                });
            timers.tick = state.timers.tick_of(wake);
            let event = poll_fn(|cx| poll_event(cx, io, &s.conn, &state, &mut timers)).await;
            match event {
                Event::Ended(cause) => break cause,
                Event::Timer => {
                    timers.set_hold(None);
                    on_timer(s, h, &mut pace);
                }
                Event::Message => {
                    let Some(m) = io.next_message() else { continue };
                    if let Some(cause) = Box::pin(on_message(s, h, &mut pace, m)).await {
                        break cause;
                    }
                }
            }
        };
        poll_fn(|cx| {
            state.timers.cancel(timers.armed, cx.waker());
            Poll::Ready(())
        })
        .await;
        cause
    }
}

/// The serving loop's timers: its next heartbeat or auth deadline on the
/// shared wheel ([`crate::timer`]), and while it coalesces, a precise
/// timer for the end of the hold (boxed: an idle session has none).
struct Timers {
    /// The wheel's tick of the next heartbeat or auth deadline.
    tick: u64,
    /// The tick this task's waker is registered for (0: none).
    armed: u64,
    hold: Option<Pin<Box<Sleep>>>,
}

impl Timers {
    fn set_hold(&mut self, until: Option<Instant>) {
        let Some(at) = until.map(tokio::time::Instant::from_std) else {
            self.hold = None;
            return;
        };
        match self.hold.as_mut() {
            Some(t) if t.deadline() == at => {}
            Some(t) => t.as_mut().reset(at),
            None => self.hold = Some(Box::pin(tokio::time::sleep_until(at))),
        }
    }

    fn hold_until(&self) -> Option<Instant> {
        self.hold.as_ref().map(|t| t.deadline().into_std())
    }

    /// Ready when the hold ended or the wheel reached the deadline.
    fn poll(&mut self, cx: &mut Context<'_>, wheel: &Arc<Wheel>) -> Poll<()> {
        if let Some(t) = self.hold.as_mut() {
            if t.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
        }
        if wheel.reached(self.tick) {
            return Poll::Ready(());
        }
        if self.armed != self.tick {
            wheel.rearm(self.armed, self.tick, cx.waker());
            self.armed = self.tick;
        }
        Poll::Pending
    }
}

fn poll_event<S: AsyncRead + AsyncWrite + Unpin>(
    cx: &mut Context<'_>,
    io: &mut SocketIo<S>,
    conn: &Connection,
    state: &AppState,
    timers: &mut Timers,
) -> Poll<Event> {
    conn.outbound.register(cx.waker());
    if let Some(req) = conn.outbound.close_request() {
        return Poll::Ready(Event::Ended(EndCause::Server(req)));
    }
    match hold(io, conn, state) {
        Some(at) => {
            if timers.hold_until().is_none_or(|t| t > at) {
                timers.set_hold(Some(at));
            }
        }
        None => {
            if let Poll::Ready(Err(_)) = io.poll_write(cx, conn, &state.metrics) {
                return Poll::Ready(Event::Ended(EndCause::Transport));
            }
        }
    }
    match io.poll_readable(cx) {
        Poll::Ready(Readable::Message) => return Poll::Ready(Event::Message),
        Poll::Ready(Readable::Eof) => return Poll::Ready(Event::Ended(EndCause::Transport)),
        Poll::Ready(Readable::Violation(e)) => {
            return Poll::Ready(Event::Ended(EndCause::Violation(e)))
        }
        Poll::Pending => {}
    }
    if timers.poll(cx, &state.timers).is_ready() {
        return Poll::Ready(Event::Timer);
    }
    Poll::Pending
}

/// Until when the writer holds frames back to coalesce them (`None`:
/// write now). A partly written batch is always finished first.
fn hold<S: AsyncRead + AsyncWrite + Unpin>(
    io: &SocketIo<S>,
    conn: &Connection,
    state: &AppState,
) -> Option<Instant> {
    let at = if io.idle_writer() {
        state.hub.load().hold_until(io.last_write())
    } else {
        None
    };
    conn.outbound.set_holding(at.is_some());
    if at.is_some() {
        state.metrics.write_holds_total.inc();
    }
    at
}

/// The heartbeat tick and the auth deadlines.
fn on_timer<H: Handler>(s: &mut Session, h: &mut H, pace: &mut Pace) {
    let now = Instant::now();
    let cfg = &s.state.config;
    if Moment::from(now) >= pace.next_beat {
        pace.next_beat = Moment::from(now + cfg.heartbeat_interval);
        if pace.last_seen.until(now) >= cfg.heartbeat_timeout {
            s.conn.close(CloseCode::HeartbeatTimeout, false);
            return;
        }
        // A protocol Ping for every client (RFC 6455 clients answer it
        // by themselves), and the endpoint's keepalive for browsers.
        s.conn.outbound.push_control(encode_ping(b""));
        if s.may_speak(h) {
            if let Some(frame) = h.keepalive(s) {
                s.conn.outbound.push_control(frame);
            }
        }
    }
    s.auth.on_deadline(&s.state, &s.conn, now);
}

/// One client message; `Some` when it ends the session.
async fn on_message<H: Handler>(
    s: &mut Session,
    h: &mut H,
    pace: &mut Pace,
    m: Message,
) -> Option<EndCause> {
    pace.last_seen = Moment::now();
    s.conn.count_received();
    s.state.metrics.messages_received_total.inc();
    if let Message::Close(c) = m {
        return Some(EndCause::ClientClose(c.map(|(code, _)| code)));
    }
    if !take_rate(s, pace) {
        return None;
    }
    if h.on_raw(s, &m) {
        return None;
    }
    match m {
        Message::Text(text) => core::on_message(s, h, core::Inbound::Text(&text)).await,
        Message::Binary(b) if s.conn.format.msgpack => {
            core::on_message(s, h, core::Inbound::MsgPack(&b)).await
        }
        Message::Binary(b) => h.on_binary(s, b),
        Message::Ping(p) => s.conn.outbound.push_control(encode_pong(&p)),
        Message::Pong(_) | Message::Close(_) => {}
    }
    None
}

/// The message-rate limit: false when this message is not processed.
fn take_rate(s: &Session, pace: &mut Pace) -> bool {
    if s.state.limits.admit_message(&mut pace.rate, pace.last_seen) {
        pace.limited_in_a_row = 0;
        return true;
    }
    let limits = &s.state.limits.cfg;
    pace.limited_in_a_row += 1;
    s.state.metrics.limit_rejections("message_rate");
    if pace.limited_in_a_row >= limits.rate_limit_close_after.max(1) {
        s.conn.close(CloseCode::RateLimit, false);
    } else {
        // In the unit the dialect's clients know the limit by (/ws/config).
        let per_minute = limits.messages_per_minute();
        let message = match s.conn.format.dialect.rate_unit() {
            RateUnit::PerSecond if per_minute.is_multiple_of(60) => format!(
                "more than {} messages per second; this one was not processed",
                per_minute / 60
            ),
            RateUnit::PerSecond => format!(
                "more than {:.2} messages per second; this one was not processed",
                per_minute as f64 / 60.0
            ),
            RateUnit::PerMinute => {
                format!("more than {per_minute} messages per minute; this one was not processed")
            }
        };
        s.send_error(ErrorCode::RateLimited, &message, None);
    }
    false
}

/// Phase 3: stop deliveries, close, unregister, audit.
async fn finish<S, H>(s: &Session, h: &mut H, io: &mut SocketIo<S>, cause: EndCause)
where
    S: AsyncRead + AsyncWrite + Unpin,
    H: Handler,
{
    let (state, conn) = (&s.state, &s.conn);
    // From here only this task writes the socket.
    conn.outbound.detach_socket();
    h.on_close(s, cause.label());
    // New deliveries stop; what is queued stays for a flushing close.
    for ch in conn.outbound.channels() {
        state.hub.detach(conn, &ch);
    }
    state.hub.remove_connection(conn);
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, close_handshake(io, conn, state, cause)).await;
    io.shutdown().await;
    state.metrics.connections.dec();
    state.metrics.disconnect(cause.label());
    state
        .metrics
        .connection_duration
        .observe(conn.connected_at.elapsed().as_secs_f64());
    for (ch, stats) in conn.outbound.take_subs() {
        crate::hub::subscription_ended(conn, &ch, &stats, cause.label());
    }
    let user = conn.user_id();
    audit::connection_closed(&audit::ConnectionClosed {
        connection_id: &conn.id,
        remote: conn.remote,
        user: user.as_deref(),
        duration_seconds: conn.connected_at.elapsed().as_secs_f64(),
        packets_sent: conn.packets_sent.load(std::sync::atomic::Ordering::Relaxed),
        packets_received: conn
            .packets_received
            .load(std::sync::atomic::Ordering::Relaxed),
        dropped_frames: conn.outbound.dropped_total(),
        close_code: cause.code(),
        close_reason: cause.reason(),
        reason: cause.label(),
    });
}

/// The close frame for `cause`, after a flush when the server asked for
/// one; then the client's close frame (or EOF) is awaited.
async fn close_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut SocketIo<S>,
    conn: &Connection,
    state: &AppState,
    cause: EndCause,
) -> std::io::Result<()> {
    // The rest of a frame a direct write sent in part goes first, whatever
    // the close (direct writes have ended: see `finish`).
    if let Some(rest) = conn.outbound.take_rest() {
        io.write_raw(&rest).await?;
    }
    match cause {
        EndCause::Server(req) => {
            if req.flush {
                poll_fn(|cx| {
                    conn.outbound.register(cx.waker());
                    io.poll_write(cx, conn, &state.metrics)
                })
                .await?;
            }
            io.write_now(&encode_close(req.code.code(), req.code.reason()))
                .await?;
            while !io.client_closed() {
                match poll_fn(|cx| io.poll_read(cx)).await {
                    Read::Message(_) => {}
                    Read::Eof | Read::Violation(_) => break,
                }
            }
            Ok(())
        }
        EndCause::ClientClose(code) => match code {
            Some(c) => io.write_now(&encode_close(c, "")).await,
            None => io.write_now(&encode_close_empty()).await,
        },
        EndCause::Violation(e) => {
            io.write_now(&encode_close(e.close_code(), e.reason()))
                .await
        }
        EndCause::Transport => Ok(()),
    }
}
