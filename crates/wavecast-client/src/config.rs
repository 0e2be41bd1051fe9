//! Client configuration: where to connect, which credential to present and
//! how, reconnect policy, offline queue and timeouts.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::backoff::Backoff;
use crate::error::Error;

/// How a credential travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// In the upgrade URL (`?api_key=` / `?token=`). Ends up in proxy logs.
    Query,
    /// In an upgrade header (`X-API-Key` / `Authorization: Bearer`).
    Header,
    /// In an `auth` message after the WebSocket opens.
    Message,
}

/// The credential to present.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Credentials {
    /// None: an anonymous connection (when the server allows it).
    #[default]
    None,
    /// A plain API key.
    ApiKey { key: String, via: Via },
    /// An API key proven with an HMAC signature in an `auth` message; the
    /// timestamp is signed afresh on every connection.
    SignedApiKey { key: String },
    /// A named key (`[auth.keys]`): `key_id` plus a signature made with the
    /// secret, which never travels.
    KeyId { key_id: String, secret: String },
    /// A JWT.
    Token { token: String, via: Via },
}

/// Supplies a fresh JWT: on `refresh_required` and before each reconnect.
pub type TokenProvider = Arc<dyn Fn() -> BoxFuture<'static, Result<String, String>> + Send + Sync>;

/// What [`crate::Client::send`] does when the offline queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overflow {
    /// Discard the oldest queued message to make room (the default).
    #[default]
    DropOldest,
    /// Discard the new message; `send` still succeeds.
    DropNewest,
    /// Refuse the new message with [`Error::QueueFull`].
    Error,
}

/// Everything the client needs to know.
#[derive(Clone)]
pub struct ClientConfig {
    /// `ws://host:port/ws`.
    pub url: String,
    pub credentials: Credentials,
    /// Called for a new token on `refresh_required` and before reconnecting.
    pub token_provider: Option<TokenProvider>,
    pub backoff: Backoff,
    /// Reconnect when the connection is lost (the default).
    pub reconnect: bool,
    /// Messages kept while offline, flushed in order on reconnect.
    pub queue_capacity: usize,
    pub overflow: Overflow,
    /// Time for TCP, the WebSocket handshake and admission together.
    pub connect_timeout: Duration,
    /// Time to wait for the reply to a request (subscribe, unsubscribe).
    pub request_timeout: Duration,
    /// With no frame from the server for this long the connection counts
    /// as dead and is replaced. `None`: twice the announced heartbeat
    /// interval plus 5 s.
    pub idle_timeout: Option<Duration>,
    /// Events buffered per subscription before the reader stops reading
    /// the socket (backpressure then applies on the server).
    pub subscription_buffer: usize,
    /// Client frames per second at most (0: no limit), with bursts of
    /// 1.5× that. Keep it below the server's `limits.max_message_rate`
    /// (default 100), which refuses and eventually disconnects faster
    /// senders; a large offline queue is then flushed at this pace.
    pub max_send_rate: u32,
    /// Extra upgrade headers.
    pub headers: Vec<(String, String)>,
    /// MessagePack binary frames instead of JSON text frames (asked for
    /// with `Sec-WebSocket-Protocol: wavecast.v1.msgpack`).
    pub msgpack: bool,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("url", &self.url)
            .field(
                "credentials",
                &match &self.credentials {
                    Credentials::None => "none",
                    Credentials::ApiKey { .. } => "api key",
                    Credentials::SignedApiKey { .. } => "signed api key",
                    Credentials::KeyId { .. } => "key id",
                    Credentials::Token { .. } => "token",
                },
            )
            .field("backoff", &self.backoff)
            .field("reconnect", &self.reconnect)
            .field("queue_capacity", &self.queue_capacity)
            .field("overflow", &self.overflow)
            .field("msgpack", &self.msgpack)
            .finish_non_exhaustive()
    }
}

impl ClientConfig {
    /// A configuration for `server`: an `http(s)://` base URL (the
    /// WebSocket URL `ws(s)://…/ws` is derived) or a `ws(s)://` URL.
    pub fn new(server: &str) -> ClientConfig {
        ClientConfig {
            url: ws_url(server),
            credentials: Credentials::None,
            token_provider: None,
            backoff: Backoff::default(),
            reconnect: true,
            queue_capacity: 1000,
            overflow: Overflow::DropOldest,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            idle_timeout: None,
            subscription_buffer: 1024,
            max_send_rate: 90,
            headers: Vec::new(),
            msgpack: false,
        }
    }

    /// Speak MessagePack (binary frames) instead of JSON: fewer bytes on
    /// the wire, the same messages.
    pub fn msgpack(mut self, on: bool) -> Self {
        self.msgpack = on;
        self
    }

