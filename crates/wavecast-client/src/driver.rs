//! The background task of a client. It owns the socket and the client's
//! memory of the world: the subscriptions with the last position seen on
//! each channel, the requests awaiting a reply, and the outgoing queue.
//!
//! Life cycle: connect (credentials in the URL, a header or an `auth`
//! message) → admitted → resubscribe every channel, recovering from the last
//! offset and epoch seen → flush the queue in order → serve. When the
//! connection is lost it waits a full-jitter exponential backoff and starts
//! again, unless the close code says retrying cannot help.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::pin::pin;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Map, Value};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_websockets::{ClientBuilder, MaybeTlsStream, Message, WebSocketStream};

use crate::auth::{now_millis, signed_api_key_auth, signed_key_id_auth};
use crate::client::{SubscribeAnswer, SubscribeOptions};
use crate::config::{encode_query, ClientConfig, Credentials, Overflow, Via};
use crate::error::{Error, Result, ServerError};
use crate::event::{ClientEvent, ConnectionState, Position, Recovery, SubEvent, Subscribed};
use crate::frame::{self, Frame, PositionInfo};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Channels per `subscribe` when resubscribing.
const RESUBSCRIBE_BATCH: usize = 100;

/// A request from a [`crate::Client`] handle.
pub(crate) enum Command {
    Subscribe {
        channel: String,
        options: SubscribeOptions,
        reply: oneshot::Sender<SubscribeAnswer>,
    },
    Unsubscribe {
        channel: String,
        key: u64,
        reply: Option<oneshot::Sender<Result<()>>>,
    },
    Send {
        text: String,
        reply: oneshot::Sender<Result<()>>,
    },
    Refresh {
        token: String,
    },
    Close {
        reply: oneshot::Sender<()>,
    },
}

/// One subscription as the driver remembers it.
struct Sub {
    key: u64,
    tx: mpsc::Sender<SubEvent>,
    options: SubscribeOptions,
    /// The last offset seen (or the top at subscribe time) and its epoch.
    position: Option<Position>,
    confirmed_once: bool,
    /// Set while `Client::subscribe` waits for the first answer.
    waiter: Option<(oneshot::Sender<SubscribeAnswer>, mpsc::Receiver<SubEvent>)>,
}

/// A request awaiting the server's reply, by request id.
enum Pending {
    Subscribe {
        /// Each channel with the position recovery was asked from.
        channels: Vec<(String, Option<Position>)>,
        resubscribe: bool,
    },
    Unsubscribe {
        reply: Option<oneshot::Sender<Result<()>>>,
    },
}

/// How a session ended.
enum End {
    /// `close()` or every handle dropped.
    Stop,
    /// The connection was lost or closed by the server.
    Lost {
        code: Option<u16>,
        reason: String,
        error: Error,
        retry: bool,
    },
}

/// Paces outgoing frames below the server's message rate.
struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(rate: u32) -> Option<Bucket> {
        (rate > 0).then(|| Bucket {
            rate: rate as f64,
            burst: (rate as f64 * 1.5).max(1.0),
            tokens: (rate as f64 * 1.5).max(1.0),
            last: Instant::now(),
        })
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let dt = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
    }

    /// Takes a token for a frame that must go now (it may go into debt).
    fn charge(&mut self) {
        self.refill();
        self.tokens -= 1.0;
    }

    /// Takes a token if there is one; otherwise tells when there will be.
    fn take(&mut self) -> std::result::Result<(), Instant> {
        self.refill();
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - self.tokens) / self.rate;
            Err(self.last + Duration::from_secs_f64(wait))
        }
    }
}

pub(crate) struct Driver {
    config: ClientConfig,
    cmd_rx: mpsc::Receiver<Command>,
    state: watch::Sender<ConnectionState>,
    events: broadcast::Sender<ClientEvent>,
    subs: HashMap<String, Sub>,
    pending: HashMap<u64, Pending>,
    outbox: VecDeque<String>,
    next_id: u64,
    next_key: u64,
    token: Option<String>,
    bucket: Option<Bucket>,
    close_reply: Option<oneshot::Sender<()>>,
}

