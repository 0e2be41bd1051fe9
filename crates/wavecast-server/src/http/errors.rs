//! JSON error replies in the protocol's error shape, shared by every route.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use wavecast_protocol::dialect::Dialect;
use wavecast_protocol::to_client::error_fields;
use wavecast_protocol::ErrorCode;

/// A JSON error reply: `{"type":"error","code","error","recoverable","help","timestamp"}`
/// (with help that fits HTTP where the protocol's speaks of frames).
pub fn error_response(status: StatusCode, code: ErrorCode, message: &str) -> Response {
    let mut body = error_fields(code, message);
    if code == ErrorCode::InvalidJson {
        // The protocol's help speaks of WebSocket text frames.
        body.insert(
            "help".into(),
            "send one JSON object as the request body".into(),
        );
    }
    body.insert("type".into(), "error".into());
    (status, axum::Json(serde_json::Value::Object(body))).into_response()
}

/// A JSON error reply in a connection dialect's error shape (an upgrade
/// refused before it is accepted): Netra's nests the fields under
/// `payload`; the others are [`error_response`]'s.
pub fn dialect_error_response(
    status: StatusCode,
    dialect: Dialect,
    code: ErrorCode,
    message: &str,
) -> Response {
    match dialect {
        Dialect::Netra => {
            let body = dialect.control("error", error_fields(code, message), None, false);
            (status, axum::Json(body)).into_response()
        }
        _ => error_response(status, code, message),
    }
}

/// 400 with `code`.
pub fn bad_request(code: ErrorCode, message: &str) -> Response {
    error_response(StatusCode::BAD_REQUEST, code, message)
}
