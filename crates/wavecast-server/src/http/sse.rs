//! `GET /api/sse?channels=a,b&since=…`: the HTTP side of the Server-Sent
//! Events transport ([`crate::sse`]). The same gates as a WebSocket
//! upgrade (shutdown, origin, connection rate and count), the same
//! credentials (`?token=`, `?api_key=`, `Authorization: Bearer`,
//! `X-API-Key`; an SSE stream cannot send an `auth` message, so with
//! `auth.require_auth` one is required here), then a `text/event-stream`
//! answer. `Last-Event-ID` (the id of the last event seen) wins over
//! `since`.
//!
//! Errors are answered before the stream starts, in the protocol's error
//! shape: 400 `invalid_field` (no channels, a bad `since`), 401/403/429
//! for credentials, 403 `forbidden` or 400 `invalid_channel` for a
//! channel, 503 `unavailable`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use wavecast_protocol::dialect::Dialect;
use wavecast_protocol::ErrorCode;

use super::app::{App, ConnectionKill};
use super::errors::error_response;
use super::schema::ErrorBody;
use super::upgrade::{auth_status, credentials, form_pairs, gate, take_slot, upgrade_credentials};
use crate::conn::format::Format;
use crate::conn::Connection;
use crate::sse::{Cursor, Open};

/// What the query asks for.
struct Query {
    channels: Vec<String>,
    since: Option<String>,
}

fn query(req: &Request) -> Result<Query, String> {
    let mut q = Query {
        channels: Vec::new(),
        since: None,
    };
    for (k, v) in form_pairs(req.uri().query().unwrap_or("")) {
        match k.as_str() {
            "channels" | "channel" => q.channels.extend(
                v.split(',')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(String::from),
            ),
            "since" if !v.is_empty() => q.since = Some(v),
            _ => {}
        }
    }
    q.channels.sort();
    q.channels.dedup();
    if q.channels.is_empty() {
        return Err("give the channels to stream: ?channels=a,b".into());
    }
    Ok(q)
}

/// `GET /api/sse`.
#[utoipa::path(
    get,
    path = "/api/sse",
    tag = "subscribe",
    params(
        ("channels" = String, Query, description = "Comma-separated channels to stream"),
        ("since" = Option<String>, Query, description = "Resume after this position (or send Last-Event-ID)"),
        ("token" = Option<String>, Query, description = "A JWT, when not sent in the Authorization header"),
    ),
    responses(
        (status = 200, description = "Server-Sent Events: one event per delivery (id = its position), heartbeat comments", content_type = "text/event-stream", body = String),
        (status = 400, description = "invalid_field: no channels, or a bad since/Last-Event-ID", body = ErrorBody),
        (status = 401, description = "auth_required or invalid_credentials: a token is required or was refused", body = ErrorBody),
        (status = 403, description = "forbidden or origin_not_allowed: the channel or the origin is not allowed", body = ErrorBody),
        (status = 429, description = "rate_limited: too many connections from this address or user", body = ErrorBody),
        (status = 503, description = "unavailable: the server is at max_connections or shutting down", body = ErrorBody),
    ),
)]
pub async fn sse(
    State(app): State<App>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let state = app.core.clone();
    let bad = |m: &str| error_response(StatusCode::BAD_REQUEST, ErrorCode::InvalidField, m);
    if let Err(refusal) = gate(&state, remote, req.headers()) {
        return refusal.response(Dialect::Wavecast);
    }
    let q = match query(&req) {
        Ok(q) => q,
        Err(m) => return bad(&m),
    };
    let last_id = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty());
    let resume = match last_id.or(q.since.as_deref()) {
        None => Cursor::default(),
        Some(text) => match Cursor::parse(text, &q.channels) {
            Ok(c) => c,
            Err(m) => return bad(&format!("since / Last-Event-ID: {m}")),
        },
    };
    let creds = upgrade_credentials(&req);
    if creds.is_none() && state.config.auth.require_auth {
        state.metrics.auth_result("missing_token");
        return error_response(
            StatusCode::UNAUTHORIZED,
            ErrorCode::AuthRequired,
            "an SSE stream needs its credentials with the request: ?token=<jwt> or Authorization: Bearer",
        );
    }
    let slot = match take_slot(&state, remote) {
        Ok(s) => s,
        Err(refusal) => return refusal.response(Dialect::Wavecast),
    };
    let (principal, extra_channels) = match credentials(&state, creds, remote).await {
        Ok(ok) => ok,
        Err(e) => return error_response(auth_status(e.code), e.code, &e.message),
    };
    let conn = Arc::new(Connection::new(
        crate::ids::ConnectionId::random(),
        remote,
        principal,
        Format::SSE,
        state.config.limits.max_connection_queue_bytes,
    ));
    let kill = req
        .extensions()
        .get::<ConnectionKill>()
        .map(|k| k.0.clone())
        .unwrap_or_default();
    let open = Open {
        conn,
        slot,
        channels: q.channels,
        resume,
        extra_channels,
        kill,
    };
    match crate::sse::open(&state, open).await {
        Ok(stream) => event_stream(Body::from_stream(stream)),
        Err(r) => error_response(refusal_status(r.code), r.code, &r.message),
    }
}

fn refusal_status(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidChannel => StatusCode::BAD_REQUEST,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::TooManySubscriptions | ErrorCode::TooManyConnections => {
            StatusCode::TOO_MANY_REQUESTS
        }
        _ => StatusCode::FORBIDDEN,
    }
}

fn event_stream(body: Body) -> Response {
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // nginx: pass events through as they come.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}
