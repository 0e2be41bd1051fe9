//! The HTTP side of the server: the router, the server-API key check, and
//! JSON error replies in the protocol's error shape.
//!
//! - [`upgrade`]: `GET /ws` and `GET /api/ws/connect` (WebSocket upgrade).
//! - [`api`]: the server-side API (publish, broadcast, send, subscribe…).
//! - [`status`]: stats, streams, metrics, health, readiness, discovery.

pub mod api;
pub mod status;
pub mod upgrade;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use wavecast_protocol::server::error_fields;
use wavecast_protocol::ErrorCode;

use crate::state::AppState;

/// Builds the router of a server.
pub fn router(state: Arc<AppState>) -> Router {
    let body_limit = state.config.http.max_body_bytes;
    Router::new()
        .route("/ws", get(upgrade::ws_upgrade))
        .route("/api/ws/connect", get(upgrade::ws_upgrade))
        .route("/ws/stream_features", get(upgrade::stream_features))
        .route("/ws/simulation_live", get(upgrade::simulation_live))
        .route("/ws/heartbeat", get(upgrade::heartbeat))
        .route("/api/publish", post(api::publish))
        .route("/api/broadcast", post(api::broadcast))
        .route("/api/send", post(api::send))
        .route("/api/ws/subscribe", post(api::subscribe))
        .route("/api/ws/unsubscribe", post(api::unsubscribe))
        .route("/api/disconnect", post(api::disconnect))
        .route("/api/history/{*channel}", get(api::history))
        .route("/api/ws/stats", get(status::stats))
        .route("/api/ws/streams", get(status::streams))
        .route("/metrics", get(status::metrics))
        .route("/health", get(status::health))
        .route("/ready", get(status::ready))
        .route("/ws/config", get(status::ws_config))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), cors))
        .with_state(state)
}

async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, ErrorCode::NotFound, "no such route")
}

async fn method_not_allowed() -> Response {
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::NotFound,
        "this route does not take that method",
    )
}

/// CORS for the allowed origins: answers preflights and adds
/// `Access-Control-Allow-Origin` to responses for an allowed `Origin`.
async fn cors(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let allowed = origin
        .as_deref()
        .filter(|o| state.origins.allows(Some(o)))
        .and_then(|o| HeaderValue::from_str(o).ok());
    let preflight = req.method() == axum::http::Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut resp = if preflight {
        let mut r = Response::new(axum::body::Body::empty());
        *r.status_mut() = if allowed.is_some() {
            StatusCode::NO_CONTENT
        } else {
            StatusCode::FORBIDDEN
        };
        r
    } else {
        next.run(req).await
    };
    if let Some(o) = allowed {
        let h = resp.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
        if preflight {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST, OPTIONS"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("authorization, content-type, x-api-key"),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
        }
    }
    resp
}

/// A JSON error reply: `{"type":"error","code","error","recoverable","help","timestamp"}`.
pub fn error_response(status: StatusCode, code: ErrorCode, message: &str) -> Response {
    let mut body = error_fields(code, message);
    body.insert("type".into(), "error".into());
    (status, axum::Json(serde_json::Value::Object(body))).into_response()
}

/// Proof that a request may use the server API: it carries the configured
/// API key, or no key is configured and it comes from a loopback address.
pub struct ApiAccess;

impl FromRequestParts<Arc<AppState>> for ApiAccess {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let key = &state.config.http.api_key;
        if key.is_empty() {
            let remote = parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip().to_canonical());
            // A web page in a local browser could reach a loopback-only API:
            // refuse cross-site requests (an Origin that is not local) and
            // DNS rebinding (a Host that is not a local name).
            let local_name = |h: &str| {
                let host = h
                    .rsplit_once(':')
                    .filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
                    .map_or(h, |(h, _)| h);
                matches!(host, "localhost" | "[::1]") || host.starts_with("127.")
            };
            let origin_ok = parts
                .headers
                .get(header::ORIGIN)
                .and_then(|v| v.to_str().ok())
                .is_none_or(|o| {
                    o.split_once("://")
                        .is_some_and(|(_, rest)| local_name(rest))
                });
            let host_ok = parts
                .headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .is_none_or(local_name);
            if !origin_ok || !host_ok {
                return Err(error_response(
                    StatusCode::FORBIDDEN,
                    ErrorCode::Forbidden,
                    "without http.api_key the server API refuses browser requests from other sites and non-local Host names",
                ));
            }
            return match remote {
                Some(ip) if ip.is_loopback() => Ok(ApiAccess),
                _ => Err(error_response(
                    StatusCode::UNAUTHORIZED,
                    ErrorCode::Unauthorized,
                    "no http.api_key is configured, so the server API answers loopback clients only",
                )),
            };
        }
        match presented_key(&parts.headers) {
            Some(given) if constant_time_eq(given.as_bytes(), key.as_bytes()) => Ok(ApiAccess),
            Some(_) => Err(error_response(
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthorized,
                "wrong API key",
            )),
            None => Err(error_response(
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthorized,
                "missing API key",
            )),
        }
    }
}

/// The key from `Authorization: Bearer <key>` or `X-API-Key`.
fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        if let Some(k) = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
        {
            return Some(k.trim());
        }
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ct_eq() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
