//! The router: every route (the HTTP API registered with its OpenAPI
//! description), the body-timeout and CORS layers, and the JSON answers
//! for unknown routes and methods.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Extension;
use axum::Router;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wavecast_protocol::ErrorCode;

use super::app::App;
use super::errors::error_response;
use super::{api, assets, monitoring, openapi, sse, status, upgrade};
use crate::config::{Config, EndpointConfig, EndpointHandler};
use crate::state::AppState;

/// Builds the router of a server.
pub fn router(app: App) -> Router {
    let body_limit = app.core.config.http.max_body_bytes;
    let endpoints = endpoints(&app.core.config);
    let (api, doc) = api_routes().split_for_parts();
    let doc = Arc::new(openapi::to_json(&openapi::complete(doc, &endpoints)));
    let mut router = Router::<App>::new();
    for ep in endpoints {
        let ep = Arc::new(upgrade::Endpoint::new(ep));
        let path = ep.config.path.clone();
        router = router.route(
            &path,
            get(
                move |State(app): State<App>,
                      ConnectInfo(remote): ConnectInfo<SocketAddr>,
                      req: Request| upgrade::endpoint(app, ep.clone(), remote, req),
            ),
        );
    }
    router
        .merge(api)
        .route("/", get(assets::serve))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(Extension(openapi::Document(doc)))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            app.core.clone(),
            body_timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(app.core.clone(), cors))
        .with_state(app)
}

/// Every HTTP route but the WebSocket endpoints and `/`, each registered
/// with its OpenAPI description (its handler's `#[utoipa::path]`).
fn api_routes() -> OpenApiRouter<App> {
    OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(api::publish))
        .routes(routes!(api::broadcast))
        .routes(routes!(api::send))
        .routes(routes!(api::subscribe))
        .routes(routes!(api::unsubscribe))
        .routes(routes!(api::disconnect))
        .routes(routes!(api::history))
        .routes(routes!(sse::sse))
        .routes(routes!(status::stats))
        .routes(routes!(status::channels))
        .routes(routes!(monitoring::list, monitoring::ingest))
        .routes(routes!(monitoring::history))
        .routes(routes!(monitoring::statistics))
        .routes(routes!(monitoring::summary))
        .routes(routes!(monitoring::tasks))
        .routes(routes!(status::metrics))
        .routes(routes!(status::health))
        .routes(routes!(status::ready))
        .routes(routes!(status::ws_config))
        .routes(routes!(openapi::serve))
        .routes(routes!(assets::serve))
}

/// The OpenAPI document of a server with configuration `cfg` (what it
/// serves at `/api/openapi.json`).
pub fn openapi_json(cfg: &Config) -> String {
    let (_, doc) = api_routes().split_for_parts();
    openapi::to_json(&openapi::complete(doc, &endpoints(cfg)))
}

/// The configured WebSocket endpoints, plus `/echo` when
/// `[conformance] echo` is on (with permessage-deflate: compression is
/// one of the things conformance suites check).
fn endpoints(cfg: &Config) -> Vec<EndpointConfig> {
    let mut all = cfg.endpoints.clone();
    if cfg.conformance.echo && !all.iter().any(|e| e.path == "/echo") {
        all.push(EndpointConfig {
            path: "/echo".into(),
            handler: EndpointHandler::Echo,
            deflate: true,
            ..EndpointConfig::default()
        });
    }
    all
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

/// Reads a request's body within `http.body_timeout` (and at most
/// `http.max_body_bytes`), so a client cannot hold a request open by
/// sending a body slowly or never. Too slow: 408 `request_timeout`.
async fn body_timeout(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if req.method() == axum::http::Method::GET || req.method() == axum::http::Method::OPTIONS {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let limit = state.config.http.max_body_bytes;
    let read = tokio::time::timeout(
        state.config.http.body_timeout,
        axum::body::to_bytes(body, limit),
    )
    .await;
    match read {
        Err(_) => {
            state.metrics.limit_rejections("body_timeout");
            error_response(
                StatusCode::REQUEST_TIMEOUT,
                ErrorCode::RequestTimeout,
                "the request body did not arrive within http.body_timeout",
            )
        }
        Ok(Err(_)) => error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            "request body is larger than http.max_body_bytes",
        ),
        Ok(Ok(bytes)) => {
            let req = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
            next.run(req).await
        }
    }
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