impl Driver {
    pub(crate) fn new(
        config: ClientConfig,
        cmd_rx: mpsc::Receiver<Command>,
        state: watch::Sender<ConnectionState>,
        events: broadcast::Sender<ClientEvent>,
    ) -> Driver {
        let token = match &config.credentials {
            Credentials::Token { token, .. } => Some(token.clone()),
            _ => None,
        };
        let bucket = Bucket::new(config.max_send_rate);
        Driver {
            config,
            cmd_rx,
            state,
            events,
            subs: HashMap::new(),
            pending: HashMap::new(),
            outbox: VecDeque::new(),
            next_id: 1,
            next_key: 1,
            token,
            bucket,
            close_reply: None,
        }
    }

    fn emit(&self, ev: ClientEvent) {
        let _ = self.events.send(ev);
    }

    fn set_state(&self, s: ConnectionState) {
        self.state.send_replace(s.clone());
        self.emit(ClientEvent::State(s));
    }

    /// Runs until closed.
    pub(crate) async fn run(mut self) {
        let mut failures = 0u32;
        let mut last_error: Option<Error> = None;
        let mut first = true;
        loop {
            if first {
                self.set_state(ConnectionState::Connecting);
            }
            let outcome = if !first && self.config.token_provider.is_some() && self.token.is_some()
            {
                match self.fresh_token().await {
                    Some(Ok(t)) => {
                        self.token = Some(t);
                        self.connect_phase().await
                    }
                    Some(Err(e)) => Some(Err(e)),
                    None => None,
                }
            } else {
                self.connect_phase().await
            };
            first = false;
            match outcome {
                None => return self.finish(None),
                Some(Ok((ws, welcome))) => {
                    failures = 0;
                    match self.session(ws, welcome).await {
                        End::Stop => return self.finish(None),
                        End::Lost {
                            code,
                            reason,
                            error,
                            retry,
                        } => {
                            self.emit(ClientEvent::Disconnected { code, reason });
                            self.connection_lost();
                            if !retry || !self.config.reconnect {
                                return self.finish(Some(error));
                            }
                        }
                    }
                }
                Some(Err(e)) => {
                    // A failing token provider is worth retrying too.
                    let provider =
                        matches!(&e, Error::AuthFailed(se) if se.code == "token_provider");
                    if !(e.is_transient() || provider) || !self.config.reconnect {
                        return self.finish(Some(e));
                    }
                    failures += 1;
                    last_error = Some(e);
                }
            }
            if !self.config.backoff.allows(failures) {
                let last = last_error.take().unwrap_or(Error::Closed);
                return self.finish(Some(Error::GaveUp {
                    attempts: failures,
                    last: Box::new(last),
                }));
            }
            let delay = self.config.backoff.delay(failures);
            self.set_state(ConnectionState::Reconnecting {
                attempt: failures + 1,
                delay_ms: delay.as_millis() as u64,
            });
            if !self.wait_offline(delay).await {
                return self.finish(None);
            }
        }
    }

    /// Asks the token provider for a token while serving commands; `None`
    /// when the client was closed meanwhile.
    async fn fresh_token(&mut self) -> Option<Result<String>> {
        let provider = self.config.token_provider.clone()?;
        let mut fut = provider();
        loop {
            tokio::select! {
                t = &mut fut => return Some(t.map_err(|e| Error::AuthFailed(ServerError {
                    code: "token_provider".into(),
                    message: e,
                }))),
                cmd = self.cmd_rx.recv() => {
                    if !self.offline_command(cmd) {
                        return None;
                    }
                }
            }
        }
    }

    /// Ends the client: tells every subscription and the state watchers.
    fn finish(mut self, error: Option<Error>) {
        for (_, mut sub) in self.subs.drain() {
            let ev = match &error {
                Some(e) => SubEvent::Failed(e.clone()),
                None => SubEvent::Unsubscribed { server_side: false },
            };
            if let Some((reply, _)) = sub.waiter.take() {
                let _ = reply.send(Err(error.clone().unwrap_or(Error::Closed)));
            } else {
                let _ = sub.tx.try_send(ev);
            }
        }
        for (_, p) in self.pending.drain() {
            if let Pending::Unsubscribe { reply: Some(r) } = p {
                let _ = r.send(Err(Error::Closed));
            }
        }
        self.set_state(ConnectionState::Closed(error));
        if let Some(r) = self.close_reply.take() {
            let _ = r.send(());
        }
    }

