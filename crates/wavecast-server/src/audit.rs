//! The audit log: one JSON line (target `wavecast::audit`) per event in a
//! connection's life — opened, authenticated (or refused), subscription
//! started and ended, stream started and ended, agent conversation ended, closed.
//! Every record is a plain struct filled by the caller, so this module
//! depends on nothing above it.
//!
//! Invariant: no record carries a secret. Only ids, addresses, the user id,
//! counters, codes and reasons are logged, never keys, tokens or payloads.

use std::net::SocketAddr;

use wavecast_protocol::time::now_millis;

const TARGET: &str = "wavecast::audit";

/// A connection was accepted and registered.
pub struct ConnectionOpened<'a> {
    pub connection_id: &'a str,
    pub remote: SocketAddr,
    pub user: Option<&'a str>,
    /// The path it came in on (`/ws`, `/ws/stream_features`, …).
    pub endpoint: &'a str,
    /// The wire dialect spoken on it.
    pub dialect: &'a str,
}

pub fn connection_opened(r: &ConnectionOpened<'_>) {
    tracing::info!(
        target: TARGET,
        event = "connection_opened",
        connection_id = r.connection_id,
        remote_addr = %r.remote,
        user = r.user.unwrap_or(""),
        endpoint = r.endpoint,
        dialect = r.dialect,
        at_ms = now_millis(),
    );
}

/// A connection has closed.
pub struct ConnectionClosed<'a> {
    pub connection_id: &'a str,
    pub remote: SocketAddr,
    pub user: Option<&'a str>,
    pub duration_seconds: f64,
    pub packets_sent: u64,
    pub packets_received: u64,
    pub dropped_frames: u64,
    /// The close code, when one was sent or received.
    pub close_code: Option<u16>,
    pub close_reason: &'a str,
    /// The label also used for `disconnects_total{reason}`.
    pub reason: &'a str,
}

pub fn connection_closed(r: &ConnectionClosed<'_>) {
    let (sent, dropped) = (r.packets_sent, r.dropped_frames);
    let drop_rate = if sent + dropped > 0 {
        (dropped as f64 * 100.0 / (sent + dropped) as f64 * 100.0).round() / 100.0
    } else {
        0.0
    };
    tracing::info!(
        target: TARGET,
        event = "connection_closed",
        connection_id = r.connection_id,
        remote_addr = %r.remote,
        user = r.user.unwrap_or(""),
        duration_seconds = round3(r.duration_seconds),
        packets_sent = sent,
        packets_received = r.packets_received,
        dropped_frames = dropped,
        drop_rate_percent = drop_rate,
        close_code = r.close_code.unwrap_or(0),
        close_reason = r.close_reason,
        reason = r.reason,
        at_ms = now_millis(),
    );
}

/// How credentials were presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthVia {
    /// With the upgrade request (query, header).
    Upgrade,
    /// In an `auth` message.
    Message,
}

impl AuthVia {
    fn as_str(self) -> &'static str {
        match self {
            AuthVia::Upgrade => "upgrade",
            AuthVia::Message => "message",
        }
    }
}

/// Credentials were accepted.
pub fn auth_success(
    connection_id: Option<&str>,
    remote: SocketAddr,
    user: Option<&str>,
    via: AuthVia,
) {
    tracing::info!(
        target: TARGET,
        event = "auth_success",
        connection_id = connection_id.unwrap_or(""),
        remote_addr = %remote,
        user = user.unwrap_or(""),
        via = via.as_str(),
    );
}

/// Credentials were refused; `error` is the (secret-free) message sent back.
pub fn auth_failed(
    connection_id: Option<&str>,
    remote: SocketAddr,
    code: &str,
    error: &str,
    via: AuthVia,
) {
    tracing::info!(
        target: TARGET,
        event = "auth_failed",
        connection_id = connection_id.unwrap_or(""),
        remote_addr = %remote,
        code = code,
        error = error,
        via = via.as_str(),
    );
}

