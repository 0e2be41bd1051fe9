//! What the server does with each client message: init, subscribe,
//! unsubscribe, publish, ping/pong and close. Replies are queued on the
//! connection's outbound queue, so they keep their order with deliveries.

use std::sync::Arc;

use serde_json::Value;
use wavecast_protocol::channel::namespace_of;
use wavecast_protocol::client::{parse_client_message, AuthRequest, ClientRequest, RequestId};
use wavecast_protocol::server::{
    encode_control, encode_error, error_fields, fields, DEFAULT_EVENT_TYPE,
};
use wavecast_protocol::time::now_rfc3339;
use wavecast_protocol::{CloseCode, ErrorCode, PROTOCOL_MAJOR, PROTOCOL_VERSION};

use super::Connection;
use crate::audit;
use crate::auth::policy::{may_publish, may_subscribe};
use crate::state::AppState;

/// The feature list announced in `init` and `/ws/config`.
pub const FEATURES: &[&str] = &[
    "channels",
    "rooms",
    "http_publish",
    "broadcast",
    "personal_messages",
    "heartbeat",
    "backpressure",
];

/// Work the driver finishes itself (it may need to wait, or it changes
/// the session's authentication state).
pub enum Deferred {
    Auth(AuthRequest, Option<RequestId>),
    Refresh(String, Option<RequestId>),
}

/// Handles one text frame from the client. Before the connection is
/// admitted only `init`, `auth` and `ping` are accepted.
pub fn handle_text(
    state: &AppState,
    conn: &Arc<Connection>,
    text: &str,
    admitted: bool,
) -> Option<Deferred> {
    let msg = match parse_client_message(text) {
        Ok(m) => m,
        Err(e) => {
            let reply = match e.kind.as_deref() {
                Some(k @ ("subscribe" | "unsubscribe")) => encode_control(
                    &format!("{k}_failed"),
                    error_fields(e.code, &e.message),
                    e.id.as_ref(),
                ),
                _ => encode_error(e.code, &e.message, e.id.as_ref()),
            };
            conn.outbound.push_control(reply);
            return None;
        }
    };
    let allowed_before_auth = matches!(
        msg.request,
        ClientRequest::Init { .. }
            | ClientRequest::Auth(_)
            | ClientRequest::Ping
            | ClientRequest::Pong
            | ClientRequest::Close
    );
    if !admitted && !allowed_before_auth {
        conn.outbound.push_control(encode_error(
            ErrorCode::AuthRequired,
            "authenticate with an auth message first",
            msg.id.as_ref(),
        ));
        return None;
    }
    let id = msg.id.as_ref();
    match msg.request {
        ClientRequest::Auth(req) => return Some(Deferred::Auth(req, msg.id)),
        ClientRequest::Refresh { token } => return Some(Deferred::Refresh(token, msg.id)),
        ClientRequest::Init { protocol_version } => init(conn, protocol_version, id),
        ClientRequest::Subscribe { channels } => subscribe(state, conn, channels, id),
        ClientRequest::Unsubscribe { channels } => unsubscribe(state, conn, channels, id),
        ClientRequest::Publish {
            channel,
            event,
            data,
        } => publish(state, conn, &channel, event.as_deref(), &data, id),
        ClientRequest::Ping => conn.outbound.push_control(encode_control(
            "pong",
            fields([("timestamp", Value::from(now_rfc3339()))]),
            id,
        )),
        ClientRequest::Pong => {}
        ClientRequest::Close => conn.outbound.request_close(CloseCode::Normal, true),
    }
    None
}

/// Tells the client that binary frames are not part of protocol v1.
pub fn handle_binary(conn: &Connection) {
    conn.outbound.push_control(encode_error(
        ErrorCode::UnsupportedFrame,
        "binary frames are not supported; send JSON in text frames",
        None,
    ));
}

