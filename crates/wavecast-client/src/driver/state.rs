//! The driver's memory of the world, shared by its phases: the
//! subscriptions with the last position seen on each channel, the requests
//! awaiting a reply, the outgoing queue and the pacing bucket; plus the
//! live connection ([`Live`]) and how a session ends ([`End`]).
//!
//! Invariants:
//! - `subs` holds at most one subscription per channel. Its `key` tells a
//!   stale handle's unsubscribe from the current subscription's.
//! - A subscription's `position` is the last offset handed to the
//!   application (or the channel's top when it was confirmed) in its epoch;
//!   a delivery at or below it is a duplicate and is dropped.
//! - Every request awaiting a reply is in `pending` under its numeric id;
//!   ids are never reused by one client.
//! - `outbox` holds at most `queue_capacity` encoded frames, oldest first,
//!   and is kept across reconnects.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_websockets::{MaybeTlsStream, WebSocketStream};
use wavecast_protocol::to_server::{ClientMessage, ClientRequest, RequestId};

use crate::command::{Command, SubscribeAnswer, SubscribeOptions};
use crate::config::{ClientConfig, Credentials, Overflow};
use crate::error::{Error, Result};
use crate::event::{ClientEvent, ConnectionState, Position, SubEvent};
use crate::pacing::TokenBucket;

pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A token being fetched from the token provider.
pub(crate) type TokenFuture = BoxFuture<'static, std::result::Result<String, String>>;

/// One subscription as the driver remembers it.
pub(crate) struct Sub {
    pub(crate) key: u64,
    pub(crate) tx: mpsc::Sender<SubEvent>,
    pub(crate) options: SubscribeOptions,
    /// The last offset seen (or the top at subscribe time) and its epoch.
    pub(crate) position: Option<Position>,
    pub(crate) confirmed_once: bool,
    /// Set while `Client::subscribe` waits for the first answer.
    pub(crate) waiter: Option<(oneshot::Sender<SubscribeAnswer>, mpsc::Receiver<SubEvent>)>,
}

/// A request awaiting the server's reply, by request id.
pub(crate) enum Pending {
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
pub(crate) enum End {
    /// `close()` or every handle dropped.
    Stop,
    /// The connection was lost or closed by the server.
    Lost {
        code: Option<u16>,
        reason: String,
        error: Error,
        /// Whether connecting again can help.
        retry: bool,
    },
}

/// `End::Lost`.
pub(crate) fn lost(reason: &str, code: Option<u16>, error: Error, retry: bool) -> End {
    End::Lost {
        code,
        reason: reason.to_string(),
        error,
        retry,
    }
}

/// The socket failed: worth another connection.
pub(crate) fn lost_transport(e: tokio_websockets::Error) -> End {
    lost(
        &e.to_string(),
        None,
        Error::Connect(format!("connection lost: {e}")),
        true,
    )
}

/// One admitted connection while it is served.
pub(crate) struct Live {
    pub(crate) ws: Ws,
    /// No frame from the server for this long: the connection is dead.
    pub(crate) idle: Duration,
    /// A token being fetched after `refresh_required`.
    pub(crate) refresh: Option<TokenFuture>,
    /// When the queue may send again (the bucket was empty).
    pub(crate) send_at: Option<Instant>,
}

/// The background task of one client; see the phases in `lifecycle`,
/// `session`, `commands`, `dispatch` and `resubscribe`.
pub(crate) struct Driver {
    pub(crate) config: ClientConfig,
    pub(crate) cmd_rx: mpsc::Receiver<Command>,
    pub(crate) state: watch::Sender<ConnectionState>,
    pub(crate) events: broadcast::Sender<ClientEvent>,
    pub(crate) subs: HashMap<String, Sub>,
    pub(crate) pending: HashMap<u64, Pending>,
    pub(crate) outbox: VecDeque<String>,
    next_id: u64,
    next_key: u64,
    /// The token presented on the next connection (and refreshed).
    pub(crate) token: Option<String>,
    /// Paces every frame sent, across connections.
    pub(crate) bucket: TokenBucket,
    /// Answered when the driver has finished.
    pub(crate) close_reply: Option<oneshot::Sender<()>>,
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
        let bucket = TokenBucket::new(config.max_send_rate, Instant::now());
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

    pub(crate) fn emit(&self, ev: ClientEvent) {
        let _ = self.events.send(ev);
    }

    pub(crate) fn set_state(&self, s: ConnectionState) {
        self.state.send_replace(s.clone());
        self.emit(ClientEvent::State(s));
    }

    /// Encodes `request` with a fresh id and remembers what awaits its reply.
    pub(crate) fn request(&mut self, request: ClientRequest, pending: Pending) -> String {
        let id = self.next_id;
        self.next_id += 1;
        self.pending.insert(id, pending);
        ClientMessage::new(request)
            .with_id(RequestId::id(id))
            .to_json()
    }

    /// The request awaiting the reply with this id, removed.
    pub(crate) fn take_pending(&mut self, id: Option<&RequestId>) -> Option<(u64, Pending)> {
        let id = id.and_then(RequestId::as_u64)?;
        self.pending.remove(&id).map(|p| (id, p))
    }

    /// Registers a subscription; `None` when the channel already has one.
    pub(crate) fn register(
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
    pub(crate) fn enqueue(&mut self, text: String) -> Result<()> {
        if self.outbox.len() >= self.config.queue_capacity {
            match self.config.overflow {
                Overflow::Error => return Err(Error::QueueFull),
                Overflow::DropNewest => {
                    self.emit(ClientEvent::QueueOverflow { discarded: 1 });
                    return Ok(());
                }
                Overflow::DropOldest => {
                    self.emit(ClientEvent::QueueOverflow { discarded: 1 });
                    if self.outbox.pop_front().is_none() {
                        // Capacity 0: nothing can be kept.
                        return Ok(());
                    }
                }
            }
        }
        self.outbox.push_back(text);
        Ok(())
    }
}
