//! JSON error replies in the protocol's error shape, shared by every route.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use wavecast_protocol::to_client::error_fields;
use wavecast_protocol::ErrorCode;

/// A JSON error reply: `{"type":"error","code","error","recoverable","help","timestamp"}`.
pub fn error_response(status: StatusCode, code: ErrorCode, message: &str) -> Response {
    let mut body = error_fields(code, message);
    body.insert("type".into(), "error".into());
    (status, axum::Json(serde_json::Value::Object(body))).into_response()
}

/// 400 with `code`.
pub fn bad_request(code: ErrorCode, message: &str) -> Response {
    error_response(StatusCode::BAD_REQUEST, code, message)
}