/// An upgrade was refused for its `Origin`.
pub fn origin_refused(remote: SocketAddr, origin: Option<&str>) {
    tracing::info!(
        target: TARGET,
        event = "origin_refused",
        remote_addr = %remote,
        origin = origin.unwrap_or("(none)"),
    );
}

/// The connect hook (`auth.connect_url`) could not be asked or answered
/// badly; `reason` never holds credentials.
pub fn connect_hook_failed(remote: SocketAddr, reason: &str, fail_open: bool) {
    tracing::warn!(
        target: TARGET,
        event = "connect_hook_failed",
        remote_addr = %remote,
        reason = reason,
        admitted = fail_open,
    );
}

/// A subscription took effect.
pub fn subscription_started(connection_id: &str, channel: &str, recovered: Option<bool>) {
    tracing::info!(
        target: TARGET,
        event = "subscription_started",
        connection_id = connection_id,
        channel = channel,
        recovered = recovered.map_or("", |r| if r { "true" } else { "false" }),
    );
}

/// A subscription ended (unsubscribe, close, revocation, recovery).
pub struct SubscriptionEnded<'a> {
    pub connection_id: &'a str,
    pub channel: &'a str,
    pub duration_seconds: f64,
    pub packets_sent: u64,
    pub dropped_frames: u64,
    pub reason: &'a str,
}

pub fn subscription_ended(r: &SubscriptionEnded<'_>) {
    tracing::info!(
        target: TARGET,
        event = "subscription_ended",
        connection_id = r.connection_id,
        channel = r.channel,
        duration_seconds = round3(r.duration_seconds),
        packets_sent = r.packets_sent,
        dropped_frames = r.dropped_frames,
        reason = r.reason,
    );
}

/// A simulation stream started (MFN's `stream_start_time` per
/// `stream_id`).
pub fn stream_started(connection_id: &str, stream_id: &str, stream_type: &str) {
    tracing::info!(
        target: TARGET,
        event = "stream_started",
        connection_id = connection_id,
        stream_id = stream_id,
        stream_type = stream_type,
        at_ms = now_millis(),
    );
}

/// A simulation stream ended (MFN's per-stream record).
pub struct StreamEnded<'a> {
    pub connection_id: &'a str,
    pub stream_id: &'a str,
    pub stream_type: &'a str,
    pub stream_duration_seconds: f64,
    pub packets_sent: u64,
    pub dropped_frames: u64,
    pub reason: &'a str,
}

pub fn stream_ended(r: &StreamEnded<'_>) {
    tracing::info!(
        target: TARGET,
        event = "stream_ended",
        connection_id = r.connection_id,
        stream_id = r.stream_id,
        stream_type = r.stream_type,
        stream_duration_seconds = round3(r.stream_duration_seconds),
        packets_sent = r.packets_sent,
        dropped_frames = r.dropped_frames,
        reason = r.reason,
    );
}

/// An agent conversation ended (one record per conversation; never its
/// content).
pub struct AgentConversation<'a> {
    pub connection_id: &'a str,
    pub user: Option<&'a str>,
    /// The client's `correlation_id` (at most 128 bytes).
    pub correlation_id: &'a str,
    /// `user_message` or `agent_request`.
    pub kind: &'a str,
    pub duration_seconds: f64,
    /// Agent events relayed to the client.
    pub events: u64,
    /// Upstream attempts made (retries + 1; 0 for the demo agent or a
    /// refused request).
    pub attempts: u32,
    /// `completed`, `cancelled`, `disconnected`, or the error code.
    pub outcome: &'a str,
}

pub fn agent_conversation(r: &AgentConversation<'_>) {
    tracing::info!(
        target: TARGET,
        event = "agent_conversation",
        connection_id = r.connection_id,
        user = r.user.unwrap_or(""),
        correlation_id = r.correlation_id,
        kind = r.kind,
        duration_seconds = round3(r.duration_seconds),
        events = r.events,
        attempts = r.attempts,
        outcome = r.outcome,
    );
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
