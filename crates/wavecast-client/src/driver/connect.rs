//! One connection attempt: place the credentials (URL, header or `auth`
//! message), open the WebSocket, and wait for admission
//! (`connection_established`, or `auth_success` after an `auth`).
//!
//! Invariants: the whole attempt is bounded by the connect timeout; an
//! attempt returns only an admitted socket or an error that says whether
//! trying again can help (closes that may pass, such as 1001 or 4008, come
//! back as transient [`Error::Connect`]); heartbeats that arrive before
//! admission are answered.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_websockets::ClientBuilder;
use wavecast_protocol::to_server::{AuthRequest, ClientMessage, ClientRequest};

use super::state::Ws;
use crate::auth::now_millis;
use crate::config::{encode_query, ClientConfig, Credentials, Via};
use crate::error::{Error, Result};
use crate::frame::{self, ServerFrame, Welcome};

/// Opens the WebSocket, presents the credentials and waits for admission.
/// `token` replaces the configured token (after a refresh).
pub(crate) async fn connect_once(
    config: ClientConfig,
    token: Option<String>,
    timeout: Duration,
) -> Result<(Ws, Welcome)> {
    let attempt = async {
        let upgrade = Upgrade::of(&config, token);
        let mut ws = upgrade.open().await?;
        let msgpack = config.msgpack;
        let sent_auth = match upgrade.auth {
            Some(auth) => {
                ws.send(frame::outgoing(auth.to_json(), msgpack))
                    .await
                    .map_err(|e| Error::Connect(e.to_string()))?;
                true
            }
            None => false,
        };
        let welcome = admission(&mut ws, sent_auth, msgpack).await?;
        Ok((ws, welcome))
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .map_err(|_| Error::Timeout("the connection to be admitted"))?
}

/// Where the credentials go: the upgrade URL and headers, or an `auth`
/// message after the WebSocket opens.
struct Upgrade {
    url: String,
    headers: Vec<(String, String)>,
    auth: Option<ClientMessage>,
}

impl Upgrade {
    fn of(config: &ClientConfig, token: Option<String>) -> Upgrade {
        let mut up = Upgrade {
            url: config.url.clone(),
            headers: config.headers.clone(),
            auth: None,
        };
        if config.msgpack {
            up.headers.push((
                "sec-websocket-protocol".into(),
                "wavecast.v1.msgpack".into(),
            ));
        }
        let message = |req: AuthRequest| Some(ClientMessage::new(ClientRequest::Auth(req)));
        match &config.credentials {
            Credentials::None => {}
            Credentials::ApiKey { key, via } => match via {
                Via::Query => up.query("api_key", key),
                Via::Header => up.headers.push(("x-api-key".into(), key.clone())),
                Via::Message => up.auth = message(AuthRequest::api_key(key)),
            },
            Credentials::SignedApiKey { key } => {
                up.auth = message(AuthRequest::signed_api_key(key, now_millis()));
            }
            Credentials::KeyId { key_id, secret } => {
                up.auth = message(AuthRequest::signed_key_id(key_id, secret, now_millis()));
            }
            Credentials::Token { token: t0, via } => {
                let t = token.unwrap_or_else(|| t0.clone());
                match via {
                    Via::Query => up.query("token", &t),
                    Via::Header => up
                        .headers
                        .push(("authorization".into(), format!("Bearer {t}"))),
                    Via::Message => up.auth = message(AuthRequest::token(t)),
                }
            }
        }
        up
    }

    fn query(&mut self, key: &str, value: &str) {
        let sep = if self.url.contains('?') { '&' } else { '?' };
        self.url = format!("{}{sep}{key}={}", self.url, encode_query(value));
    }

    /// The TCP connection and the WebSocket handshake.
    async fn open(&self) -> Result<Ws> {
        let url = &self.url;
        let mut builder = ClientBuilder::new()
            .uri(url)
            .map_err(|e| Error::InvalidConfig(format!("bad URL {url}: {e}")))?;
        for (k, v) in &self.headers {
            let name = hyper::header::HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| Error::InvalidConfig(format!("bad header name {k:?}: {e}")))?;
            let value = hyper::header::HeaderValue::from_str(v)
                .map_err(|e| Error::InvalidConfig(format!("bad value for header {k}: {e}")))?;
            builder = builder
                .add_header(name, value)
                .map_err(|e| Error::InvalidConfig(format!("header {k}: {e}")))?;
        }
        let (ws, _) = builder.connect().await.map_err(|e| match e {
            tokio_websockets::Error::Upgrade(
                tokio_websockets::upgrade::Error::DidNotSwitchProtocols(status),
            ) => Error::Refused { status },
            other => Error::Connect(other.to_string()),
        })?;
        Ok(ws)
    }
}

/// Reads frames until the server admits the connection or refuses it.
async fn admission(ws: &mut Ws, sent_auth: bool, msgpack: bool) -> Result<Welcome> {
    loop {
        let msg = match ws.next().await {
            None => {
                return Err(Error::Connect(
                    "the connection ended before admission".into(),
                ))
            }
            Some(Err(e)) => return Err(Error::Connect(e.to_string())),
            Some(Ok(m)) => m,
        };
        if let Some((code, reason)) = msg.as_close() {
            return Err(closed_before_admission(u16::from(code), reason));
        }
        let Some(parsed) = frame::parse_message(&msg) else {
            continue;
        };
        match parsed? {
            ServerFrame::ConnectionEstablished(w) if !sent_auth => return Ok(w),
            ServerFrame::AuthSuccess(w) if sent_auth => return Ok(w),
            ServerFrame::AuthFailed { error, .. } => return Err(Error::AuthFailed(error.into())),
            ServerFrame::Heartbeat { .. } => {
                let pong = ClientMessage::new(ClientRequest::Pong).to_json();
                let _ = ws.send(frame::outgoing(pong, msgpack)).await;
            }
            _ => {}
        }
    }
}

/// A close before admission: 1001 (shutting down), 1011-1013 and 4008 may
/// pass on another try; the others will not.
fn closed_before_admission(code: u16, reason: &str) -> Error {
    let e = Error::ServerClosed {
        code,
        reason: reason.to_string(),
    };
    if matches!(code, 1001 | 1011 | 1012 | 1013 | 4008) {
        Error::Connect(e.to_string())
    } else {
        e
    }
}
