//! An in-process server on 127.0.0.1:0 with a small HTTP client, metric
//! readers, and helpers to connect test clients to it.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::net::TcpSocket;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_websockets::ClientBuilder;
use wavecast_server::state::AppState;
use wavecast_server::{Config, Server};

use crate::ws::WsClient;
use crate::WAIT;

pub struct TestServer {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    pub streams: Arc<wavecast_server::streams::StreamCounter>,
    stop: Option<oneshot::Sender<()>>,
    pub handle: Option<JoinHandle<std::io::Result<()>>>,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl TestServer {
    /// Starts a server with the defaults plus `toml` on 127.0.0.1:0, with
    /// in-memory history unless the TOML picks an engine, and without the
    /// monitoring publishers (which publish in the background) unless the
    /// TOML mentions `monitoring`.
    pub async fn start(toml: &str) -> TestServer {
        Self::start_with(toml, None).await
    }

    /// With `data_dir`, the embedded (persistent) engine under it.
    pub async fn start_with(toml: &str, data_dir: Option<&Path>) -> TestServer {
        let mut cfg = Config::from_toml_str(toml).expect("test config");
        match data_dir {
            Some(d) => {
                cfg.engine = wavecast_server::config::EngineKind::Embedded;
                cfg.data_dir = d.to_path_buf();
            }
            None if !toml.contains("engine") => {
                cfg.engine = wavecast_server::config::EngineKind::Memory;
            }
            None => {}
        }
        if !toml.contains("monitoring") {
            cfg.monitoring.enabled = false;
        }
        cfg.port = 0;
        cfg.bind = [127, 0, 0, 1].into();
        let server = Server::bind(cfg).await.expect("bind");
        let addr = server.local_addr().expect("addr");
        let state = server.state();
        let streams = server.streams();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        TestServer {
            addr,
            state,
            streams,
            stop: Some(tx),
            handle: Some(handle),
            http: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    pub fn http(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Triggers a graceful shutdown.
    pub fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }

    /// Graceful shutdown (clients get 1001); waits until it is done.
    pub async fn stop_and_wait(mut self) {
        self.stop();
        if let Some(h) = self.handle.take() {
            tokio::time::timeout(WAIT, h)
                .await
                .expect("server stops")
                .expect("join")
                .expect("run");
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

    /// A raw WebSocket client on `path` (handshake done).
    pub async fn raw(&self, path: &str) -> crate::RawWs {
        crate::RawWs::connect(self.addr, path, &[]).await
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
        let mut c = WsClient::plain(ws);
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

    /// Sends `request` (a whole HTTP/1.1 request, any bytes) over a fresh
    /// socket and returns the status and the body, as the server answered.
    pub async fn raw_http(&self, request: &[u8]) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("connect");
        s.write_all(request).await.expect("write");
        let mut out = Vec::new();
        let _ = tokio::time::timeout(WAIT, s.read_to_end(&mut out)).await;
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
        (status, body)
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
