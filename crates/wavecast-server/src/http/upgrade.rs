//! The WebSocket upgrade (`GET /ws`, `GET /api/ws/connect`): checks the
//! handshake, answers 101 and hands the upgraded socket, through hyper's
//! `OnUpgrade`, to a session task built on tokio-websockets.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine;
use hyper_util::rt::TokioIo;
use tokio_websockets::{Config as WsConfig, Limits, ServerBuilder};
use wavecast_protocol::ErrorCode;

use super::error_response;
use crate::session::{driver, Connection};
use crate::state::AppState;

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

pub async fn ws_upgrade(
    State(state): State<Arc<AppState>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    mut req: Request,
) -> Response {
    if state.shutdown.is_cancelled() {
        return error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Forbidden,
            "the server is shutting down",
        );
    }
    let headers = req.headers();
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
    let on_upgrade = hyper::upgrade::on(&mut req);

    let conn = Arc::new(Connection::new(remote, None));
    let max_message = state.config.max_message_bytes;
    let task_state = state.clone();
    state.sessions.spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let ws = ServerBuilder::new()
                    .limits(Limits::default().max_payload_len(Some(max_message)))
                    .config(WsConfig::default())
                    .serve(TokioIo::new(upgraded));
                driver::run(task_state, ws, conn).await;
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
    fn rfc6455_example_key() {
        assert_eq!(
            super::accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
