//! The WebSocket upgrade (`GET /ws`, `GET /api/ws/connect`): checks the
//! handshake, answers 101 and hands the upgraded socket, through hyper's
//! `OnUpgrade`, to a session task built on tokio-websockets.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine;
use hyper_util::rt::TokioIo;
use tokio_websockets::{Config as WsConfig, Limits, ServerBuilder};
use wavecast_protocol::ErrorCode;

use super::error_response;
use crate::auth::{Authenticator, Principal};
use crate::session::admission::{self, Admission};
use crate::session::{driver, Connection};
use crate::state::AppState;
use crate::streams::Mode;

const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (RFC 6455 §4.2.2).
pub fn accept_key(key: &[u8]) -> String {
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key);
    sha.update(WS_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.digest().bytes())
}

fn header_has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Credentials sent with the upgrade request: `?token=`, `?api_key=`,
/// `Authorization: Bearer` (a JWT, or else an API key) or `X-API-Key`.
enum UpgradeCredentials {
    Token(String),
    ApiKey(String),
}

fn upgrade_credentials(req: &Request) -> Option<UpgradeCredentials> {
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

/// Decodes `application/x-www-form-urlencoded` pairs.
fn form_pairs(q: &str) -> Vec<(String, String)> {
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
fn auth_status(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::RateLimited | ErrorCode::TooManyConnections => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::UNAUTHORIZED,
    }
}

/// `GET /ws`, `GET /api/ws/connect`: the channel protocol.
pub async fn ws_upgrade(
    State(state): State<Arc<AppState>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    upgrade(state, remote, req, Mode::Channels).await
}

/// `GET /ws/stream_features`.
pub async fn stream_features(
    State(state): State<Arc<AppState>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    upgrade(state, remote, req, Mode::Features).await
}

/// `GET /ws/simulation_live`.
pub async fn simulation_live(
    State(state): State<Arc<AppState>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    upgrade(state, remote, req, Mode::Simulation).await
}

/// `GET /ws/heartbeat`.
pub async fn heartbeat(
    State(state): State<Arc<AppState>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    upgrade(state, remote, req, Mode::Heartbeat).await
}

async fn upgrade(
    state: Arc<AppState>,
    remote: SocketAddr,
    mut req: Request,
    mode: Mode,
) -> Response {
    if state.shutdown.is_cancelled() {
        return error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            "the server is shutting down",
        );
    }
    let headers = req.headers();
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if !state.origins.allows(origin) {
        state.metrics.limit_rejections("origin");
        tracing::info!(target: "wavecast::audit", event = "origin_refused", remote_addr = %remote, origin = origin.unwrap_or("(none)"));
        return error_response(
            StatusCode::FORBIDDEN,
            ErrorCode::OriginNotAllowed,
            "this origin may not open WebSocket connections here",
        );
    }
    if !header_has_token(headers, header::UPGRADE, "websocket")
        || !header_has_token(headers, header::CONNECTION, "upgrade")
    {
        return error_response(
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
        return error_response(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidField,
            "Sec-WebSocket-Version must be 13",
        );
    }
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
        return error_response(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidField,
            "missing Sec-WebSocket-Key",
        );
    };
    let accept = accept_key(key.as_bytes());
    if !state.limits.allow_ip(remote.ip(), Instant::now()) {
        state.metrics.limit_rejections("connection_rate_ip");
        return error_response(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            "too many new connections from this address; retry in a minute",
        );
    }
    let Some(slot) = state.limits.try_admit() else {
        state.metrics.limit_rejections("max_connections");
        return error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            "this node is at its connection limit; retry later or elsewhere",
        );
    };

    // Credentials sent with the upgrade are checked before upgrading.
    let mut principal = Principal::anonymous();
    let mut extra_channels = Vec::new();
    if let Some(creds) = upgrade_credentials(&req) {
        let checked = match creds {
            UpgradeCredentials::Token(t) => state.auth.verify_token(&t),
            UpgradeCredentials::ApiKey(k) => state.auth.verify_api_key(&k),
        };
        let checked = match checked {
            Ok(p) => admission::admit_checks(&state, &p, remote)
                .await
                .map(|extra| (p, extra)),
            Err(e) => Err(e),
        };
        match checked {
            Ok((p, extra)) => {
                state.metrics.auth_result("success");
                tracing::info!(
                    target: "wavecast::audit",
                    event = "auth_success",
                    remote_addr = %remote,
                    user = p.user_id.as_deref().unwrap_or(""),
                    via = "upgrade",
                );
                principal = p;
                extra_channels = extra;
            }
            Err(e) => {
                state.metrics.auth_result(e.code.as_str());
                tracing::info!(
                    target: "wavecast::audit",
                    event = "auth_failed",
                    remote_addr = %remote,
                    code = e.code.as_str(),
                    error = %e.message,
                    via = "upgrade",
                );
                return error_response(auth_status(e.code), e.code, &e.message);
            }
        }
    }
    let admitted = principal.authenticated || !state.config.auth.require_auth;
    let on_upgrade = hyper::upgrade::on(&mut req);
    let conn = Arc::new(Connection::new(remote, principal, mode));
    let max_message = state.config.limits.max_message_size;
    let task_state = state.clone();
    let admission = Admission {
        slot,
        admitted,
        extra_channels,
    };
    state.sessions.spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let ws = ServerBuilder::new()
                    .limits(Limits::default().max_payload_len(Some(max_message)))
                    .config(WsConfig::default())
                    .serve(TokioIo::new(upgraded));
                driver::run(task_state, ws, conn, admission).await;
            }
            Err(e) => tracing::debug!(error = %e, "websocket upgrade failed"),
        }
    });

    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    resp
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

    #[test]
    fn rfc6455_example_key() {
        assert_eq!(
            super::accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