fn init(conn: &Connection, version: Option<String>, id: Option<&RequestId>) {
    if let Some(v) = &version {
        let major = v
            .split('.')
            .next()
            .and_then(|m| m.trim().parse::<u32>().ok());
        if major != Some(PROTOCOL_MAJOR) {
            conn.outbound.push_control(encode_error(
                ErrorCode::UnsupportedVersion,
                &format!("protocol version {v:?} is not supported; this server speaks {PROTOCOL_VERSION}"),
                id,
            ));
            return;
        }
    }
    conn.outbound.push_control(encode_control(
        "init",
        fields([
            ("protocol_version", Value::from(PROTOCOL_VERSION)),
            ("connection_id", Value::from(&*conn.id)),
            (
                "server",
                Value::from(concat!("wavecast/", env!("CARGO_PKG_VERSION"))),
            ),
            ("features", Value::from(FEATURES)),
        ]),
        id,
    ));
}

fn failed(kind: &str, code: ErrorCode, message: &str, id: Option<&RequestId>) -> bytes::Bytes {
    encode_control(kind, error_fields(code, message), id)
}

fn subscribe(
    state: &AppState,
    conn: &Arc<Connection>,
    channels: Vec<String>,
    id: Option<&RequestId>,
) {
    let current = conn.outbound.subscription_count();
    let new = channels
        .iter()
        .filter(|c| !conn.outbound.is_subscribed(c))
        .count();
    let max = state.config.limits.max_subscriptions;
    if current + new > max {
        state.metrics.limit_rejections("subscriptions");
        conn.outbound.push_control(failed(
            "subscribe_failed",
            ErrorCode::TooManySubscriptions,
            &format!("this connection has {current} subscriptions; {new} more would pass the limit of {max}"),
            id,
        ));
        return;
    }
    let principal = conn.principal.read().clone();
    for c in &channels {
        if let Err(why) = may_subscribe(&principal, c, state.config.namespace(namespace_of(c))) {
            state.metrics.limit_rejections("permission");
            conn.outbound
                .push_control(failed("subscribe_failed", ErrorCode::Forbidden, &why, id));
            return;
        }
    }
    // The reply is queued before the subscription takes effect, so no
    // publication of these channels can overtake it.
    conn.outbound.push_control(encode_control(
        "subscribe_success",
        fields([("channels", Value::from(channels.clone()))]),
        id,
    ));
    for c in &channels {
        state.hub.subscribe(conn, c);
    }
}

fn unsubscribe(state: &AppState, conn: &Connection, channels: Vec<String>, id: Option<&RequestId>) {
    let missing: Vec<&String> = channels
        .iter()
        .filter(|c| !conn.outbound.is_subscribed(c))
        .collect();
    if !missing.is_empty() {
        conn.outbound.push_control(failed(
            "unsubscribe_failed",
            ErrorCode::NotSubscribed,
            &format!("not subscribed to {missing:?}"),
            id,
        ));
        return;
    }
    for c in &channels {
        if let Some(stats) = state.hub.unsubscribe(conn, c) {
            audit::subscription_ended(conn, c, &stats, "unsubscribe");
        }
    }
    conn.outbound.push_control(encode_control(
        "unsubscribe_success",
        fields([("channels", Value::from(channels))]),
        id,
    ));
}

fn publish(
    state: &AppState,
    conn: &Connection,
    channel: &str,
    event: Option<&str>,
    data: &Value,
    id: Option<&RequestId>,
) {
    let ns = state.config.namespace(namespace_of(channel));
    let principal = conn.principal.read().clone();
    if let Err(why) = may_publish(&principal, channel, ns) {
        conn.outbound
            .push_control(encode_error(ErrorCode::Forbidden, &why, id));
        return;
    }
    let data_json = data.to_string();
    let d = state
        .hub
        .publish(channel, event.unwrap_or(DEFAULT_EVENT_TYPE), &data_json);
    conn.outbound.push_control(encode_control(
        "publish_success",
        fields([
            ("channel", Value::from(channel)),
            ("delivered", Value::from(d.delivered)),
        ]),
        id,
    ));
}
