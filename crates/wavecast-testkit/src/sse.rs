//! A Server-Sent Events test client over a real socket: sends `GET` with
//! any headers, then reads the `text/event-stream` body as it arrives
//! and splits it into events (comments included), every read bounded by
//! [`WAIT`].

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

use crate::WAIT;

/// One event (or a comment line block) of the stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SseEvent {
    pub id: Option<String>,
    /// `event:` (empty for a comment).
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The text of a comment (`: …`) block.
    pub comment: Option<String>,
}

impl SseEvent {
    /// `data` as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("{e}: {:?}", self.data))
    }
}

/// An open stream.
pub struct SseClient {
    pub status: u16,
    pub content_type: String,
    body: Incoming,
    buf: String,
}

impl SseClient {
    /// `GET path` (with its query) on `addr`; `Err((status, body))` for an
    /// answer other than 200.
    pub async fn connect(
        addr: SocketAddr,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<SseClient, (u16, String)> {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .expect("handshake");
        tokio::spawn(conn);
        let mut req = hyper::Request::get(path).header("host", addr.to_string());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Empty::<Bytes>::new()).expect("request");
        let resp = tokio::time::timeout(WAIT, send.send_request(req))
            .await
            .expect("no answer within WAIT")
            .expect("answer");
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = resp.into_body();
        if status != 200 {
            let bytes = tokio::time::timeout(WAIT, body.collect())
                .await
                .expect("error body within WAIT")
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            return Err((status, String::from_utf8_lossy(&bytes).into_owned()));
        }
        Ok(SseClient {
            status,
            content_type,
            body,
            buf: String::new(),
        })
    }

    /// The next event or comment; `None` when the stream ended.
    pub async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                return Some(parse(&block));
            }
            let frame = tokio::time::timeout(WAIT, self.body.frame())
                .await
                .expect("no event within WAIT");
            match frame {
                Some(Ok(f)) => {
                    if let Some(d) = f.data_ref() {
                        self.buf.push_str(&String::from_utf8_lossy(d));
                    }
                }
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// The next event that is not a comment.
    pub async fn event(&mut self) -> SseEvent {
        loop {
            match self.next().await {
                Some(e) if e.comment.is_some() => continue,
                Some(e) => return e,
                None => panic!("the stream ended"),
            }
        }
    }
}

fn parse(block: &str) -> SseEvent {
    let mut e = SseEvent::default();
    let mut data: Vec<&str> = Vec::new();
    for line in block.lines() {
        if let Some(c) = line.strip_prefix(':') {
            e.comment = Some(c.trim().to_string());
        } else if let Some(v) = line.strip_prefix("id: ") {
            e.id = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("event: ") {
            e.event = v.to_string();
        } else if let Some(v) = line.strip_prefix("data: ") {
            data.push(v);
        }
    }
    e.data = data.join("\n");
    e
}
