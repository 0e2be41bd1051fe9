//! A WebSocket test client (tokio-websockets, which answers pings by
//! itself) and helpers for the channel protocol.

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_websockets::{ClientBuilder, MaybeTlsStream, Message, WebSocketStream};

use crate::WAIT;

/// The client's socket.
// Test clients are few; boxing would only add indirection.
#[allow(clippy::large_enum_variant)]
pub enum Ws {
    Tls(Box<WebSocketStream<MaybeTlsStream<TcpStream>>>),
    Plain(Box<WebSocketStream<TcpStream>>),
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
    /// A client over an already upgraded plain socket.
    pub fn plain(ws: WebSocketStream<TcpStream>) -> WsClient {
        WsClient {
            ws: Some(Ws::Plain(Box::new(ws))),
            connection_id: String::new(),
        }
    }

    /// A client over an already open `ws://` or `wss://` socket.
    pub fn over(ws: WebSocketStream<tokio_websockets::MaybeTlsStream<TcpStream>>) -> WsClient {
        WsClient {
            ws: Some(Ws::Tls(Box::new(ws))),
            connection_id: String::new(),
        }
    }

    pub async fn connect(url: &str) -> WsClient {
        let (ws, _) =
            tokio::time::timeout(WAIT, ClientBuilder::new().uri(url).expect("uri").connect())
                .await
                .expect("connect timeout")
                .expect("connect");
        WsClient {
            ws: Some(Ws::Tls(Box::new(ws))),
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
            ws: Some(Ws::Tls(Box::new(ws))),
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
