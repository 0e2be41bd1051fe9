//! The audit log: one JSON line (target `wavecast::audit`) when a
//! connection closes and one per ended subscription. Never logs secrets:
//! only ids, addresses, the user id, counters and close codes.

use wavecast_protocol::time::now_millis;

use crate::session::driver::EndCause;
use crate::session::outbound::SubStats;
use crate::session::Connection;

/// Logged when a connection has closed.
pub fn connection_closed(conn: &Connection, cause: &EndCause) {
    let sent = conn.packets_sent.load(std::sync::atomic::Ordering::Relaxed);
    let received = conn
        .packets_received
        .load(std::sync::atomic::Ordering::Relaxed);
    let dropped = conn.outbound.dropped_total();
    let drop_rate = if sent + dropped > 0 {
        (dropped as f64 * 100.0 / (sent + dropped) as f64 * 100.0).round() / 100.0
    } else {
        0.0
    };
    tracing::info!(
        target: "wavecast::audit",
        event = "connection_closed",
        connection_id = %conn.id,
        remote_addr = %conn.remote,
        user = conn.user_id().as_deref().unwrap_or(""),
        duration_seconds = round3(conn.connected_at.elapsed().as_secs_f64()),
        packets_sent = sent,
        packets_received = received,
        dropped_frames = dropped,
        drop_rate_percent = drop_rate,
        close_code = cause.code().unwrap_or(0),
        close_reason = cause.reason(),
        reason = cause.label(),
        at_ms = now_millis(),
    );
}

/// Logged when a subscription ends (unsubscribe or close).
pub fn subscription_ended(conn: &Connection, channel: &str, stats: &SubStats, reason: &str) {
    tracing::info!(
        target: "wavecast::audit",
        event = "subscription_ended",
        connection_id = %conn.id,
        channel = channel,
        duration_seconds = round3(stats.since.elapsed().as_secs_f64()),
        packets_sent = stats.sent,
        dropped_frames = stats.dropped,
        reason = reason,
    );
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
