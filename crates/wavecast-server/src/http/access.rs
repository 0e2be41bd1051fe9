//! Who may use the server API: [`ApiAccess`] is proof that a request
//! carries the configured API key, or — with no key configured — that it
//! comes from a loopback address, is not a cross-site browser request, and
//! names this machine in `Host` (so DNS rebinding cannot reach it).
//!
//! A name is local only if it is `localhost`, ends in `.localhost`, or is
//! a loopback IP literal. A `Host` or `Origin` header that is not valid
//! UTF-8 is refused, not ignored.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use wavecast_protocol::ErrorCode;

use super::errors::error_response;
use crate::auth::ct::constant_time_eq;
use crate::state::AppState;

/// Proof that a request may use the server API.
pub struct ApiAccess;

impl<S> FromRequestParts<S> for ApiAccess
where
    Arc<AppState>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = Arc::<AppState>::from_ref(state);
        let key = &state.config.http.api_key;
        if key.is_empty() {
            return loopback_only(parts);
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

/// Without a key: loopback peers, local `Host`, no foreign `Origin`.
// The error side is a ready HTTP reply, built only on the cold path.
#[allow(clippy::result_large_err)]
fn loopback_only(parts: &Parts) -> Result<ApiAccess, Response> {
    let header_ok = |name: header::HeaderName, ok: fn(&str) -> bool| match parts.headers.get(name) {
        None => true,
        Some(v) => v.to_str().is_ok_and(ok),
    };
    let origin_ok = header_ok(header::ORIGIN, |o| {
        o.split_once("://")
            .is_some_and(|(_, rest)| is_local_name(rest))
    });
    let host_ok = header_ok(header::HOST, is_local_name);
    if !origin_ok || !host_ok {
        return Err(error_response(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            "without http.api_key the server API refuses browser requests from other sites and non-local Host names",
        ));
    }
    let remote = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_canonical());
    match remote {
        Some(ip) if ip.is_loopback() => Ok(ApiAccess),
        _ => Err(error_response(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            "no http.api_key is configured, so the server API answers loopback clients only",
        )),
    }
}

/// Whether `authority` (`host[:port]`) names this machine.
pub fn is_local_name(authority: &str) -> bool {
    let host = match authority.rsplit_once(':') {
        Some((h, p))
            if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && !h.ends_with(':') =>
        {
            h
        }
        _ => authority,
    };
    let host = host.trim_end_matches('.');
    if host.eq_ignore_ascii_case("localhost") || host.to_ascii_lowercase().ends_with(".localhost") {
        return true;
    }
    let literal = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    literal
        .parse::<IpAddr>()
        .is_ok_and(|ip| ip.to_canonical().is_loopback())
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

#[cfg(test)]
mod tests {
    use super::is_local_name;

    #[test]
    fn local_names() {
        for ok in [
            "localhost",
            "localhost:8000",
            "LOCALHOST",
            "app.localhost:3000",
            "127.0.0.1",
            "127.0.0.1:8000",
            "127.1.2.3",
            "[::1]:8000",
            "[::1]",
            "::1",
            "[::ffff:127.0.0.1]:80",
        ] {
            assert!(is_local_name(ok), "{ok}");
        }
        for bad in [
            "127.attacker.example",
            "127.1.2.3.nip.io",
            "127.0.0.1.nip.io:8000",
            "localhost.attacker.example",
            "evil-localhost",
            "10.0.0.1",
            "example.com",
            "[::2]",
            "",
        ] {
            assert!(!is_local_name(bad), "{bad}");
        }
    }
}