    /// Handles a command while there is no connection. False: stop.
    fn offline_command(&mut self, cmd: Option<Command>) -> bool {
        match cmd {
            None => false,
            Some(Command::Close { reply }) => {
                self.close_reply = Some(reply);
                false
            }
            Some(Command::Subscribe {
                channel,
                options,
                reply,
            }) => {
                let _ = reply.send(match self.register(&channel, options) {
                    Some((key, rx)) => Ok((key, rx, None)),
                    None => Err(Error::AlreadySubscribed(channel)),
                });
                true
            }
            Some(Command::Unsubscribe {
                channel,
                key,
                reply,
            }) => {
                if self.subs.get(&channel).is_some_and(|s| s.key == key) {
                    self.subs.remove(&channel);
                }
                if let Some(r) = reply {
                    let _ = r.send(Ok(()));
                }
                true
            }
            Some(Command::Send { text, reply }) => {
                let _ = reply.send(self.enqueue(text));
                true
            }
            Some(Command::Refresh { token }) => {
                self.token = Some(token);
                true
            }
        }
    }

    /// Registers a subscription; `None` when the channel already has one.
    fn register(
        &mut self,
        channel: &str,
        options: SubscribeOptions,
    ) -> Option<(u64, mpsc::Receiver<SubEvent>)> {
        if self.subs.contains_key(channel) {
            return None;
        }
        let (tx, rx) = mpsc::channel(self.config.subscription_buffer);
        let key = self.next_key;
        self.next_key += 1;
        self.subs.insert(
            channel.to_string(),
            Sub {
                key,
                tx,
                options,
                position: None,
                confirmed_once: false,
                waiter: None,
            },
        );
        Some((key, rx))
    }

    /// Adds a frame to the outgoing queue, applying the overflow policy.
    fn enqueue(&mut self, text: String) -> Result<()> {
        if self.outbox.len() >= self.config.queue_capacity {
            match self.config.overflow {
                Overflow::Error => return Err(Error::QueueFull),
                Overflow::DropNewest => {
                    self.emit(ClientEvent::QueueOverflow { discarded: 1 });
                    return Ok(());
                }
                Overflow::DropOldest => {
                    if self.outbox.pop_front().is_none() {
                        // Capacity 0: nothing can be kept.
                        self.emit(ClientEvent::QueueOverflow { discarded: 1 });
                        return Ok(());
                    }
                    self.emit(ClientEvent::QueueOverflow { discarded: 1 });
                }
            }
        }
        self.outbox.push_back(text);
        Ok(())
    }

    /// Waits `delay` while serving commands. False: stop.
    async fn wait_offline(&mut self, delay: Duration) -> bool {
        let sleep = pin!(tokio::time::sleep(delay));
        let mut sleep = sleep;
        loop {
            tokio::select! {
                _ = &mut sleep => return true,
                cmd = self.cmd_rx.recv() => {
                    if !self.offline_command(cmd) {
                        return false;
                    }
                }
            }
        }
    }

    /// One connection attempt, serving commands meanwhile. `None`: stop.
    async fn connect_phase(&mut self) -> Option<Result<(Ws, Value)>> {
        let fut = connect_once(
            self.config.clone(),
            self.token.clone(),
            self.config.connect_timeout,
        );
        let mut fut = pin!(fut);
        loop {
            tokio::select! {
                r = &mut fut => return Some(r),
                cmd = self.cmd_rx.recv() => {
                    if !self.offline_command(cmd) {
                        return None;
                    }
                }
            }
        }
    }

    /// After a lost connection: every request awaiting a reply is moot, and
    /// subscribers waiting for their first answer get their stream now.
    fn connection_lost(&mut self) {
        for (_, p) in self.pending.drain() {
            if let Pending::Unsubscribe { reply: Some(r) } = p {
                // The subscription ended with the connection anyway.
                let _ = r.send(Ok(()));
            }
        }
        for sub in self.subs.values_mut() {
            if let Some((reply, rx)) = sub.waiter.take() {
                let _ = reply.send(Ok((sub.key, rx, None)));
            }
        }
    }

