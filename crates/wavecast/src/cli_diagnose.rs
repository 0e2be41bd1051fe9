//! Explaining a failed connection to the user: is anything listening at
//! the address, what did the server answer to the WebSocket upgrade (its
//! status and the JSON error body, which the client library does not keep),
//! and does the server want authentication before it admits anyone.
//!
//! Invariants: every probe is bounded by [`PROBE_TIMEOUT`]; a probe that
//! gets a 101 closes with a close frame (code 1000), so the server records
//! a client close; probes never send a secret anywhere but to the server
//! the user named; `wss://`/`https://` targets are not probed (no TLS
//! client here).

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wavecast_client::config::{http_base, ws_url};
use wavecast_client::{Error, HttpApi};

/// The longest any probe may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the WebSocket endpoint is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub ws_url: String,
    pub host: String,
    pub port: u16,
    /// Path and query.
    pub path: String,
}

impl Target {
    /// `None` for a TLS URL or one that does not parse.
    pub fn of(server: &str) -> Option<Target> {
        let url = ws_url(server);
        let rest = url.strip_prefix("ws://")?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = split_authority(authority, 80)?;
        Some(Target {
            ws_url: url.clone(),
            host,
            port,
            path: path.to_string(),
        })
    }
}

/// An error body of the server: `{"code","error","help"}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerSays {
    pub code: String,
    pub error: String,
    pub help: String,
}

impl ServerSays {
    pub fn from_json(v: &Value) -> Option<ServerSays> {
        let code = v["code"].as_str()?.to_string();
        Some(ServerSays {
            code,
            error: v["error"].as_str().unwrap_or("").to_string(),
            help: v["help"].as_str().unwrap_or("").to_string(),
        })
    }

    /// `code: error (help)`.
    pub fn describe(&self) -> String {
        let mut s = self.code.clone();
        if !self.error.is_empty() {
            s.push_str(": ");
            s.push_str(&self.error);
        }
        if !self.help.is_empty() {
            s.push_str(&format!(" ({})", self.help));
        }
        s
    }
}

/// Why nothing answers at the address, if that is the problem.
pub async fn tcp_problem(host: &str, port: u16) -> Option<String> {
    match tokio::time::timeout(PROBE_TIMEOUT, TcpStream::connect((host, port))).await {
        Err(_) => Some(format!(
            "nothing answered at {host}:{port} within {} s",
            PROBE_TIMEOUT.as_secs()
        )),
        Ok(Err(e)) => Some(match e.kind() {
            std::io::ErrorKind::ConnectionRefused => {
                format!("nothing listens at {host}:{port} (connection refused)")
            }
            _ => format!("cannot reach {host}:{port}: {e}"),
        }),
        Ok(Ok(_)) => None,
    }
}

/// The host and port of an HTTP base URL.
fn http_host_port(server: &str) -> Option<(String, u16)> {
    let base = http_base(server);
    let (scheme, authority) = base.split_once("://")?;
    let default = if scheme == "https" { 443 } else { 80 };
    split_authority(authority, default)
}

/// `host[:port]` or `[v6][:port]` → (host without brackets, port).
fn split_authority(authority: &str, default_port: u16) -> Option<(String, u16)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => default_port,
            None => return None,
        };
        return Some((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), p.parse().ok()?)),
        None => Some((authority.to_string(), default_port)),
    }
}

/// What the server answered to an upgrade request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upgrade {
    /// 101: the credentials (if any) were accepted.
    Accepted,
    /// Any other status, with the error body when it had one.
    Refused {
        status: u16,
        says: Option<ServerSays>,
    },
}

/// Sends an upgrade request with `header` (a credential) and reads the
/// answer.
pub async fn probe_upgrade(t: &Target, header: Option<(&str, &str)>) -> Result<Upgrade, String> {
    tokio::time::timeout(PROBE_TIMEOUT, probe_upgrade_inner(t, header))
        .await
        .map_err(|_| {
            format!(
                "no answer to the upgrade within {} s",
                PROBE_TIMEOUT.as_secs()
            )
        })?
}

async fn probe_upgrade_inner(t: &Target, header: Option<(&str, &str)>) -> Result<Upgrade, String> {
    let mut s = TcpStream::connect((t.host.as_str(), t.port))
        .await
        .map_err(|e| e.to_string())?;
    let extra = header
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: {}:{}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: d2F2ZWNhc3QgZG9jdG9yIQ==\r\n{extra}\r\n",
        t.path, t.host, t.port
    );
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::with_capacity(1024);
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 64 * 1024 {
            return Err("the answer's head is too long".into());
        }
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the server closed the connection without answering".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| "the answer is not HTTP".to_string())?;
    if status == 101 {
        // A masked close frame, code 1000, so the server sees a clean close.
        let _ = s.write_all(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]).await;
        let _ = s.shutdown().await;
        return Ok(Upgrade::Accepted);
    }
    let length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0)
        .min(64 * 1024);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let mut chunk = [0u8; 4096];
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    let says = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| ServerSays::from_json(&v));
    Ok(Upgrade::Refused { status, says })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Whether the server says (in `/ws/config`) that connections must
/// authenticate; `None` when it cannot be asked.
pub async fn requires_auth(server: &str) -> Option<bool> {
    let api = HttpApi::new(server, None);
    let url = format!("{}/ws/config", api.base());
    let (status, body) = tokio::time::timeout(PROBE_TIMEOUT, api.request("GET", &url, None))
        .await
        .ok()?
        .ok()?;
    if status != 200 {
        return None;
    }
    let v: Value = serde_json::from_slice(&body).ok()?;
    v["websocket_config"]["features"]["auth_required"].as_bool()
}