    pub fn credentials(mut self, c: Credentials) -> Self {
        self.credentials = c;
        self
    }

    /// An API key sent in the `X-API-Key` header.
    pub fn api_key(self, key: impl Into<String>) -> Self {
        self.credentials(Credentials::ApiKey {
            key: key.into(),
            via: Via::Header,
        })
    }

    /// A JWT sent in the `Authorization: Bearer` header.
    pub fn token(self, token: impl Into<String>) -> Self {
        self.credentials(Credentials::Token {
            token: token.into(),
            via: Via::Header,
        })
    }

    pub fn token_provider(mut self, p: TokenProvider) -> Self {
        self.token_provider = Some(p);
        self
    }

    pub fn backoff(mut self, base: Duration, cap: Duration, max_attempts: Option<u32>) -> Self {
        self.backoff = Backoff {
            base,
            cap,
            max_attempts,
        };
        self
    }

    pub fn reconnect(mut self, on: bool) -> Self {
        self.reconnect = on;
        self
    }

    pub fn queue(mut self, capacity: usize, overflow: Overflow) -> Self {
        self.queue_capacity = capacity;
        self.overflow = overflow;
        self
    }

    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    pub fn request_timeout(mut self, t: Duration) -> Self {
        self.request_timeout = t;
        self
    }

    pub fn idle_timeout(mut self, t: Duration) -> Self {
        self.idle_timeout = Some(t);
        self
    }

    pub fn max_send_rate(mut self, per_second: u32) -> Self {
        self.max_send_rate = per_second;
        self
    }

    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Checks what can be checked before connecting.
    pub fn validate(&self) -> Result<(), Error> {
        if !(self.url.starts_with("ws://") || self.url.starts_with("wss://")) {
            return Err(Error::InvalidConfig(format!(
                "{:?} is not a ws:// or http:// URL",
                self.url
            )));
        }
        if self.url.starts_with("wss://") {
            return Err(Error::InvalidConfig(
                "TLS is not supported by this client; terminate TLS in a proxy or use ws://".into(),
            ));
        }
        if self.subscription_buffer == 0 {
            return Err(Error::InvalidConfig(
                "subscription_buffer must be above zero".into(),
            ));
        }
        if self.backoff.base.is_zero() || self.backoff.cap < self.backoff.base {
            return Err(Error::InvalidConfig("backoff needs 0 < base <= cap".into()));
        }
        Ok(())
    }
}

/// `http://h:p` → `ws://h:p/ws` (and `https` → `wss`); a `ws://` URL with a
/// path is kept as it is.
pub fn ws_url(server: &str) -> String {
    let base = server.trim().trim_end_matches('/');
    if base.starts_with("ws://") || base.starts_with("wss://") {
        let has_path = base
            .split_once("://")
            .is_some_and(|(_, rest)| rest.contains('/'));
        return if has_path {
            base.to_string()
        } else {
            format!("{base}/ws")
        };
    }
    let base = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        format!("ws://{base}")
    };
    if base.ends_with("/ws") {
        base
    } else {
        format!("{base}/ws")
    }
}

/// `ws://h:p/…` → `http://h:p` (the base of the HTTP API).
pub fn http_base(server: &str) -> String {
    let s = server.trim().trim_end_matches('/');
    let s = if let Some(rest) = s.strip_prefix("wss://") {
        format!("https://{rest}")
    } else if let Some(rest) = s.strip_prefix("ws://") {
        format!("http://{rest}")
    } else if s.starts_with("http://") || s.starts_with("https://") {
        s.to_string()
    } else {
        format!("http://{s}")
    };
    match s.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split('/').next().unwrap_or(rest);
            format!("{scheme}://{host}")
        }
        None => s,
    }
}

/// Percent-encodes a query value.
pub fn encode_query(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(ws_url("http://127.0.0.1:8000"), "ws://127.0.0.1:8000/ws");
        assert_eq!(ws_url("http://h:1/"), "ws://h:1/ws");
        assert_eq!(ws_url("https://h"), "wss://h/ws");
        assert_eq!(ws_url("ws://h:1"), "ws://h:1/ws");
        assert_eq!(ws_url("ws://h:1/api/ws/connect"), "ws://h:1/api/ws/connect");
        assert_eq!(ws_url("h:1"), "ws://h:1/ws");
        assert_eq!(http_base("ws://h:1/ws"), "http://h:1");
        assert_eq!(http_base("http://h:1/"), "http://h:1");
        assert_eq!(encode_query("a b+c/é"), "a%20b%2Bc%2F%C3%A9");
    }
}
