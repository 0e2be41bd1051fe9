//! The OpenAPI 3.1 document of the HTTP API, served at
//! `/api/openapi.json` and committed as `docs/openapi.json`.
//!
//! It is generated, never written by hand: the router registers each API
//! handler through `utoipa_axum::routes!`, which takes the path, method,
//! parameters, body and answers from the handler's `#[utoipa::path]`
//! annotation, so a route cannot exist without its description. The
//! WebSocket endpoints come from the configuration (the same list the
//! router serves), and the answers' shapes from [`super::schema`].
//!
//! Invariants: every operation documents its error answers with
//! [`super::schema::ErrorBody`], the protocol's error shape; the document
//! for the default configuration is byte-for-byte `docs/openapi.json`
//! (`tests/openapi.rs` fails when it is stale).

use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem,
};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::{ContentBuilder, ObjectBuilder, OpenApi, Ref, Required};
use utoipa::OpenApi as _;

use super::schema;
use crate::config::{EndpointConfig, EndpointHandler};

/// The document's fixed parts: information, shared schemas, tags.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "wavecast HTTP API",
        description = "The HTTP side of wavecast: publishing, personal messages, server-side subscriptions, history, status and discovery, and the WebSocket endpoints' upgrades. Every error answer has the protocol's error shape (ErrorBody); docs/protocol.md describes the codes.",
        license(name = "MIT OR Apache-2.0"),
    ),
    components(schemas(schema::ErrorBody)),
    tags(
        (name = "publish", description = "Publishing and personal messages (server API key)"),
        (name = "connections", description = "Server-side subscriptions and disconnects (server API key)"),
        (name = "history", description = "Channel history (server API key)"),
        (name = "status", description = "Stats, health, readiness, metrics and discovery"),
        (name = "monitoring", description = "Monitoring metrics, their history and statistics, and task reports (server API key; docs/monitoring.md)"),
        (name = "websocket", description = "WebSocket endpoints (GET with Upgrade: websocket)"),
    ),
)]
pub struct ApiDoc;

/// Completes the document the router gathered from the handlers: the
/// WebSocket endpoints, and axum's catch-all syntax (`{*channel}`) as
/// OpenAPI's (`{channel}`).
pub fn complete(mut doc: OpenApi, endpoints: &[EndpointConfig]) -> OpenApi {
    doc.paths.paths = std::mem::take(&mut doc.paths.paths)
        .into_iter()
        .map(|(path, item)| (path.replace("{*", "{"), item))
        .collect();
    for ep in endpoints {
        doc.paths
            .paths
            .insert(ep.path.clone(), PathItem::new(HttpMethod::Get, upgrade(ep)));
    }
    doc
}

/// The document as served (pretty JSON, ending with a newline).
pub fn to_json(doc: &OpenApi) -> String {
    let mut text = doc.to_pretty_json().unwrap_or_default();
    text.push('\n');
    text
}

/// The fixed parts, for the router to fill in.
pub fn base() -> OpenApi {
    ApiDoc::openapi()
}

/// An error answer in the protocol's error shape.
pub fn error(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}

fn query(name: &str, description: &str) -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(
            ObjectBuilder::new().schema_type(utoipa::openapi::schema::Type::String),
        ))
        .build()
}

/// The upgrade of one WebSocket endpoint.
fn upgrade(ep: &EndpointConfig) -> utoipa::openapi::path::Operation {
    let what = match ep.handler {
        EndpointHandler::Echo => {
            "the conformance echo endpoint: every text and binary message comes back as received"
                .to_string()
        }
        h => format!(
            "the `{}` handler in the `{}` dialect",
            h.as_str(),
            ep.dialect.as_str()
        ),
    };
    let deflate = if ep.deflate {
        "permessage-deflate is accepted when offered (Sec-WebSocket-Extensions)."
    } else {
        "permessage-deflate is off here."
    };
    OperationBuilder::new()
        .tag("websocket")
        .operation_id(Some(format!("websocket{}", ep.path.replace('/', "_"))))
        .summary(Some(format!("WebSocket: {what}")))
        .description(Some(format!(
            "Opens a WebSocket (RFC 6455): GET with Upgrade: websocket, Connection: Upgrade, Sec-WebSocket-Version: 13 and a Sec-WebSocket-Key. Sec-WebSocket-Protocol picks a dialect (wavecast.v1, fog, netra, neurograph, mfn), each optionally with .msgpack for MessagePack binary frames. {deflate} Credentials may come as ?token=, ?api_key=, Authorization: Bearer or X-API-Key."
        )))
        .parameter(query(
            "format",
            "`msgpack`: MessagePack binary frames instead of JSON text frames",
        ))
        .parameter(query("token", "A JWT (when authentication is on)"))
        .parameter(query("api_key", "A client API key (when authentication is on)"))
        .response(
            "101",
            ResponseBuilder::new()
                .description("Switching Protocols: the WebSocket is open")
                .build(),
        )
        .response(
            "400",
            error("invalid_field: Sec-WebSocket-Version is not 13, or Sec-WebSocket-Key is not a base64 16-byte nonce"),
        )
        .response(
            "401",
            error("auth_required or the credential's error code: a token is required at the upgrade and is missing or invalid"),
        )
        .response(
            "403",
            error("origin_not_allowed: the Origin may not open WebSocket connections; forbidden: the credential may not connect"),
        )
        .response("426", error("invalid_field: not a WebSocket upgrade"))
        .response(
            "429",
            error("rate_limited or too_many_connections: too many new connections from this address, or for this user"),
        )
        .response(
            "503",
            error("unavailable: the server is shutting down, or at limits.max_connections"),
        )
        .build()
}

/// The served document (an extension of every request).
#[derive(Clone)]
pub struct Document(pub std::sync::Arc<String>);

/// `GET /api/openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "status",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document of this server (its configured WebSocket endpoints included)", content_type = "application/json"),
    ),
)]
pub async fn serve(axum::Extension(doc): axum::Extension<Document>) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        doc.0.as_str().to_owned(),
    )
        .into_response()
}
