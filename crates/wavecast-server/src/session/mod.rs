//! The session core: one task per WebSocket connection, whatever endpoint
//! it came in on. It owns the socket and does what every endpoint shares:
//!
//! - [`driver`]: the task itself — reads, batched writes, heartbeats
//!   (a WebSocket Ping and the endpoint's keepalive every interval), the
//!   auth and token timers, the close handshake;
//! - [`io`]: the socket side: frames decoded from a per-thread read buffer
//!   (an idle connection holds no read buffer), queued frames written many
//!   per vectored write;
//! - [`core`]: the messages every endpoint understands (`init`, `auth`,
//!   `refresh`, `ping`, `pong`, `close`) and the gates before `init` and
//!   before authentication;
//! - [`auth`]: the `auth`/`refresh` exchange and the session's deadlines;
//! - [`admission`]: per-user limits, the connect hook, server-side joins.
//!
//! Everything else a client sends goes to the endpoint's [`Handler`],
//! chosen at the upgrade: the channel protocol ([`crate::channels`]) or an
//! application endpoint ([`crate::streams`]). The core knows nothing of
//! either.

pub mod admission;
pub mod auth;
pub mod core;
pub mod driver;
pub mod io;

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Map, Value};
use wavecast_protocol::to_server::{Envelope, RequestId};
use wavecast_protocol::ErrorCode;

use crate::conn::Connection;
use crate::state::AppState;

/// What one endpoint does with the messages the core leaves to it.
pub trait Handler: Send + 'static {
    /// The connection is registered (and admitted, if credentials came
    /// with the upgrade); say hello if the endpoint does.
    fn on_open(&mut self, s: &mut Session) -> impl Future<Output = ()> + Send;

    /// A message whose type the core does not handle, from an admitted
    /// (and, where required, initialized) client.
    fn on_message(&mut self, s: &mut Session, env: Envelope) -> impl Future<Output = ()> + Send;

    /// A binary message.
    fn on_binary(&mut self, s: &mut Session, data: Bytes);

    /// Whether the endpoint speaks (replies, keepalives) before the
    /// client's `init`. The MFN stream endpoints say nothing before it.
    fn speaks_before_init(&self) -> bool {
        true
    }

    /// The endpoint's keepalive frame, sent every heartbeat interval next
    /// to the WebSocket Ping (`None`: the Ping alone).
    fn keepalive(&self, s: &Session) -> Option<Bytes>;

    /// The connection is closing for `reason` (the end cause's label, as
    /// in the audit log): stop whatever runs for it.
    fn on_close(&mut self, s: &Session, reason: &'static str);

    /// An endpoint that takes text and binary messages as they arrive (the
    /// echo endpoint) handles them here and returns true; the core then
    /// reads none of them.
    fn on_raw(&mut self, _s: &mut Session, _m: &wavecast_ws::Message) -> bool {
        false
    }
}

/// What the core knows of a connection, lent to its handler.
pub struct Session {
    pub state: Arc<AppState>,
    pub conn: Arc<Connection>,
    /// The path it came in on, for the audit log.
    pub endpoint: Arc<str>,
    pub auth: auth::SessionAuth,
    /// The client sent `init`.
    pub initialized: bool,
}

impl Session {
    /// Queues a control frame in the connection's format.
    pub fn send(&self, kind: &str, fields: Map<String, Value>, id: Option<&RequestId>) {
        self.conn.send(kind, fields, id);
    }

    /// Queues an `error` frame.
    pub fn send_error(&self, code: ErrorCode, message: &str, id: Option<&RequestId>) {
        self.conn.send_error(code, message, id);
    }

    /// Whether replies may be sent now (see [`Handler::speaks_before_init`]).
    pub fn may_speak<H: Handler>(&self, h: &H) -> bool {
        self.initialized || h.speaks_before_init()
    }
}
