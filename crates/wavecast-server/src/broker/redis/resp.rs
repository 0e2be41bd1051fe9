//! A minimal RESP2 client: command encoding, an incremental reply parser,
//! and a connection that sends commands and reads replies (with AUTH and
//! SELECT from the URL), over TCP or TLS (`rediss://`). Just what the redis
//! broker needs (scripts, streams, hashes, pub/sub); no cluster.

use bytes::{Buf, BytesMut};

use super::tls::{self, RedisStream};
use crate::config::RedisUrl;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Nil,
    Int(i64),
    Status(String),
    Error(String),
    Bulk(Vec<u8>),
    Array(Vec<Value>),
}

impl Value {
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bulk(b) => Some(b),
            Value::Status(s) => Some(s.as_bytes()),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bulk(_) | Value::Status(_) => self.as_str().and_then(|s| s.parse().ok()),
            _ => None,
        }
    }

    pub fn into_array(self) -> Vec<Value> {
        match self {
            Value::Array(a) => a,
            _ => Vec::new(),
        }
    }
}

/// A failure talking to Redis.
#[derive(Debug, Clone, PartialEq)]
pub enum RespError {
    Io(String),
    /// No reply in time: the command may or may not have run.
    Timeout,
    /// Redis answered with an error reply.
    Server(String),
    Protocol(String),
}

impl std::fmt::Display for RespError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RespError::Io(e) => write!(f, "redis I/O: {e}"),
            RespError::Timeout => f.write_str("redis command timeout"),
            RespError::Server(e) => write!(f, "redis error: {e}"),
            RespError::Protocol(e) => write!(f, "redis protocol: {e}"),
        }
    }
}

