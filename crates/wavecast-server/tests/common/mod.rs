//! Test support: a real server on 127.0.0.1:0, a WebSocket client over a
//! real socket, and a small HTTP client. Every wait is bounded.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_websockets::{ClientBuilder, MaybeTlsStream, Message, WebSocketStream};
use wavecast_server::state::AppState;
use wavecast_server::{Config, Server};

/// The longest any single wait in a test may take.
pub const WAIT: Duration = Duration::from_secs(10);

pub struct TestServer {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    stop: Option<oneshot::Sender<()>>,
    pub handle: Option<JoinHandle<std::io::Result<()>>>,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl TestServer {
    /// Starts a server with the defaults plus `toml` on 127.0.0.1:0.
    pub async fn start(toml: &str) -> TestServer {
        let mut cfg = Config::from_toml_str(toml).expect("test config");
        if !toml.contains("engine") {
            cfg.engine = wavecast_server::config::EngineKind::Memory;
        }
        cfg.port = 0;
        cfg.bind = [127, 0, 0, 1].into();
        let server = Server::bind(cfg).await.expect("bind");
        let addr = server.local_addr().expect("addr");
        let state = server.state();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        TestServer {
            addr,
            state,
            stop: Some(tx),
            handle: Some(handle),
            http: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Triggers a graceful shutdown.
    pub fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }

    /// A WebSocket upgrade attempt over plain HTTP, for refused upgrades:
    /// returns the status and the JSON body.
    pub async fn upgrade_attempt(&self, path: &str, headers: &[(&str, &str)]) -> (u16, Value) {
        let mut all = vec![
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ];
        all.extend_from_slice(headers);
        self.request("GET", path, None, &all).await
    }

    /// Connects a client and reads its `connection_established`.
    pub async fn client(&self) -> WsClient {
        let mut c = WsClient::connect(&self.ws_url()).await;
        let hello = c.recv().await;
        assert_eq!(hello["type"], "connection_established", "{hello}");
        c.connection_id = hello["connection_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        c
    }

    /// Connects a client whose socket receive buffer is tiny, for tests
    /// that need a stalled reader.
    pub async fn stalled_client(&self) -> WsClient {
        let sock = TcpSocket::new_v4().expect("socket");
        sock.set_recv_buffer_size(4096).expect("rcvbuf");
        let stream = sock.connect(self.addr).await.expect("connect");
        let (ws, _) = ClientBuilder::new()
            .uri(&self.ws_url())
            .expect("uri")
            .connect_on(stream)
            .await
            .expect("handshake");
        let mut c = WsClient {
            ws: Some(Ws::Plain(ws)),
            connection_id: String::new(),
        };
        let hello = c.recv().await;
        c.connection_id = hello["connection_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        c
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(format!("http://{}{}", self.addr, path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .expect("request");
        let resp = tokio::time::timeout(WAIT, self.http.request(req))
            .await
            .expect("http timeout")
            .expect("http");
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        let v = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, v)
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.request("POST", path, Some(body.to_string()), &[])
            .await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.request("GET", path, None, &[]).await
    }

    pub async fn publish(&self, channel: &str, data: Value) -> Value {
        let (status, v) = self
            .post(
                "/api/publish",
                serde_json::json!({"channel": channel, "data": data}),
            )
            .await;
        assert_eq!(status, 200, "{v}");
        v
    }

    pub async fn metrics_text(&self) -> String {
        match self.get("/metrics").await.1 {
            Value::String(s) => s,
            other => panic!("metrics not text: {other}"),
        }
    }

    /// The value of one metric sample line (`name{labels} value`).
    pub async fn metric(&self, sample: &str) -> f64 {
        let text = self.metrics_text().await;
        text.lines()
            .find_map(|l| l.strip_prefix(sample).and_then(|r| r.strip_prefix(' ')))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    }

    /// Waits (bounded) until `sample` reaches at least `min`.
    pub async fn wait_metric(&self, sample: &str, min: f64) -> f64 {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let v = self.metric(sample).await;
            if v >= min {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{sample} stayed at {v}, expected >= {min}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

pub enum Ws {
    Tls(WebSocketStream<MaybeTlsStream<TcpStream>>),
    Plain(WebSocketStream<TcpStream>),
}

/// A test client over a real socket.
pub struct WsClient {
    ws: Option<Ws>,
    pub connection_id: String,
}

/// What `next_event` saw.
#[derive(Debug)]
pub enum Event {
    Json(Value),
    Close(Option<u16>, String),
    End,
}

impl WsClient {
    pub async fn connect(url: &str) -> WsClient {
        let (ws, _) =
            tokio::time::timeout(WAIT, ClientBuilder::new().uri(url).expect("uri").connect())
                .await
                .expect("connect timeout")
                .expect("connect");
        WsClient {
            ws: Some(Ws::Tls(ws)),
            connection_id: String::new(),
        }
    }

    /// Connects with extra request headers; the error keeps the HTTP status.
    pub async fn try_connect(
        url: &str,
        headers: &[(&'static str, &str)],
    ) -> Result<WsClient, tokio_websockets::Error> {
        let mut b = ClientBuilder::new().uri(url).expect("uri");
        for (k, v) in headers {
            b = b
                .add_header(
                    hyper::header::HeaderName::from_static(k),
                    hyper::header::HeaderValue::from_str(v).expect("header value"),
                )
                .expect("header");
        }
        let (ws, _) = tokio::time::timeout(WAIT, b.connect())
            .await
            .expect("connect timeout")?;
        Ok(WsClient {
            ws: Some(Ws::Tls(ws)),
            connection_id: String::new(),
        })
    }

    pub async fn send_raw(&mut self, msg: Message) {
        match self.ws.as_mut().expect("open") {
            Ws::Tls(w) => w.send(msg).await.expect("send"),
            Ws::Plain(w) => w.send(msg).await.expect("send"),
        }
    }

    pub async fn send(&mut self, v: Value) {
        self.send_raw(Message::text(v.to_string())).await;
    }

    pub async fn send_text(&mut self, s: &str) {
        self.send_raw(Message::text(s.to_string())).await;
    }

    /// The next frame, close or end of stream, within `WAIT`.
    pub async fn next_event(&mut self) -> Event {
        let next = async {
            match self.ws.as_mut().expect("open") {
                Ws::Tls(w) => w.next().await,
                Ws::Plain(w) => w.next().await,
            }
        };
        match tokio::time::timeout(WAIT, next)
            .await
            .expect("no frame within WAIT")
        {
            Some(Ok(m)) => {
                if let Some(t) = m.as_text() {
                    Event::Json(serde_json::from_str(t).expect("server sent invalid JSON"))
                } else if let Some((code, reason)) = m.as_close() {
                    Event::Close(Some(u16::from(code)), reason.to_string())
                } else if m.is_close() {
                    Event::Close(None, String::new())
                } else {
                    Box::pin(self.next_event()).await
                }
            }
            Some(Err(_)) | None => Event::End,
        }
    }

    /// The next JSON frame, skipping heartbeats.
    pub async fn recv(&mut self) -> Value {
        loop {
            match self.next_event().await {
                Event::Json(v) if v["type"] == "heartbeat" => continue,
                Event::Json(v) => return v,
                other => panic!("expected a frame, got {other:?}"),
            }
        }
    }

    /// Sends `v` and returns the reply.
    pub async fn call(&mut self, v: Value) -> Value {
        self.send(v).await;
        self.recv().await
    }

    /// Waits for a close frame and returns its code.
    pub async fn expect_close(&mut self) -> Option<u16> {
        loop {
            match self.next_event().await {
                Event::Json(_) => continue,
                Event::Close(code, _) => return code,
                Event::End => return None,
            }
        }
    }
}

/// A real redis-server on a free port, killed on drop.
pub struct RedisProcess {
    pub port: u16,
    child: std::process::Child,
    pub dir: std::path::PathBuf,
}

impl RedisProcess {
    /// Starts redis-server; `persistent` turns on the append-only file so
    /// a restart keeps the data.
    pub fn start(persistent: bool) -> RedisProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let dir =
            std::env::temp_dir().join(format!("wavecast-redis-{port}-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        Self::spawn(port, dir, persistent)
    }

    fn spawn(port: u16, dir: std::path::PathBuf, persistent: bool) -> RedisProcess {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                if persistent { "yes" } else { "no" },
                "--appendfsync",
                "always",
                "--dir",
            ])
            .arg(&dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server must be installed (apt-get install redis-server)");
        let deadline = std::time::Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        RedisProcess { port, child, dir }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills redis-server and starts it again on the same port and dir.
    pub fn restart(&mut self, persistent: bool) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let fresh = Self::spawn(self.port, self.dir.clone(), persistent);
        let old = std::mem::replace(self, fresh);
        std::mem::forget(old);
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Subscribes and asserts success; returns the reply.
pub async fn subscribe_ok(c: &mut WsClient, req: Value) -> Value {
    let r = c.call(req).await;
    assert_eq!(r["type"], "subscribe_success", "{r}");
    r
}

/// Reads publications until one with `offset >= last`; returns offsets.
pub async fn offsets_until(c: &mut WsClient, last: u64) -> Vec<u64> {
    let mut got = Vec::new();
    loop {
        let v = c.recv().await;
        assert_eq!(v["type"], "publication", "{v}");
        let o = v["offset"].as_u64().expect("offset");
        got.push(o);
        if o >= last {
            return got;
        }
    }
}
