//! One WebSocket connection: its identity and counters ([`Connection`]),
//! its outbound queue ([`outbound`]), and the task that drives it
//! ([`driver`]): reading client frames, writing queued frames in batches,
//! heartbeats and the close handshake.

pub mod admission;
pub mod driver;
pub mod handler;
pub mod outbound;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

use outbound::Outbound;

/// A live connection, shared by its driver task, the hub and the HTTP API.
pub struct Connection {
    /// The public connection id (a random UUID v4).
    pub id: Arc<str>,
    /// A process-unique number, used as the hub's subscriber key.
    pub key: u64,
    pub remote: SocketAddr,
    /// Who the connection is; set at upgrade or by `auth` / `refresh`.
    pub principal: parking_lot::RwLock<crate::auth::Principal>,
    pub connected_at: Instant,
    pub outbound: Outbound,
    /// Frames received from the client.
    pub packets_received: AtomicU64,
    /// Frames written to the client.
    pub packets_sent: AtomicU64,
    /// The endpoint it came in on.
    pub mode: crate::streams::Mode,
    /// Set by the client's `init` (stream endpoints say nothing before).
    pub initialized: std::sync::atomic::AtomicBool,
    /// Running simulation streams (stream endpoints).
    pub streams: crate::streams::ConnStreams,
}

impl Connection {
    /// The user id, if authenticated.
    pub fn user_id(&self) -> Option<String> {
        self.principal.read().user_id.clone()
    }
}

static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

impl Connection {
    pub fn new(
        remote: SocketAddr,
        principal: crate::auth::Principal,
        mode: crate::streams::Mode,
    ) -> Connection {
        Connection {
            id: new_connection_id().into(),
            key: NEXT_KEY.fetch_add(1, Relaxed),
            remote,
            principal: parking_lot::RwLock::new(principal),
            connected_at: Instant::now(),
            outbound: Outbound::default(),
            packets_received: AtomicU64::new(0),
            packets_sent: AtomicU64::new(0),
            initialized: std::sync::atomic::AtomicBool::new(!mode.is_stream()),
            mode,
            streams: Default::default(),
        }
    }
}

/// A random UUID v4 string, from the operating system's CSPRNG (so ids
/// cannot be predicted from other ids).
pub fn new_connection_id() -> String {
    let mut b = [0u8; 16];
    if getrandom::getrandom(&mut b).is_err() {
        // No OS randomness: fall back to the (seeded, non-crypto) PRNG.
        fastrand::fill(&mut b);
    }
    let hi = u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
    let lo = u64::from_be_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]);
    let hi = (hi & 0xffff_ffff_ffff_0fff) | 0x4000; // version 4
    let lo = (lo & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000; // variant
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
}
