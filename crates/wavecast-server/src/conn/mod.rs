//! The handle of one live connection, shared by its session task, the hub
//! and the HTTP API: its identity, its wire [`format::Format`], its bounded
//! [`outbound::Outbound`] queue and its counters.
//!
//! This module sits below the hub: the hub pushes into connections it
//! knows only through this handle, and never touches a socket itself (a
//! direct write goes through the queue, which holds the socket's
//! descriptor while its session lets it: [`outbound`]). Replies
//! are encoded here in the connection's format, so every reply, whatever
//! produced it, is spoken in the connection's dialect.

pub mod format;
pub mod outbound;
pub mod subs;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use serde_json::{Map, Value};
use wavecast_protocol::to_server::RequestId;
use wavecast_protocol::{CloseCode, ErrorCode};

use crate::auth::Principal;
use crate::ids::ConnectionId;
use crate::moment::Moment;
use format::Format;
use outbound::Outbound;

/// A live connection.
pub struct Connection {
    /// The public connection id (a random UUID v4).
    pub id: ConnectionId,
    /// A process-unique number, used as the hub's subscriber key.
    pub key: u64,
    pub remote: SocketAddr,
    /// Who the connection is; set at upgrade or by `auth` / `refresh`.
    pub principal: parking_lot::RwLock<Principal>,
    pub connected_at: Moment,
    /// How frames are encoded for this connection.
    pub format: Format,
    pub outbound: Outbound,
    /// Frames received from the client.
    pub packets_received: AtomicU64,
    /// Frames written to the client.
    pub packets_sent: AtomicU64,
    /// Socket writes (system calls) made for this connection.
    pub socket_writes: AtomicU64,
    /// Answer with message types in upper case (an MFN client that writes
    /// its own so).
    pub shout: AtomicBool,
}

static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

impl Connection {
    /// A new connection whose queue may hold `queue_budget` bytes.
    pub fn new(
        id: ConnectionId,
        remote: SocketAddr,
        principal: Principal,
        format: Format,
        queue_budget: usize,
    ) -> Connection {
        Connection {
            id,
            key: NEXT_KEY.fetch_add(1, Relaxed),
            remote,
            principal: parking_lot::RwLock::new(principal),
            connected_at: Moment::now(),
            format,
            outbound: Outbound::new(queue_budget),
            packets_received: AtomicU64::new(0),
            packets_sent: AtomicU64::new(0),
            socket_writes: AtomicU64::new(0),
            shout: AtomicBool::new(false),
        }
    }

    /// The user id, if authenticated.
    pub fn user_id(&self) -> Option<String> {
        self.principal.read().user_id.clone()
    }

    fn shouts(&self) -> bool {
        self.shout.load(Relaxed)
    }

    /// A control frame of type `kind` in this connection's format.
    pub fn control_frame(
        &self,
        kind: &str,
        fields: Map<String, Value>,
        id: Option<&RequestId>,
    ) -> bytes::Bytes {
        self.format.control(kind, fields, id, self.shouts())
    }

    /// Queues a control frame of type `kind`, in this connection's format.
    pub fn send(&self, kind: &str, fields: Map<String, Value>, id: Option<&RequestId>) {
        self.outbound
            .push_control(self.control_frame(kind, fields, id));
    }

    /// Queues an `error` frame.
    pub fn send_error(&self, code: ErrorCode, message: &str, id: Option<&RequestId>) {
        self.outbound
            .push_control(self.format.error(code, message, id, self.shouts()));
    }

    /// The server's keepalive frame in this connection's dialect.
    pub fn keepalive_frame(&self) -> bytes::Bytes {
        self.format.keepalive(self.shouts())
    }

    /// Asks the session to close with `code`, after writing what is queued
    /// when `flush` is set.
    pub fn close(&self, code: CloseCode, flush: bool) {
        self.outbound.request_close(code, flush);
    }

    pub fn count_received(&self) {
        self.packets_received.fetch_add(1, Relaxed);
    }
}
