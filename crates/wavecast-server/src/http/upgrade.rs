//! The WebSocket upgrade of every configured endpoint, in phases: the
//! handshake checks (origin, headers, key, connection rate and count), the
//! format and compression agreed with the client, the credentials sent
//! with the request (checked before upgrading; refused outright without a
//! token where the endpoint requires one), then the 101 answer and a
//! session task for the endpoint's handler.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use hyper_util::rt::TokioIo;
use wavecast_protocol::dialect::Dialect;
use wavecast_protocol::ErrorCode;
use wavecast_ws::{accept_key, valid_key, Decoder};

use super::app::App;
use super::errors::dialect_error_response;
use super::negotiate::{agree, Agreed};
use crate::agents::AgentExtension;
use crate::audit::{self, AuthVia};
use crate::auth::{AuthError, Authenticator, Principal};
use crate::channels::ChannelProtocol;
use crate::config::{EndpointConfig, EndpointHandler};
use crate::conn::Connection;
use crate::echo::Echo;
use crate::limits::ConnectionSlot;
use crate::session::admission::{admit_checks, Admission};
use crate::session::driver;
use crate::session::io::SocketIo;
use crate::state::AppState;
use crate::streams::{StreamEndpoint, StreamsHandler};
use crate::tls::Socket;

/// A configured WebSocket endpoint, as the router holds it.
pub struct Endpoint {
    pub config: EndpointConfig,
    /// The path, shared by every session of the endpoint (audit records).
    pub path: Arc<str>,
}

impl Endpoint {
    pub fn new(config: EndpointConfig) -> Endpoint {
        let path = Arc::from(config.path.as_str());
        Endpoint { config, path }
    }
}

/// `GET <path>` of a configured endpoint: its handshake, then a session
/// with the endpoint's handler.
pub async fn endpoint(
    app: App,
    ep: Arc<Endpoint>,
    remote: SocketAddr,
    mut req: Request,
) -> Response {
    let state = app.core.clone();
    let agreed = agree(&state.config, &ep.config, req.headers(), req.uri().query());
    let (accept, slot) = match handshake(&state, remote, req.headers()) {
        Ok(ok) => ok,
        Err(refusal) => return refusal.response(agreed.format.dialect),
    };
    let creds = upgrade_credentials(&req);
    if creds.is_none()
        && state.config.auth.require_auth
        && ep
            .config
            .token_at_upgrade(state.config.auth.require_token_at_upgrade)
    {
        state.metrics.auth_result("missing_token");
        return dialect_error_response(
            StatusCode::UNAUTHORIZED,
            agreed.format.dialect,
            ErrorCode::AuthRequired,
            "this endpoint needs a token with the upgrade: ?token=<jwt> or Authorization: Bearer",
        );
    }
    let (principal, extra_channels) = match credentials(&state, creds, remote).await {
        Ok(ok) => ok,
        Err(e) => {
            let status = auth_status(e.code);
            return dialect_error_response(status, agreed.format.dialect, e.code, &e.message);
        }
    };
    let admission = Admission {
        slot,
        admitted: principal.authenticated || !state.config.auth.require_auth,
        extra_channels,
    };
    let conn = Arc::new(Connection::new(
        crate::ids::ConnectionId::random(),
        remote,
        principal,
        agreed.format,
        state.config.limits.max_connection_queue_bytes,
    ));
    let mut decoder = Decoder::new(state.config.limits.max_message_size);
    if let Some((_, params)) = &agreed.deflate {
        decoder = decoder.with_deflate(params);
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    let session = Pending {
        app,
        ep,
        conn,
        admission,
        decoder,
    };
    // Boxed before spawning: with only a pointer in it, tokio's task cell
    // (128-byte aligned) takes its smallest size, 128 B, not 256.
    let task: SessionFuture = Box::pin(
        state
            .sessions
            .track_future(session_task(Box::new(session), on_upgrade)),
    );
    tokio::spawn(task);
    switching_protocols(&accept, &agreed)
}

/// A session waiting for its upgraded socket.
struct Pending {
    app: App,
    ep: Arc<Endpoint>,
    conn: Arc<Connection>,
    admission: Admission,
    decoder: Decoder,
}

/// The session's task. Its own state is two pointers: the upgrade runs in
/// a boxed future that ends before the session starts, and the session's
/// future (whose type depends on the endpoint's handler) is boxed once, at
/// its final size.
async fn session_task(pending: Box<Pending>, on_upgrade: hyper::upgrade::OnUpgrade) {
    if let Some(session) = Box::pin(pending.upgraded(on_upgrade)).await {
        session.await;
    }
}

type SessionFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

impl Pending {
    /// Waits for the upgraded socket and builds the endpoint's session.
    async fn upgraded(
        self: Box<Self>,
        on_upgrade: hyper::upgrade::OnUpgrade,
    ) -> Option<SessionFuture> {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!(error = %e, "websocket upgrade failed");
                return None;
            }
        };
        let Ok(parts) = upgraded.downcast::<TokioIo<Socket>>() else {
            tracing::error!("websocket upgrade on an unexpected transport");
            return None;
        };
        // The read buffer hyper kept (8 KiB) is released here, not held
        // for the life of the connection: only its unread bytes are kept.
        let hyper::upgrade::Parts { io, read_buf, .. } = parts;
        let mut early = read_buf.to_vec();
        drop(read_buf);
        let Pending {
            app,
            ep,
            conn,
            admission,
            decoder,
        } = *self;
        let io = match SocketIo::new(io.into_inner(), decoder, &mut early) {
            Ok(io) => io,
            Err(e) => {
                tracing::debug!(error = %e, "bad first websocket frame");
                return None;
            }
        };
        let state = app.core.clone();
        let path = ep.path.clone();
        let stream = |kind| StreamsHandler::new(kind, app.streams.clone());
        Some(match ep.config.handler {
            EndpointHandler::Channels => {
                let agents = AgentExtension::new(app.agents.clone());
                let h = ChannelProtocol::default().with(agents);
                Box::pin(driver::run(state, io, conn, h, admission, path))
            }
            EndpointHandler::Echo => Box::pin(driver::run(state, io, conn, Echo, admission, path)),
            EndpointHandler::StreamFeatures => {
                let h = stream(StreamEndpoint::Features);
                Box::pin(driver::run(state, io, conn, h, admission, path))
            }
            EndpointHandler::SimulationLive => {
                let h = stream(StreamEndpoint::Simulation);
                Box::pin(driver::run(state, io, conn, h, admission, path))
            }
            EndpointHandler::Heartbeat => {
                let h = stream(StreamEndpoint::Heartbeat);
                Box::pin(driver::run(state, io, conn, h, admission, path))
            }
        })
    }
}

