//! What the server does with each client message: init, subscribe,
//! unsubscribe, publish, ping/pong and close. Replies are queued on the
//! connection's outbound queue, so they keep their order with deliveries.

use std::sync::Arc;

use serde_json::Value;
use wavecast_protocol::channel::namespace_of;
use wavecast_protocol::client::{
    parse_client_message, AuthRequest, ClientRequest, RequestId, SubscribeOptions,
};
use wavecast_protocol::server::{
    encode_control, encode_error, error_fields, fields, DEFAULT_EVENT_TYPE,
};
use wavecast_protocol::time::now_rfc3339;
use wavecast_protocol::{CloseCode, ErrorCode, PROTOCOL_MAJOR, PROTOCOL_VERSION};

use super::Connection;
use crate::audit;
use crate::auth::policy::{may_publish, may_subscribe};
use crate::hub::JoinResult;
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
    "history",
    "recovery",
    "filters",
];

/// Work the driver finishes itself (it may need to wait, or it changes
/// the session's authentication state).
pub enum Deferred {
    Auth(AuthRequest, Option<RequestId>),
    Refresh(String, Option<RequestId>),
}

/// Handles one text frame from the client. Before the connection is
/// admitted only `init`, `auth` and `ping` are accepted.
pub async fn handle_text(
    state: &AppState,
    conn: &Arc<Connection>,
    text: &str,
    admitted: bool,
) -> Option<Deferred> {
    if conn.mode.is_stream() {
        // Stream endpoints: nothing before `init`; `subscribe` and
        // `unsubscribe` name streams, not channels.
        let raw: Option<serde_json::Map<String, Value>> = serde_json::from_str(text).ok();
        let kind = raw
            .as_ref()
            .and_then(|m| m.get("type"))
            .and_then(Value::as_str);
        let initialized = conn.initialized.load(std::sync::atomic::Ordering::Acquire);
        if !initialized && kind != Some("init") {
            return None;
        }
        if let (Some(k @ ("subscribe" | "unsubscribe")), Some(mut obj)) =
            (kind.map(String::from).as_deref(), raw)
        {
            let id = obj
                .remove("id")
                .map(|v| RequestId {
                    key: "id",
                    value: v,
                })
                .or_else(|| {
                    obj.remove("correlation_id").map(|v| RequestId {
                        key: "correlation_id",
                        value: v,
                    })
                });
            obj.remove("type");
            if !admitted {
                conn.outbound.push_control(encode_error(
                    ErrorCode::AuthRequired,
                    "authenticate with an auth message first",
                    id.as_ref(),
                ));
            } else if k == "subscribe" {
                crate::streams::subscribe(state, conn, conn.mode, obj, id.as_ref());
            } else {
                crate::streams::unsubscribe(conn, obj, id.as_ref());
            }
            return None;
        }
    }
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
        ClientRequest::Init { protocol_version } => {
            conn.initialized
                .store(true, std::sync::atomic::Ordering::Release);
            init(conn, protocol_version, id)
        }
        ClientRequest::Subscribe { channels, options } => {
            subscribe(state, conn, channels, &options, id).await
        }
        ClientRequest::History {
            channel,
            since,
            limit,
        } => history(state, conn, &channel, since, limit, id).await,
        ClientRequest::Unsubscribe { channels } => unsubscribe(state, conn, channels, id),
        ClientRequest::Publish {
            channel,
            event,
            data,
        } => publish(state, conn, &channel, event.as_deref(), &data, id).await,
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

async fn subscribe(
    state: &AppState,
    conn: &Arc<Connection>,
    channels: Vec<String>,
    options: &SubscribeOptions,
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
    let joined = state
        .hub
        .subscribe_many_async(conn, &channels, options, |results| {
            encode_control(
                "subscribe_success",
                success_fields(&channels, results, false),
                id,
            )
        })
        .await;
    if let Err(e) = joined {
        tracing::error!(error = %e, "history read failed during subscribe");
        conn.outbound.push_control(failed(
            "subscribe_failed",
            ErrorCode::Unavailable,
            "history storage is unavailable; retry",
            id,
        ));
    }
}

/// The fields of `subscribe_success`: the channels, and for channels with
/// history their `positions` {offset, epoch, recovered?}; with a single
/// channel these are also given at the top level.
pub fn success_fields(
    channels: &[String],
    results: &[JoinResult],
    server_side: bool,
) -> serde_json::Map<String, Value> {
    let mut f = fields([("channels", Value::from(channels.to_vec()))]);
    if server_side {
        f.insert("server_side".into(), Value::from(true));
    }
    let mut positions = serde_json::Map::new();
    for r in results {
        let mut p = serde_json::Map::new();
        if let Some((offset, epoch)) = &r.position {
            p.insert("offset".into(), Value::from(*offset));
            p.insert("epoch".into(), Value::from(epoch.as_str()));
        }
        if let Some(rec) = r.recovered {
            p.insert("recovered".into(), Value::from(rec));
        }
        if !p.is_empty() {
            positions.insert(r.channel.clone(), Value::Object(p));
        }
    }
    if results.len() == 1 {
        if let Some(Value::Object(p)) = positions.get(&results[0].channel) {
            for (k, v) in p {
                f.insert(k.clone(), v.clone());
            }
        }
    }
    if !positions.is_empty() {
        f.insert("positions".into(), Value::Object(positions));
    }
    f
}

/// The publications of a stored history as JSON objects.
pub fn publications_json(channel: &str, pubs: &[crate::engine::StoredPublication]) -> Vec<Value> {
    pubs.iter()
        .map(|p| {
            serde_json::json!({
                "type": p.event,
                "channel": channel,
                "data": serde_json::from_str::<Value>(&p.data).unwrap_or(Value::Null),
                "offset": p.offset,
                "timestamp": wavecast_protocol::time::format_millis(p.ts_ms),
            })
        })
        .collect()
}

/// Largest page a `history` request returns.
pub const MAX_HISTORY_PAGE: usize = 1000;

async fn history(
    state: &AppState,
    conn: &Connection,
    channel: &str,
    since: Option<u64>,
    limit: Option<usize>,
    id: Option<&RequestId>,
) {
    let principal = conn.principal.read().clone();
    if let Err(why) = may_subscribe(
        &principal,
        channel,
        state.config.namespace(namespace_of(channel)),
    ) {
        conn.outbound
            .push_control(encode_error(ErrorCode::Forbidden, &why, id));
        return;
    }
    let limit = limit.unwrap_or(MAX_HISTORY_PAGE).min(MAX_HISTORY_PAGE);
    let reply = match state.hub.history_async(channel, since, limit).await {
        Ok(Some((top, pubs))) => encode_control(
            "history",
            fields([
                ("channel", Value::from(channel)),
                ("offset", Value::from(top.offset)),
                ("epoch", Value::from(top.epoch)),
                (
                    "publications",
                    Value::from(publications_json(channel, &pubs)),
                ),
            ]),
            id,
        ),
        Ok(None) => encode_control(
            "history",
            fields([
                ("channel", Value::from(channel)),
                ("publications", Value::Array(Vec::new())),
            ]),
            id,
        ),
        Err(e) => {
            tracing::error!(error = %e, "history read failed");
            encode_error(
                ErrorCode::Unavailable,
                "history storage is unavailable; retry",
                id,
            )
        }
    };
    conn.outbound.push_control(reply);
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

async fn publish(
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
    let reply = match state
        .hub
        .publish_async(channel, event.unwrap_or(DEFAULT_EVENT_TYPE), &data_json)
        .await
    {
        Ok(d) => {
            let mut f = fields([("channel", Value::from(channel))]);
            match d.nodes {
                Some(n) => f.insert("nodes".into(), Value::from(n)),
                None => f.insert("delivered".into(), Value::from(d.delivered)),
            };
            if let Some(o) = d.offset {
                f.insert("offset".into(), Value::from(o));
            }
            encode_control("publish_success", f, id)
        }
        Err(e) => {
            tracing::error!(error = %e, "history append failed");
            encode_error(
                ErrorCode::Unavailable,
                "history storage is unavailable; retry",
                id,
            )
        }
    };
    conn.outbound.push_control(reply);
}
