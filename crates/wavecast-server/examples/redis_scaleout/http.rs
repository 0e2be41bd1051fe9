//! A minimal keep-alive HTTP/1.1 client for `POST /api/publish`: one
//! request at a time per connection, responses read by `Content-Length`.
//! Just enough for a load generator (no chunked bodies, no redirects).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// One keep-alive connection to a node.
pub struct HttpConn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

impl HttpConn {
    pub fn new(addr: SocketAddr) -> HttpConn {
        HttpConn {
            addr,
            stream: None,
            buf: Vec::with_capacity(4096),
        }
    }

    /// `POST path` with a JSON body; returns the status and the body. A
    /// broken connection is dropped (the next call reconnects).
    pub async fn post(&mut self, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>), String> {
        let r = tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(path, body)).await;
        match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                self.stream = None;
                Err(e)
            }
            Err(_) => {
                self.stream = None;
                Err("request timed out".into())
            }
        }
    }

    async fn exchange(&mut self, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>), String> {
        if self.stream.is_none() {
            let s = TcpStream::connect(self.addr)
                .await
                .map_err(|e| format!("connect {}: {e}", self.addr))?;
            let _ = s.set_nodelay(true);
            self.stream = Some(s);
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err("not connected".into());
        };
        let mut req = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(body);
        stream
            .write_all(&req)
            .await
            .map_err(|e| format!("write: {e}"))?;
        self.buf.clear();
        let (status, head_len, body_len) = loop {
            if let Some(parsed) = parse_head(&self.buf)? {
                break parsed;
            }
            read_more(stream, &mut self.buf).await?;
        };
        while self.buf.len() < head_len + body_len {
            read_more(stream, &mut self.buf).await?;
        }
        Ok((status, self.buf[head_len..head_len + body_len].to_vec()))
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(), String> {
    let mut chunk = [0u8; 4096];
    let n = stream
        .read(&mut chunk)
        .await
        .map_err(|e| format!("read: {e}"))?;
    if n == 0 {
        return Err("connection closed".into());
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

/// `(status, head length, body length)` once the head is complete.
fn parse_head(buf: &[u8]) -> Result<Option<(u16, usize, usize)>, String> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| "non-UTF-8 response head")?;
    let status = head
        .get(9..12)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line in {head:?}"))?;
    let length = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .ok_or("response without Content-Length")?;
    Ok(Some((status, end + 4, length)))
}
