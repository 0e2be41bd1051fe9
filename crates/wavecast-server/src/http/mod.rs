//! The HTTP side of the server: the router and its shared state.
//!
//! - [`upgrade`]: WebSocket upgrades; each path gets its endpoint handler
//!   (the channel protocol, or a stream endpoint).
//! - [`api`]: the server-side API (publish, broadcast, send, subscribe…).
//! - [`status`]: stats, channels, metrics, health, readiness, discovery.
//! - [`mod@sse`]: `GET /api/sse`, the HTTP side of the SSE transport.
//! - [`mod@monitoring`]: the metrics and tasks routes of the monitoring
//!   subsystem; [`monitoring_schema`]: their shapes, for the OpenAPI
//!   document.
//! - [`access`]: who may use the server API.
//! - [`errors`]: JSON errors in the protocol's error shape.
//! - [`assets`]: static files (the dashboard) given by the binary.
//! - [`openapi`], [`schema`]: the OpenAPI document, generated from the
//!   handlers' annotations, and the answers' shapes.
//! - [`app`], [`mod@router`]: the routes' shared state, and the router.

pub mod access;
pub mod api;
pub mod app;
pub mod assets;
pub mod errors;
pub mod monitoring;
pub mod monitoring_schema;
pub mod negotiate;
pub mod openapi;
pub mod router;
pub mod schema;
pub mod sse;
pub mod status;
pub mod upgrade;

pub use access::ApiAccess;
pub use app::App;
pub use errors::error_response;
pub use router::{openapi_json, router};