fn switching_protocols(accept: &str, agreed: &Agreed) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    let mut set = |name, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    };
    set(header::SEC_WEBSOCKET_ACCEPT, accept);
    if let Some(p) = &agreed.protocol {
        set(header::SEC_WEBSOCKET_PROTOCOL, p);
    }
    if let Some((ext, _)) = &agreed.deflate {
        set(header::SEC_WEBSOCKET_EXTENSIONS, ext);
    }
    resp
}

/// A page this server served on a local name (the dashboard at
/// `http://localhost:8000/`) may open connections to it: its `Origin` is
/// the request's own `Host`, and that host is this machine.
fn same_local_origin(origin: Option<&str>, headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (origin.and_then(|o| o.split_once("://")), host) {
        (Some((_, authority)), Some(host)) => {
            authority.eq_ignore_ascii_case(host) && super::access::is_local_name(host)
        }
        _ => false,
    }
}

fn header_has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// The handshake checks; returns the accept key and a connection slot.
#[allow(clippy::result_large_err)]
fn handshake(
    state: &AppState,
    remote: SocketAddr,
    headers: &HeaderMap,
) -> Result<(String, ConnectionSlot), Refusal> {
    let refuse = |status, code, message| Err(Refusal::new(status, code, message));
    gate(state, remote, headers)?;
    if !header_has_token(headers, header::UPGRADE, "websocket")
        || !header_has_token(headers, header::CONNECTION, "upgrade")
    {
        return refuse(
            StatusCode::UPGRADE_REQUIRED,
            ErrorCode::InvalidField,
            "this endpoint expects a WebSocket upgrade",
        );
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .map(|v| v.as_bytes())
        != Some(b"13")
    {
        return refuse(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidField,
            "Sec-WebSocket-Version must be 13",
        );
    }
    let Some(key) = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .filter(|k| valid_key(k.as_bytes()))
    else {
        return refuse(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidField,
            "Sec-WebSocket-Key must be a base64-encoded 16-byte nonce",
        );
    };
    let accept = accept_key(key.as_bytes());
    Ok((accept, take_slot(state, remote)?))
}

/// An upgrade refused before it was accepted, answered in the dialect
/// the client asked for.
pub(super) struct Refusal {
    status: StatusCode,
    code: ErrorCode,
    message: &'static str,
}

impl Refusal {
    fn new(status: StatusCode, code: ErrorCode, message: &'static str) -> Refusal {
        Refusal {
            status,
            code,
            message,
        }
    }

    /// The HTTP answer, in `dialect`'s error shape.
    pub(super) fn response(&self, dialect: Dialect) -> Response {
        dialect_error_response(self.status, dialect, self.code, self.message)
    }
}

/// The checks before any long-lived connection (WebSocket or SSE): the
/// server is not shutting down and the origin may connect.
pub(super) fn gate(
    state: &AppState,
    remote: SocketAddr,
    headers: &HeaderMap,
) -> Result<(), Refusal> {
    let refuse = |status, code, message| Err(Refusal::new(status, code, message));
    if state.shutdown.is_cancelled() {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            "the server is shutting down",
        );
    }
    let origin = match headers.get(header::ORIGIN).map(|v| v.to_str()) {
        None => None,
        Some(Ok(o)) => Some(o),
        Some(Err(_)) => Some("\u{fffd}"),
    };
    if !state.origins.allows(origin) && !same_local_origin(origin, headers) {
        state.metrics.limit_rejections("origin");
        audit::origin_refused(remote, origin);
        return refuse(
            StatusCode::FORBIDDEN,
            ErrorCode::OriginNotAllowed,
            "this origin may not open WebSocket connections here",
        );
    }
    Ok(())
}