/// Appends a command (an array of bulk strings: `head` then `args`) to
/// `out`.
pub fn encode(out: &mut Vec<u8>, head: &[&[u8]], args: &[&[u8]]) {
    header(out, b'*', head.len() + args.len());
    for a in head.iter().chain(args) {
        header(out, b'$', a.len());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// Appends `{kind}{n}\r\n` without allocating.
fn header(out: &mut Vec<u8>, kind: u8, n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.push(kind);
    out.extend_from_slice(&digits[i..]);
    out.extend_from_slice(b"\r\n");
}

/// Largest bulk string or array accepted from the server.
const MAX_LEN: i64 = 512 * 1024 * 1024;

fn line(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    buf[from..]
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|p| (from + p, from + p + 2))
}

/// Parses one reply from the start of `buf`: `Ok(Some((value, used)))`,
/// `Ok(None)` if more bytes are needed.
pub fn parse(buf: &[u8]) -> Result<Option<(Value, usize)>, RespError> {
    parse_at(buf, 0)
}

fn parse_at(buf: &[u8], at: usize) -> Result<Option<(Value, usize)>, RespError> {
    if at >= buf.len() {
        return Ok(None);
    }
    let Some((end, next)) = line(buf, at + 1) else {
        return Ok(None);
    };
    let text = std::str::from_utf8(&buf[at + 1..end])
        .map_err(|_| RespError::Protocol("non-UTF-8 header".into()))?;
    let num = || -> Result<i64, RespError> {
        text.parse::<i64>()
            .map_err(|_| RespError::Protocol(format!("bad length {text:?}")))
    };
    match buf[at] {
        b'+' => Ok(Some((Value::Status(text.to_string()), next))),
        b'-' => Ok(Some((Value::Error(text.to_string()), next))),
        b':' => Ok(Some((Value::Int(num()?), next))),
        b'$' => {
            let n = num()?;
            if n < 0 {
                return Ok(Some((Value::Nil, next)));
            }
            if n > MAX_LEN {
                return Err(RespError::Protocol("bulk string too long".into()));
            }
            let n = n as usize;
            if buf.len() < next + n + 2 {
                return Ok(None);
            }
            Ok(Some((
                Value::Bulk(buf[next..next + n].to_vec()),
                next + n + 2,
            )))
        }
        b'*' => {
            let n = num()?;
            if n < 0 {
                return Ok(Some((Value::Nil, next)));
            }
            if n > MAX_LEN {
                return Err(RespError::Protocol("array too long".into()));
            }
            let mut items = Vec::with_capacity((n as usize).min(1024));
            let mut pos = next;
            for _ in 0..n {
                match parse_at(buf, pos)? {
                    Some((v, p)) => {
                        items.push(v);
                        pos = p;
                    }
                    None => return Ok(None),
                }
            }
            Ok(Some((Value::Array(items), pos)))
        }
        other => Err(RespError::Protocol(format!("unexpected byte {other:#x}"))),
    }
}

/// One connection to Redis.
pub struct Conn {
    stream: RedisStream,
    buf: BytesMut,
    out: Vec<u8>,
}

impl Conn {
    /// Connects, authenticates and selects the database of `addr`.
    pub async fn connect(addr: &RedisUrl) -> Result<Conn, RespError> {
        let hostport = addr.address();
        let tcp = TcpStream::connect(&hostport)
            .await
            .map_err(|e| RespError::Io(format!("connect {hostport}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let stream = if addr.tls {
            let connector = tls::connector(&addr.ca_file).map_err(RespError::Io)?;
            tls::handshake(&connector, &addr.host, tcp)
                .await
                .map_err(RespError::Io)?
        } else {
            RedisStream::Plain(tcp)
        };
        let mut c = Conn {
            stream,
            buf: BytesMut::with_capacity(4096),
            out: Vec::new(),
        };
        if let Some(pass) = &addr.password {
            let reply = match &addr.username {
                Some(user) => c.cmd(&[b"AUTH", user.as_bytes(), pass.as_bytes()]).await,
                None => c.cmd(&[b"AUTH", pass.as_bytes()]).await,
            };
            // Never echo what Redis said about the password.
            reply.map_err(|_| {
                RespError::Server("AUTH refused: check the user and password".into())
            })?;
        }
        if addr.db != 0 {
            c.cmd(&[b"SELECT", addr.db.to_string().as_bytes()]).await?;
        }
        Ok(c)
    }

    /// Splits the connection into its socket and what was read ahead.
    pub fn into_parts(self) -> (RedisStream, BytesMut) {
        (self.stream, self.buf)
    }

    /// Sends a command without reading the reply.
    pub async fn send(&mut self, args: &[&[u8]]) -> Result<(), RespError> {
        self.out.clear();
        encode(&mut self.out, &[], args);
        self.stream
            .write_all(&self.out)
            .await
            .map_err(|e| RespError::Io(e.to_string()))
    }

    /// Reads the next reply (or pushed message).
    pub async fn read(&mut self) -> Result<Value, RespError> {
        loop {
            if let Some((v, used)) = parse(&self.buf)? {
                self.buf.advance(used);
                return Ok(v);
            }
            let n = self
                .stream
                .read_buf(&mut self.buf)
                .await
                .map_err(|e| RespError::Io(e.to_string()))?;
            if n == 0 {
                return Err(RespError::Io("connection closed by redis".into()));
            }
        }
    }

    /// Sends a command and returns its reply; an error reply is an `Err`.
    pub async fn cmd(&mut self, args: &[&[u8]]) -> Result<Value, RespError> {
        self.send(args).await?;
        match self.read().await? {
            Value::Error(e) => Err(RespError::Server(e)),
            v => Ok(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_replies_incrementally() {
        let full = b"*3\r\n$7\r\nmessage\r\n:5\r\n$-1\r\n+OK\r\n";
        for cut in 0..full.len() - 5 {
            if let Ok(Some((_, used))) = parse(&full[..cut]) {
                assert!(used <= cut);
            }
        }
        let (v, used) = parse(full).unwrap().unwrap();
        assert_eq!(
            v,
            Value::Array(vec![
                Value::Bulk(b"message".to_vec()),
                Value::Int(5),
                Value::Nil
            ])
        );
        assert_eq!(
            parse(&full[used..]).unwrap().unwrap().0,
            Value::Status("OK".into())
        );
        assert!(parse(b"?x\r\n").is_err());
        assert_eq!(
            parse(b"-ERR bad\r\n").unwrap().unwrap().0,
            Value::Error("ERR bad".into())
        );
    }

    #[test]
    fn encodes_commands() {
        let mut out = Vec::new();
        encode(&mut out, &[b"GET"], &[b"k"]);
        assert_eq!(out, b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
        out.clear();
        encode(&mut out, &[], &[b"", &[b'x'; 1234]]);
        assert!(out.starts_with(b"*2\r\n$0\r\n\r\n$1234\r\nxx"));
    }
}