    fn request_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Builds the subscribe frame of one channel that was never confirmed:
    /// it asks for the recovery the application gave, if any.
    fn first_subscribe_frame(&mut self, channel: &str) -> Option<String> {
        let sub = self.subs.get(channel)?;
        let mut frame = json!({"type": "subscribe", "channel": channel});
        let mut from = None;
        if let Some(p) = &sub.options.recover_from {
            frame["recover"] = json!({"offset": p.offset, "epoch": p.epoch});
            from = Some(p.clone());
        } else if let Some(s) = sub.options.since {
            frame["since"] = json!(s);
            from = Some(Position {
                offset: s,
                epoch: String::new(),
            });
        } else if sub.options.snapshot {
            frame["snapshot"] = json!(true);
        }
        if let Some(f) = &sub.options.filter {
            frame["filter"] = Value::Object(f.clone());
        }
        let id = self.request_id();
        frame["id"] = json!(id);
        self.pending.insert(
            id,
            Pending::Subscribe {
                channels: vec![(channel.to_string(), from)],
                resubscribe: false,
            },
        );
        Some(frame.to_string())
    }

    /// Builds the frames that subscribe `channels` again, each recovering
    /// from its last position, batched by filter.
    fn resubscribe_frames(&mut self, channels: &[String]) -> Vec<String> {
        let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut out = Vec::new();
        for c in channels {
            let Some(sub) = self.subs.get(c) else {
                continue;
            };
            if !sub.confirmed_once {
                if let Some(f) = self.first_subscribe_frame(c) {
                    out.push(f);
                }
                continue;
            }
            let key = sub
                .options
                .filter
                .as_ref()
                .map(|f| Value::Object(f.clone()).to_string())
                .unwrap_or_default();
            groups.entry(key).or_default().push(c.clone());
        }
        for (filter, list) in groups {
            for chunk in list.chunks(RESUBSCRIBE_BATCH) {
                let mut frame = json!({"type": "subscribe"});
                let mut recover = Map::new();
                let mut asked = Vec::with_capacity(chunk.len());
                for c in chunk {
                    let pos = self.subs.get(c).and_then(|s| s.position.clone());
                    if let Some(p) = &pos {
                        recover.insert(c.clone(), json!({"offset": p.offset, "epoch": p.epoch}));
                    }
                    asked.push((c.clone(), pos));
                }
                if chunk.len() == 1 {
                    frame["channel"] = json!(chunk[0]);
                    if let Some(p) = recover.remove(&chunk[0]) {
                        frame["recover"] = p;
                    }
                } else {
                    frame["channels"] = json!(chunk);
                    if !recover.is_empty() {
                        frame["recover"] = Value::Object(recover);
                    }
                }
                if !filter.is_empty() {
                    if let Ok(f) = serde_json::from_str::<Value>(&filter) {
                        frame["filter"] = f;
                    }
                }
                let id = self.request_id();
                frame["id"] = json!(id);
                self.pending.insert(
                    id,
                    Pending::Subscribe {
                        channels: asked,
                        resubscribe: true,
                    },
                );
                out.push(frame.to_string());
            }
        }
        out
    }

