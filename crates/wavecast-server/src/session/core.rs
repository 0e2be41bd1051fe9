//! The messages every endpoint understands, and the gates in front of the
//! endpoint's handler:
//!
//! - before `init`, an endpoint that does not speak first (the MFN streams)
//!   ignores everything but `init`;
//! - before authentication, only `init`, `auth`, `ping`, `pong` and
//!   `close` are accepted; anything else gets `auth_required`.
//!
//! `init`, `auth`, `refresh`, `ping`, `pong` and `close` are handled here;
//! every other type goes to the handler as an [`Envelope`].

use std::sync::atomic::Ordering;

use serde_json::Value;
use wavecast_protocol::dialect::{mfn, Dialect};
use wavecast_protocol::msgpack;
use wavecast_protocol::replies::FEATURES;
use wavecast_protocol::time::now_rfc3339;
use wavecast_protocol::to_client::{error_fields, fields};
use wavecast_protocol::to_server::{parse_request, ClientRequest, Envelope, ParseError, RequestId};
use wavecast_protocol::{CloseCode, ErrorCode, PROTOCOL_MAJOR, PROTOCOL_VERSION};

use super::{auth, Handler, Session};

/// The types this module handles itself.
const CORE_TYPES: &[&str] = &["init", "auth", "refresh", "ping", "pong", "close"];

/// One client message, before its dialect reads it.
pub enum Inbound<'a> {
    /// A text frame (JSON).
    Text(&'a str),
    /// A binary frame on a MessagePack connection.
    MsgPack(&'a [u8]),
}

/// Reads a message through the connection's dialect (and, for an MFN
/// client, notes whether it writes message types in upper case).
fn decode(s: &Session, msg: Inbound<'_>) -> Result<Envelope, ParseError> {
    let value: Value = match msg {
        Inbound::Text(text) => serde_json::from_str(text)
            .map_err(|e| ParseError::new(ErrorCode::InvalidJson, format!("invalid JSON: {e}")))?,
        Inbound::MsgPack(bytes) => msgpack::decode(bytes)?,
    };
    let dialect = s.conn.format.dialect;
    if dialect == Dialect::Mfn {
        if let Some(kind) = value.get("type").and_then(Value::as_str) {
            s.conn.shout.store(mfn::shouts(kind), Ordering::Relaxed);
        }
    }
    dialect.envelope(value)
}

/// Handles one client message.
pub async fn on_message<H: Handler>(s: &mut Session, h: &mut H, msg: Inbound<'_>) {
    let env = match decode(s, msg) {
        Ok(env) => env,
        Err(e) => {
            if s.may_speak(h) {
                s.send_error(e.code, &e.message, e.id.as_ref());
            }
            return;
        }
    };
    if !s.may_speak(h) && env.kind != "init" {
        return;
    }
    if CORE_TYPES.contains(&env.kind.as_str()) {
        core_request(s, env).await;
    } else if !s.auth.admitted {
        let message = "authenticate with an auth message first";
        if s.conn.format.dialect == Dialect::Mfn && env.kind == "subscribe" {
            // MFN's clients expect a subscribe to fail as a subscribe.
            s.send(
                "subscribe_failed",
                error_fields(ErrorCode::AuthRequired, message),
                env.id.as_ref(),
            );
        } else {
            s.send_error(ErrorCode::AuthRequired, message, env.id.as_ref());
        }
    } else {
        h.on_message(s, env).await;
    }
}

async fn core_request(s: &mut Session, env: Envelope) {
    let msg = match parse_request(env) {
        Ok(m) => m,
        Err(e) => {
            s.send_error(e.code, &e.message, e.id.as_ref());
            return;
        }
    };
    let id = msg.id.as_ref();
    match msg.request {
        ClientRequest::Init { protocol_version } => {
            s.initialized = true;
            init(s, protocol_version, id);
        }
        ClientRequest::Auth(req) => {
            auth::authenticate(&s.state, &s.conn, &mut s.auth, req, id).await;
        }
        ClientRequest::Refresh { token } => {
            auth::refresh(&s.state, &s.conn, &mut s.auth, &token, id);
        }
        ClientRequest::Ping => s.send(
            "pong",
            fields([("timestamp", Value::from(now_rfc3339()))]),
            id,
        ),
        ClientRequest::Close => s.conn.close(CloseCode::Normal, true),
        // `pong` (liveness only); the other types never reach here.
        _ => {}
    }
}

/// Answers `init` with the server's protocol version and features.
fn init(s: &Session, version: Option<String>, id: Option<&RequestId>) {
    if let Some(v) = &version {
        let major = v
            .split('.')
            .next()
            .and_then(|m| m.trim().parse::<u32>().ok());
        if major != Some(PROTOCOL_MAJOR) {
            s.send_error(
                ErrorCode::UnsupportedVersion,
                &format!("protocol version {v:?} is not supported; this server speaks {PROTOCOL_VERSION}"),
                id,
            );
            return;
        }
    }
    s.send(
        "init",
        fields([
            ("protocol_version", Value::from(PROTOCOL_VERSION)),
            ("connection_id", Value::from(&*s.conn.id)),
            (
                "server",
                Value::from(concat!("wavecast/", env!("CARGO_PKG_VERSION"))),
            ),
            ("features", Value::from(FEATURES)),
        ]),
        id,
    );
}