/// Opens the WebSocket without credentials, asks to subscribe to `channel`
/// and returns the server's `error` (its `auth_required`), or `None` if the
/// connection was admitted after all.
pub async fn auth_required_error(t: &Target, channel: &str) -> Option<ServerSays> {
    use futures_util::{SinkExt, StreamExt};
    let probe = async {
        let (mut ws, _) = tokio_websockets::ClientBuilder::new()
            .uri(&t.ws_url)
            .ok()?
            .connect()
            .await
            .ok()?;
        let frame = json!({"type": "subscribe", "channel": channel, "id": 1}).to_string();
        ws.send(tokio_websockets::Message::text(frame)).await.ok()?;
        let mut found = None;
        while let Some(Ok(msg)) = ws.next().await {
            let Some(text) = msg.as_text() else {
                if msg.is_close() {
                    break;
                }
                continue;
            };
            let v: Value = serde_json::from_str(text).ok()?;
            match v["type"].as_str() {
                Some("connection_established") => break,
                Some("error" | "subscribe_failed") => {
                    found = ServerSays::from_json(&v);
                    break;
                }
                _ => {}
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), ws.close()).await;
        found
    };
    tokio::time::timeout(PROBE_TIMEOUT, probe).await.ok()?
}

/// The sentence for a credential the server refused.
fn credential_hint(code: &str) -> &'static str {
    match code {
        "invalid_signature" | "stale_timestamp" | "replay" => "; check --api-key",
        "token_expired" => "; mint a fresh token (wavecast token)",
        "origin_not_allowed" => "; see origins.allowed",
        _ => "",
    }
}

/// Why the WebSocket connection failed, as one sentence for the user.
/// `header` is the credential the client sent with the upgrade.
pub async fn explain_ws(server: &str, header: Option<(&str, &str)>, err: &Error) -> String {
    let Some(t) = Target::of(server) else {
        return err.to_string();
    };
    match err {
        Error::Refused { status } => match probe_upgrade(&t, header).await {
            Ok(Upgrade::Refused {
                status,
                says: Some(s),
            }) => format!(
                "the server refused the WebSocket connection with HTTP {status} {}{}",
                s.describe(),
                credential_hint(&s.code)
            ),
            _ => format!("the server refused the WebSocket connection with HTTP {status}"),
        },
        Error::Connect(_) | Error::Timeout(_) | Error::GaveUp { .. } => {
            match tcp_problem(&t.host, t.port).await {
                Some(p) => format!("{p}; is `wavecast serve` running? (--server, WAVECAST_SERVER)"),
                None => err.to_string(),
            }
        }
        Error::AuthFailed(e) => format!(
            "authentication failed: {e}{}",
            credential_hint(e.code.as_str())
        ),
        Error::ServerClosed { code: 4001, reason } => format!(
            "connected, but not authenticated: the server closed the connection (4001 {reason}); give --api-key or --token"
        ),
        other => other.to_string(),
    }
}

/// Why a connection attempt failed, for a retry notice: the TCP problem,
/// or the server's answer to the upgrade.
pub async fn why_not_connected(server: &str, header: Option<(&str, &str)>) -> String {
    let Some(t) = Target::of(server) else {
        return "the connection failed".into();
    };
    if let Some(p) = tcp_problem(&t.host, t.port).await {
        return p;
    }
    match probe_upgrade(&t, header).await {
        Ok(Upgrade::Accepted) => "the connection failed, but the server accepts one now".into(),
        Ok(Upgrade::Refused {
            status,
            says: Some(s),
        }) => format!("HTTP {status} {}", s.describe()),
        Ok(Upgrade::Refused { status, says: None }) => {
            format!("the server answered the upgrade with HTTP {status}")
        }
        Err(e) => e,
    }
}

/// One sentence for a failed HTTP API call (`pub`, `replay`).
pub async fn explain_http(server: &str, err: &Error) -> String {
    match err {
        Error::Http { status, body } => {
            let says = serde_json::from_str::<Value>(body)
                .ok()
                .and_then(|v| ServerSays::from_json(&v));
            match says {
                Some(s) => {
                    let hint = if s.code == "unauthorized" {
                        "; give the server API key with --http-key or WAVECAST_HTTP_API_KEY"
                    } else {
                        ""
                    };
                    format!("HTTP {status} {}{hint}", s.describe())
                }
                None => format!("HTTP {status}: {body}"),
            }
        }
        Error::Connect(_) | Error::Timeout(_) => {
            let problem = match http_host_port(server) {
                Some((h, p)) => tcp_problem(&h, p).await,
                None => None,
            };
            match problem {
                Some(p) => format!("{p}; is `wavecast serve` running? (--server, WAVECAST_SERVER)"),
                None => err.to_string(),
            }
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let t = Target::of("http://127.0.0.1:8000").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("127.0.0.1", 8000, "/ws")
        );
        let t = Target::of("ws://[::1]:9000/api/ws/connect").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("::1", 9000, "/api/ws/connect")
        );
        assert_eq!(Target::of("localhost").unwrap().port, 80);
        assert!(Target::of("https://example.com").is_none());
        assert_eq!(
            http_host_port("http://localhost:8000/x"),
            Some(("localhost".into(), 8000))
        );
    }

    #[test]
    fn server_says() {
        let s = ServerSays::from_json(&json!({"code":"invalid_credentials","error":"unknown API key","help":"check the API key or token"})).unwrap();
        assert_eq!(
            s.describe(),
            "invalid_credentials: unknown API key (check the API key or token)"
        );
        assert!(ServerSays::from_json(&json!({"error": "x"})).is_none());
    }
}
