//! Static files served at `/` (the dashboard). The binary embeds them and
//! hands them over; the library serves whatever it is given, and answers
//! 404 in the protocol's error shape for anything else.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use wavecast_protocol::ErrorCode;

use super::errors::error_response;

/// One file.
#[derive(Debug, Clone)]
pub struct Asset {
    /// The path without its leading `/` (`index.html` for `/`).
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

/// The files to serve.
#[derive(Debug, Clone, Default)]
pub struct Assets {
    pub files: Vec<Asset>,
}

impl Assets {
    fn find(&self, path: &str) -> Option<&Asset> {
        let path = if path.is_empty() { "index.html" } else { path };
        self.files.iter().find(|a| a.path == path)
    }
}

/// `GET /` and `GET /{file}`.
#[utoipa::path(
    get,
    path = "/{file}",
    tag = "status",
    params(("file" = String, Path, description = "A file of the dashboard (`/` is index.html)")),
    responses(
        (status = 200, description = "The file, when the binary serves the dashboard", content_type = "text/html"),
        (status = 404, description = "not_found: no such file", body = super::schema::ErrorBody),
    ),
)]
pub async fn serve(State(assets): State<Arc<Assets>>, file: Option<Path<String>>) -> Response {
    let name = file.map(|Path(f)| f).unwrap_or_default();
    match assets.find(&name) {
        Some(a) => (
            [
                (header::CONTENT_TYPE, a.content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            a.body,
        )
            .into_response(),
        None => error_response(StatusCode::NOT_FOUND, ErrorCode::NotFound, "no such route"),
    }
}
