//! A raw WebSocket client: it does the opening handshake, then writes and
//! reads frames byte for byte. It never answers anything by itself (a
//! "silent" client that ignores pings), and it can send what a real
//! client library refuses to: fragments split anywhere, bad UTF-8, bad
//! close codes, reserved bits, oversize control frames.

use std::net::SocketAddr;

use base64::Engine;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::WAIT;

/// One frame as read from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl Frame {
    /// The close code of a close frame.
    pub fn close_code(&self) -> Option<u16> {
        (self.opcode == 8 && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }

    /// The payload as JSON (text frames).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.payload).expect("a JSON text frame")
    }
}

/// What reading gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawEvent {
    Frame(Frame),
    /// The server closed the TCP connection.
    Eof,
}

/// A raw client over a real socket.
pub struct RawWs {
    stream: TcpStream,
    buf: Vec<u8>,
    /// The server's handshake response head (status line and headers).
    pub head: String,
}

impl RawWs {
    /// Connects to `path` with extra handshake headers; panics unless the
    /// server answers 101.
    pub async fn connect(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> RawWs {
        let (status, ws) = Self::try_connect(addr, path, headers).await;
        assert_eq!(status, 101, "upgrade refused");
        ws
    }

    /// Connects; returns the HTTP status and the client (usable after 101).
    pub async fn try_connect(
        addr: SocketAddr,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (u16, RawWs) {
        let mut stream = tokio::time::timeout(WAIT, TcpStream::connect(addr))
            .await
            .expect("connect timeout")
            .expect("connect");
        let key =
            base64::engine::general_purpose::STANDARD.encode(fastrand::u128(..).to_be_bytes());
        let mut req = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n"
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        stream
            .write_all(req.as_bytes())
            .await
            .expect("write handshake");
        let mut ws = RawWs {
            stream,
            buf: Vec::new(),
            head: String::new(),
        };
        let head = ws.read_head().await;
        ws.head.clone_from(&head);
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, ws)
    }

    /// A header of the handshake response (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    async fn read_head(&mut self) -> String {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                self.buf.drain(..end + 4);
                return head;
            }
            self.fill()
                .await
                .expect("the server closed during the handshake");
        }
    }

    /// Reads more bytes; `None` at EOF.
    async fn fill(&mut self) -> Option<()> {
        let mut chunk = [0u8; 16384];
        let n = tokio::time::timeout(WAIT, self.stream.read(&mut chunk))
            .await
            .expect("nothing from the server within WAIT")
            .ok()?;
        if n == 0 {
            return None;
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Some(())
    }

    /// Writes one frame, masked, with the given FIN bit, RSV bits and
    /// opcode (no checks: anything can be sent).
    pub async fn send_frame(&mut self, fin: bool, rsv: u8, opcode: u8, payload: &[u8]) {
        let mut f = vec![(u8::from(fin) << 7) | ((rsv & 7) << 4) | (opcode & 0xf)];
        let len = payload.len();
        if len < 126 {
            f.push(0x80 | len as u8);
        } else if len <= u16::MAX as usize {
            f.push(0x80 | 126);
            f.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            f.push(0x80 | 127);
            f.extend_from_slice(&(len as u64).to_be_bytes());
        }
        let mask = fastrand::u32(..).to_be_bytes();
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.send_bytes(&f).await;
    }

    /// Writes bytes as they are (a frame split anywhere, garbage).
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        // The server may already have closed: a failed write is expected
        // in some tests, and what matters is what the server sent back.
        let _ = self.stream.write_all(bytes).await;
    }

    /// A whole text message in one frame.
    pub async fn send_text(&mut self, text: &str) {
        self.send_frame(true, 0, 1, text.as_bytes()).await;
    }

    /// The next frame, or EOF, within [`WAIT`].
    pub async fn next(&mut self) -> RawEvent {
        loop {
            if let Some((frame, used)) = parse(&self.buf) {
                self.buf.drain(..used);
                return RawEvent::Frame(frame);
            }
            if self.fill().await.is_none() {
                return RawEvent::Eof;
            }
        }
    }

    /// The next text frame as JSON, skipping pings and heartbeats.
    pub async fn next_json(&mut self) -> Value {
        loop {
            match self.next().await {
                RawEvent::Frame(f) if f.opcode == 1 => {
                    let v = f.json();
                    if v["type"] != "heartbeat" {
                        return v;
                    }
                }
                RawEvent::Frame(f) if f.opcode == 9 || f.opcode == 10 => {}
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// Reads until a close frame and returns its code (`None`: EOF first,
    /// or a close without a code).
    pub async fn expect_close(&mut self) -> Option<u16> {
        loop {
            match self.next().await {
                RawEvent::Frame(f) if f.opcode == 8 => return f.close_code(),
                RawEvent::Frame(_) => continue,
                RawEvent::Eof => return None,
            }
        }
    }
}

/// Parses one server frame (unmasked) from the start of `buf`.
fn parse(buf: &[u8]) -> Option<(Frame, usize)> {
    let (b0, b1) = (*buf.first()?, *buf.get(1)?);
    let (len, mut at) = match b1 & 0x7f {
        126 => (u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?]) as usize, 4),
        127 => {
            let b: [u8; 8] = buf.get(2..10)?.try_into().ok()?;
            (u64::from_be_bytes(b) as usize, 10)
        }
        n => (n as usize, 2),
    };
    if b1 & 0x80 != 0 {
        at += 4;
    }
    let payload = buf.get(at..at + len)?.to_vec();
    Some((
        Frame {
            fin: b0 & 0x80 != 0,
            rsv: (b0 >> 4) & 7,
            opcode: b0 & 0xf,
            payload,
        },
        at + len,
    ))
}