/// The per-address connection rate, then a slot under `max_connections`.
pub(super) fn take_slot(state: &AppState, remote: SocketAddr) -> Result<ConnectionSlot, Refusal> {
    let refuse = |status, code, message| Err(Refusal::new(status, code, message));
    if !state.limits.allow_ip(remote.ip(), Instant::now()) {
        state.metrics.limit_rejections("connection_rate_ip");
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            "too many new connections from this address; retry in a minute",
        );
    }
    let Some(slot) = state.limits.try_admit() else {
        state.metrics.limit_rejections("max_connections");
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            "this node is at its connection limit; retry later or elsewhere",
        );
    };
    Ok(slot)
}

/// Credentials sent with the upgrade request: `?token=`, `?api_key=`,
/// `Authorization: Bearer` (a JWT, or else an API key) or `X-API-Key`.
pub(super) enum UpgradeCredentials {
    Token(String),
    ApiKey(String),
}

pub(super) fn upgrade_credentials(req: &Request) -> Option<UpgradeCredentials> {
    if let Some(q) = req.uri().query() {
        for (k, v) in form_pairs(q) {
            match k.as_str() {
                "token" if !v.is_empty() => return Some(UpgradeCredentials::Token(v)),
                "api_key" if !v.is_empty() => return Some(UpgradeCredentials::ApiKey(v)),
                _ => {}
            }
        }
    }
    let headers = req.headers();
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        if let Some(t) = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
        {
            let t = t.trim().to_string();
            return Some(if Authenticator::looks_like_jwt(&t) {
                UpgradeCredentials::Token(t)
            } else {
                UpgradeCredentials::ApiKey(t)
            });
        }
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(|k| UpgradeCredentials::ApiKey(k.trim().to_string()))
}

/// Checks the credentials sent with the upgrade (anonymous without any).
pub(super) async fn credentials(
    state: &AppState,
    creds: Option<UpgradeCredentials>,
    remote: SocketAddr,
) -> Result<(Principal, Vec<String>), AuthError> {
    let Some(creds) = creds else {
        return Ok((Principal::anonymous(), Vec::new()));
    };
    let checked = match creds {
        UpgradeCredentials::Token(t) => state.auth.verify_token(&t),
        UpgradeCredentials::ApiKey(k) => state.auth.verify_api_key(&k),
    };
    let checked = match checked {
        Ok(p) => admit_checks(state, &p, remote)
            .await
            .map(|extra| (p.admitted(&state.config.agents.forward_claims), extra)),
        Err(e) => Err(e),
    };
    match &checked {
        Ok((p, _)) => {
            state.metrics.auth_result("success");
            audit::auth_success(None, remote, p.user_id.as_deref(), AuthVia::Upgrade);
        }
        Err(e) => {
            state.metrics.auth_result(e.code.as_str());
            audit::auth_failed(None, remote, e.code.as_str(), &e.message, AuthVia::Upgrade);
        }
    }
    checked
}

/// Decodes `application/x-www-form-urlencoded` pairs.
pub fn form_pairs(q: &str) -> Vec<(String, String)> {
    fn decode(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < b.len() => {
                    let hex = |c: u8| (c as char).to_digit(16);
                    match (hex(b[i + 1]), hex(b[i + 2])) {
                        (Some(h), Some(l)) => {
                            out.push((h * 16 + l) as u8);
                            i += 2;
                        }
                        _ => out.push(b'%'),
                    }
                }
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// The HTTP status for a refused credential.
pub(super) fn auth_status(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::RateLimited | ErrorCode::TooManyConnections => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::UNAUTHORIZED,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn form_decoding() {
        let p = super::form_pairs("token=a%2Eb.c&x=1+2&bad=%zz&api_key=&u=%\u{e9}x");
        assert_eq!(p[0], ("token".into(), "a.b.c".into()));
        assert_eq!(p[1], ("x".into(), "1 2".into()));
        assert_eq!(p[2], ("bad".into(), "%zz".into()));
        assert_eq!(p[3], ("api_key".into(), "".into()));
        assert_eq!(p[4].1, "%\u{e9}x");
    }
}