    /// Serves one admitted connection until it ends.
    async fn session(&mut self, mut ws: Ws, welcome: Value) -> End {
        let connection_id = welcome["connection_id"].as_str().unwrap_or("").to_string();
        let idle = self.config.idle_timeout.unwrap_or_else(|| {
            let hb = welcome["heartbeat_interval_ms"].as_u64().unwrap_or(30_000);
            Duration::from_millis(hb.saturating_mul(2)) + Duration::from_secs(5)
        });
        self.set_state(ConnectionState::Connected { connection_id });
        self.emit(ClientEvent::Connected { welcome });

        // Subscriptions first, then the queued messages, in order.
        let channels: Vec<String> = self.subs.keys().cloned().collect();
        for text in self.resubscribe_frames(&channels) {
            if let Some(b) = self.bucket.as_mut() {
                b.charge();
            }
            if let Err(e) = ws.send(Message::text(text)).await {
                return lost_transport(e);
            }
        }

        let mut refresh: Option<BoxFuture<'static, std::result::Result<String, String>>> = None;
        let idle_sleep = tokio::time::sleep(idle);
        let mut idle_sleep = pin!(idle_sleep);
        let mut send_at: Option<Instant> = None;
        loop {
            // Send what the rate allows.
            if send_at.is_none_or(|t| t <= Instant::now()) {
                send_at = None;
                while !self.outbox.is_empty() {
                    if let Some(b) = self.bucket.as_mut() {
                        if let Err(at) = b.take() {
                            send_at = Some(at);
                            break;
                        }
                    }
                    let Some(text) = self.outbox.pop_front() else {
                        break;
                    };
                    if let Err(e) = ws.send(Message::text(text.clone())).await {
                        // Not known to be written: keep it for the next connection.
                        self.outbox.push_front(text);
                        return lost_transport(e);
                    }
                }
            }
            let send_timer = async {
                match send_at {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            let refresh_fut = async {
                match refresh.as_mut() {
                    Some(f) => f.await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                msg = ws.next() => {
                    idle_sleep.as_mut().reset(Instant::now() + idle);
                    match msg {
                        None => return lost("connection lost", None, Error::Connect("the connection ended".into()), true),
                        Some(Err(e)) => return lost_transport(e),
                        Some(Ok(m)) => {
                            if let Some((code, reason)) = m.as_close() {
                                let code = u16::from(code);
                                let reason = reason.to_string();
                                // Let the WebSocket layer finish the close handshake.
                                let _ = tokio::time::timeout(Duration::from_secs(2), async {
                                    while let Some(Ok(_)) = ws.next().await {}
                                }).await;
                                return self.server_closed(code, reason);
                            }
                            if let Some(text) = m.as_text() {
                                match frame::parse(text) {
                                    Ok(f) => {
                                        if let Some(end) = self.handle_frame(&mut ws, f, &mut refresh).await {
                                            return end;
                                        }
                                    }
                                    Err(e) => self.emit(ClientEvent::ServerError(ServerError {
                                        code: "protocol".into(),
                                        message: e.to_string(),
                                    })),
                                }
                            }
                        }
                    }
                }
                cmd = self.cmd_rx.recv() => {
                    match self.online_command(&mut ws, cmd).await {
                        Online::Continue => {}
                        Online::Closing => {
                            // Sends a close frame and reads until the server's
                            // close (discarding what comes meanwhile).
                            let _ = tokio::time::timeout(Duration::from_secs(3), ws.close()).await;
                            return End::Stop;
                        }
                        Online::End(end) => return end,
                    }
                }
                _ = &mut idle_sleep => {
                    return lost(
                        "no frame from the server within the idle timeout",
                        None,
                        Error::Timeout("a frame from the server"),
                        true,
                    );
                }
                _ = send_timer => {}
                t = refresh_fut => {
                    refresh = None;
                    match t {
                        Ok(token) => {
                            self.token = Some(token.clone());
                            let frame = json!({"type": "refresh", "token": token}).to_string();
                            if let Err(e) = ws.send(Message::text(frame)).await {
                                return lost_transport(e);
                            }
                        }
                        Err(e) => self.emit(ClientEvent::ServerError(ServerError {
                            code: "token_provider".into(),
                            message: e,
                        })),
                    }
                }
            }
        }
    }

    /// How a close code from the server is handled.
    fn server_closed(&mut self, code: u16, reason: String) -> End {
        let retry = match code {
            // Authentication: only an expired token can be replaced.
            4001 => reason.contains("expired") && self.config.token_provider.is_some(),
            // Disconnected by the server, replaced by a newer connection, or
            // our own protocol error: reconnecting cannot help.
            4009 | 4011 | 1002 | 1003 | 1007 | 1008 | 1009 => false,
            _ => true,
        };
        lost(
            &reason,
            Some(code),
            Error::ServerClosed {
                code,
                reason: reason.clone(),
            },
            retry,
        )
    }

    async fn online_command(&mut self, ws: &mut Ws, cmd: Option<Command>) -> Online {
        match cmd {
            None => Online::Closing,
            Some(Command::Close { reply }) => {
                self.close_reply = Some(reply);
                Online::Closing
            }
            Some(Command::Send { text, reply }) => {
                let _ = reply.send(self.enqueue(text));
                Online::Continue
            }
            Some(Command::Refresh { token }) => {
                self.token = Some(token.clone());
                self.send_control(ws, json!({"type": "refresh", "token": token}).to_string())
                    .await
            }
            Some(Command::Subscribe {
                channel,
                options,
                reply,
            }) => {
                let Some((_, rx)) = self.register(&channel, options) else {
                    let _ = reply.send(Err(Error::AlreadySubscribed(channel)));
                    return Online::Continue;
                };
                if let Some(sub) = self.subs.get_mut(&channel) {
                    sub.waiter = Some((reply, rx));
                }
                match self.first_subscribe_frame(&channel) {
                    Some(f) => self.send_control(ws, f).await,
                    None => Online::Continue,
                }
            }
            Some(Command::Unsubscribe {
                channel,
                key,
                reply,
            }) => {
                if self.subs.get(&channel).is_none_or(|s| s.key != key) {
                    if let Some(r) = reply {
                        let _ = r.send(Ok(()));
                    }
                    return Online::Continue;
                }
                self.subs.remove(&channel);
                let id = self.request_id();
                self.pending.insert(id, Pending::Unsubscribe { reply });
                let f = json!({"type": "unsubscribe", "channel": channel, "id": id}).to_string();
                self.send_control(ws, f).await
            }
        }
    }

    /// Sends a control frame now (not through the queue).
    async fn send_control(&mut self, ws: &mut Ws, text: String) -> Online {
        if let Some(b) = self.bucket.as_mut() {
            b.charge();
        }
        match ws.send(Message::text(text)).await {
            Ok(()) => Online::Continue,
            Err(e) => Online::End(lost_transport(e)),
        }
    }

    /// Handles one frame; `Some` ends the session.
    async fn handle_frame(
        &mut self,
        ws: &mut Ws,
        f: Frame,
        refresh: &mut Option<BoxFuture<'static, std::result::Result<String, String>>>,
    ) -> Option<End> {
        match f {
            Frame::Publication(p) => {
                let Some(sub) = self.subs.get_mut(&p.channel) else {
                    self.emit(ClientEvent::Publication(p));
                    return None;
                };
                if let (Some(o), Some(pos)) = (p.offset, sub.position.as_mut()) {
                    if o <= pos.offset {
                        // Already seen (a replay overlapping live deliveries).
                        return None;
                    }
                    pos.offset = o;
                }
                let channel = p.channel.clone();
                if sub.tx.send(SubEvent::Publication(p)).await.is_err() {
                    return self.drop_sub(ws, &channel).await;
                }
            }
            Frame::Dropped { channel, count } => {
                if let Some(sub) = self.subs.get(&channel) {
                    if sub.tx.send(SubEvent::Dropped { count }).await.is_err() {
                        return self.drop_sub(ws, &channel).await;
                    }
                }
            }
            Frame::SubscribeSuccess {
                id,
                channels,
                positions,
            } => {
                let pending = id.and_then(|i| self.pending.remove(&i));
                match pending {
                    Some(Pending::Subscribe {
                        channels: asked,
                        resubscribe,
                    }) => {
                        for (c, from) in asked {
                            let info = positions.get(&c).cloned().unwrap_or_default();
                            self.confirm(&c, from, info, resubscribe).await;
                        }
                    }
                    Some(other) => {
                        self.pending.insert(id.unwrap_or(0), other);
                    }
                    None => {
                        // Server-side subscription (connect hook, HTTP API):
                        // its deliveries go to the client-wide events.
                        let _ = channels;
                    }
                }
            }
            Frame::SubscribeFailed { id, error } => {
                if let Some(Pending::Subscribe { channels, .. }) =
                    id.and_then(|i| self.pending.remove(&i))
                {
                    let names: Vec<String> = channels.iter().map(|(c, _)| c.clone()).collect();
                    for (c, _) in channels {
                        let Some(mut sub) = self.subs.remove(&c) else {
                            continue;
                        };
                        let err = Error::SubscribeFailed {
                            channels: names.clone(),
                            error: error.clone(),
                        };
                        match sub.waiter.take() {
                            Some((reply, _)) => {
                                let _ = reply.send(Err(err));
                            }
                            None => {
                                let _ = sub.tx.send(SubEvent::Failed(err)).await;
                            }
                        }
                    }
                } else {
                    self.emit(ClientEvent::ServerError(error));
                }
            }
            Frame::UnsubscribeSuccess { id, channels } => {
                match id.and_then(|i| self.pending.remove(&i)) {
                    Some(Pending::Unsubscribe { reply }) => {
                        if let Some(r) = reply {
                            let _ = r.send(Ok(()));
                        }
                    }
                    Some(other) => {
                        self.pending.insert(id.unwrap_or(0), other);
                    }
                    None => {
                        // Ended by the server (HTTP API, or a refresh whose
                        // token no longer grants the channel).
                        for c in channels {
                            if let Some(sub) = self.subs.remove(&c) {
                                let _ = sub
                                    .tx
                                    .send(SubEvent::Unsubscribed { server_side: true })
                                    .await;
                            }
                        }
                    }
                }
            }
            Frame::UnsubscribeFailed { id, error } => {
                match id.and_then(|i| self.pending.remove(&i)) {
                    Some(Pending::Unsubscribe { reply: Some(r) }) => {
                        // Not subscribed on the server: the goal is reached.
                        let _ = r.send(if error.code == "not_subscribed" {
                            Ok(())
                        } else {
                            Err(Error::UnsubscribeFailed(error))
                        });
                    }
                    _ => self.emit(ClientEvent::ServerError(error)),
                }
            }
            Frame::RecoveryRequired { channels } => {
                let known: Vec<String> = channels
                    .into_iter()
                    .filter(|c| self.subs.contains_key(c))
                    .collect();
                for text in self.resubscribe_frames(&known) {
                    if let Online::End(e) = self.send_control(ws, text).await {
                        return Some(e);
                    }
                }
            }
            Frame::Heartbeat => {
                if let Online::End(e) = self
                    .send_control(ws, r#"{"type":"pong"}"#.to_string())
                    .await
                {
                    return Some(e);
                }
            }
            Frame::RefreshRequired => {
                if let Some(p) = &self.config.token_provider {
                    if refresh.is_none() {
                        *refresh = Some(p());
                    }
                }
            }
            Frame::RefreshSuccess => self.emit(ClientEvent::Refreshed),
            Frame::AuthFailed { error, .. } | Frame::Error { error, .. } => {
                self.emit(ClientEvent::ServerError(error))
            }
            Frame::Message { event, data } => self.emit(ClientEvent::Message { event, data }),
            Frame::Established(_) | Frame::AuthSuccess(_) | Frame::Other(_) => {}
        }
        None
    }

    /// The application dropped a subscription's stream: unsubscribe.
    async fn drop_sub(&mut self, ws: &mut Ws, channel: &str) -> Option<End> {
        self.subs.remove(channel);
        let id = self.request_id();
        self.pending
            .insert(id, Pending::Unsubscribe { reply: None });
        let f = json!({"type": "unsubscribe", "channel": channel, "id": id}).to_string();
        match self.send_control(ws, f).await {
            Online::End(e) => Some(e),
            _ => None,
        }
    }

    /// Applies a `subscribe_success` to one channel.
    async fn confirm(
        &mut self,
        channel: &str,
        from: Option<Position>,
        info: PositionInfo,
        resubscribe: bool,
    ) {
        let Some(sub) = self.subs.get_mut(channel) else {
            return;
        };
        let top = match (info.offset, info.epoch.clone()) {
            (Some(offset), Some(epoch)) => Some(Position { offset, epoch }),
            _ => None,
        };
        let recovery = match (&from, info.recovered) {
            (Some(f), Some(true)) => Recovery::Recovered { from: f.clone() },
            (Some(f), _) if top.is_some() => Recovery::Failed { from: f.clone() },
            (Some(_), _) => Recovery::NoHistory,
            (None, _) if resubscribe && top.is_none() => Recovery::NoHistory,
            // Confirmed before without a position, now with one: the
            // channel gained history; what came in between is unknown.
            (None, _) if resubscribe => Recovery::NoHistory,
            (None, _) => Recovery::NotRequested,
        };
        sub.position = match &recovery {
            // Replayed publications follow and advance the offset.
            Recovery::Recovered { from } => Some(Position {
                offset: from.offset,
                epoch: info.epoch.clone().unwrap_or_else(|| from.epoch.clone()),
            }),
            _ => top.clone(),
        };
        sub.confirmed_once = true;
        let event = Subscribed {
            channel: channel.to_string(),
            position: top,
            recovery: recovery.clone(),
            resubscribed: resubscribe,
        };
        if let Recovery::Failed { from } = &recovery {
            let _ = self.events.send(ClientEvent::RecoveryFailed {
                channel: channel.to_string(),
                from: from.clone(),
            });
        }
        match sub.waiter.take() {
            Some((reply, rx)) => {
                let _ = reply.send(Ok((sub.key, rx, Some(event))));
            }
            None => {
                if sub.tx.send(SubEvent::Subscribed(event)).await.is_err() {
                    self.subs.remove(channel);
                }
            }
        }
    }
}

enum Online {
    Continue,
    Closing,
    End(End),
}

fn lost(reason: &str, code: Option<u16>, error: Error, retry: bool) -> End {
    End::Lost {
        code,
        reason: reason.to_string(),
        error,
        retry,
    }
}

fn lost_transport(e: tokio_websockets::Error) -> End {
    lost(
        &e.to_string(),
        None,
        Error::Connect(format!("connection lost: {e}")),
        true,
    )
}

/// Opens the WebSocket, presents the credentials and waits for admission
/// (`connection_established`, or `auth_success` after an `auth`).
async fn connect_once(
    config: ClientConfig,
    token: Option<String>,
    timeout: Duration,
) -> Result<(Ws, Value)> {
    tokio::time::timeout(timeout, connect_inner(&config, token))
        .await
        .map_err(|_| Error::Timeout("the connection to be admitted"))?
}

async fn connect_inner(config: &ClientConfig, token: Option<String>) -> Result<(Ws, Value)> {
    let mut url = config.url.clone();
    let mut headers: Vec<(String, String)> = config.headers.clone();
    let mut auth_frame: Option<Value> = None;
    let sep = if url.contains('?') { '&' } else { '?' };
    match &config.credentials {
        Credentials::None => {}
        Credentials::ApiKey { key, via } => match via {
            Via::Query => url = format!("{url}{sep}api_key={}", encode_query(key)),
            Via::Header => headers.push(("x-api-key".into(), key.clone())),
            Via::Message => auth_frame = Some(json!({"type": "auth", "api_key": key})),
        },
        Credentials::SignedApiKey { key } => {
            auth_frame = Some(signed_api_key_auth(key, now_millis()));
        }
        Credentials::KeyId { key_id, secret } => {
            auth_frame = Some(signed_key_id_auth(key_id, secret, now_millis()));
        }
        Credentials::Token { token: t0, via } => {
            let t = token.unwrap_or_else(|| t0.clone());
            match via {
                Via::Query => url = format!("{url}{sep}token={}", encode_query(&t)),
                Via::Header => headers.push(("authorization".into(), format!("Bearer {t}"))),
                Via::Message => auth_frame = Some(json!({"type": "auth", "token": t})),
            }
        }
    }
    let mut builder = ClientBuilder::new()
        .uri(&url)
        .map_err(|e| Error::InvalidConfig(format!("bad URL {url}: {e}")))?;
    for (k, v) in &headers {
        let name = hyper::header::HeaderName::from_bytes(k.as_bytes())
            .map_err(|e| Error::InvalidConfig(format!("bad header name {k:?}: {e}")))?;
        let value = hyper::header::HeaderValue::from_str(v)
            .map_err(|e| Error::InvalidConfig(format!("bad value for header {k}: {e}")))?;
        builder = builder
            .add_header(name, value)
            .map_err(|e| Error::InvalidConfig(format!("header {k}: {e}")))?;
    }
    let (mut ws, _) = builder.connect().await.map_err(|e| match e {
        tokio_websockets::Error::Upgrade(
            tokio_websockets::upgrade::Error::DidNotSwitchProtocols(status),
        ) => Error::Refused { status },
        other => Error::Connect(other.to_string()),
    })?;
    let sent_auth = auth_frame.is_some();
    if let Some(a) = auth_frame {
        ws.send(Message::text(a.to_string()))
            .await
            .map_err(|e| Error::Connect(e.to_string()))?;
    }
    loop {
        let msg = match ws.next().await {
            None => {
                return Err(Error::Connect(
                    "the connection ended before admission".into(),
                ))
            }
            Some(Err(e)) => return Err(Error::Connect(e.to_string())),
            Some(Ok(m)) => m,
        };
        if let Some((code, reason)) = msg.as_close() {
            let code = u16::from(code);
            let e = Error::ServerClosed {
                code,
                reason: reason.to_string(),
            };
            // 1001 (shutting down) and 4008 may pass; others will not.
            return Err(if matches!(code, 1001 | 1011 | 1012 | 1013 | 4008) {
                Error::Connect(e.to_string())
            } else {
                e
            });
        }
        let Some(text) = msg.as_text() else {
            continue;
        };
        match frame::parse(text)? {
            Frame::Established(v) if !sent_auth => return Ok((ws, v)),
            Frame::AuthSuccess(v) if sent_auth => return Ok((ws, v)),
            Frame::AuthFailed { error, .. } => return Err(Error::AuthFailed(error)),
            Frame::Heartbeat => {
                let _ = ws.send(Message::text(r#"{"type":"pong"}"#)).await;
            }
            _ => {}
        }
    }
}
