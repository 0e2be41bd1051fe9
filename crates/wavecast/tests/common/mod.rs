//! Test support for the binary's tests: the shared kit, with the path of
//! the binary under test filled in.
#![allow(dead_code, unused_imports)]

use std::process::Output;
use std::time::Duration;

use serde_json::Value;

pub use wavecast_testkit::process::{http_get, publish, ServerProcess};
pub use wavecast_testkit::{free_port, RedisProcess, WAIT};

pub const BIN: &str = env!("CARGO_BIN_EXE_wavecast");

/// `wavecast serve` on a free port with a fresh data directory.
pub fn start(envs: &[(&str, &str)]) -> ServerProcess {
    ServerProcess::start(BIN, envs)
}

/// Runs the binary with `args`, bounded by `bound`; returns its output.
pub fn run(args: &[&str], bound: Duration) -> Output {
    wavecast_testkit::process::run(BIN, args, bound)
}

/// Runs the binary and parses its stdout as one JSON value.
pub fn run_json(args: &[&str], bound: Duration) -> Value {
    wavecast_testkit::process::run_json(BIN, args, bound)
}

/// An HTTP request on loopback; returns the status and the body (any
/// status).
pub fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut buf = String::new();
    s.read_to_string(&mut buf).expect("read");
    let (head, body) = buf.split_once("\r\n\r\n").expect("http response");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    (status, body.to_string())
}

/// One sample of `/metrics` (`name{labels}` exactly as printed), if any.
pub fn metric(port: u16, series: &str) -> Option<f64> {
    let text = http_get(port, "/metrics");
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (k, v) = l.rsplit_once(' ')?;
        (k == series).then(|| v.parse().ok())?
    })
}

/// Runs the binary with `args` and extra environment variables, bounded.
pub fn run_env(args: &[&str], envs: &[(&str, &str)], bound: Duration) -> Output {
    use std::process::{Command, Stdio};
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("WAVECAST_JWT_SECRET")
        .env_remove("WAVECAST_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn wavecast");
    let deadline = std::time::Instant::now() + bound;
    while child.try_wait().expect("try_wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "wavecast {args:?} did not finish within {bound:?}; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

/// stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `kill -SIG pid`.
pub fn signal(pid: u32, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// The binary running in the background, its stdout lines (each checked
/// to be JSON) and its stderr lines read by two threads.
pub struct Spawned {
    pub child: std::process::Child,
    pub out: std::sync::mpsc::Receiver<String>,
    pub err: std::sync::mpsc::Receiver<String>,
}

impl Spawned {
    pub fn start(args: &[&str]) -> Spawned {
        use std::io::{BufRead, BufReader};
        use std::process::{Command, Stdio};
        let mut child = Command::new(BIN)
            .args(args)
            .env_remove("WAVECAST_JWT_SECRET")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn wavecast");
        let (otx, out) = std::sync::mpsc::channel();
        let (etx, err) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Err(e) = serde_json::from_str::<Value>(&line) {
                    panic!("stdout line is not JSON ({e}): {line}");
                }
                if otx.send(line).is_err() {
                    break;
                }
            }
        });
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if etx.send(line).is_err() {
                    break;
                }
            }
        });
        Spawned { child, out, err }
    }

    /// The next stdout line of this `type`.
    pub fn next_of_type(&self, t: &str) -> Value {
        loop {
            let line = self
                .out
                .recv_timeout(WAIT)
                .unwrap_or_else(|_| panic!("no {t} line"));
            let v: Value = serde_json::from_str(&line).unwrap_or_default();
            if v["type"] == t {
                return v;
            }
        }
    }

    /// The next stderr line containing `text`.
    pub fn stderr_line(&self, text: &str) -> String {
        loop {
            let l = self
                .err
                .recv_timeout(WAIT)
                .unwrap_or_else(|_| panic!("no stderr line with {text:?}"));
            if l.contains(text) {
                return l;
            }
        }
    }

    /// Waits (bounded) for the exit.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                return s;
            }
            assert!(std::time::Instant::now() < deadline, "did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (bounded) until a `/metrics` sample has this value.
pub fn wait_metric(port: u16, series: &str, value: f64) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let got = metric(port, series);
        if got == Some(value) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{series} is {got:?}, not {value}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A plain HTTP GET on loopback; returns the status and the body.
pub fn http_status(port: u16, path: &str) -> (u16, String) {
    http(port, "GET", path, "")
}

/// The path of `examples/<name>.toml`.
pub fn example(name: &str) -> String {
    format!("{}/../../examples/{name}.toml", env!("CARGO_MANIFEST_DIR"))
}

/// `wavecast serve --config examples/<name>.toml` on a free port, with
/// extra environment variables.
pub fn start_example(name: &str, envs: &[(&str, &str)]) -> ServerProcess {
    let config = example(name);
    let mut all: Vec<(&str, &str)> = vec![("WAVECAST_CONFIG", config.as_str())];
    all.extend_from_slice(envs);
    start(&all)
}

/// An HS256 JWT for `sub`, valid for an hour.
pub fn hs256(secret: &str, sub: &str) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        + 3600;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &serde_json::json!({"sub": sub, "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("jwt")
}

/// A WebSocket upgrade that the server is expected to refuse: its HTTP
/// status and JSON body.
pub fn refused_upgrade(port: u16, path: &str, headers: &[&str]) -> (u16, Value) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut req = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    );
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("write");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head, body_start) = loop {
        let n = s.read(&mut chunk).expect("read");
        assert!(n > 0, "closed before the response head");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break (String::from_utf8_lossy(&buf[..end]).into_owned(), end + 4);
        }
    };
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < body_start + len {
        let n = s.read(&mut chunk).expect("read body");
        assert!(n > 0, "closed before the body");
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = serde_json::from_slice(&buf[body_start..body_start + len]).unwrap_or(Value::Null);
    (status, body)
}

/// A WebSocket client of `path` on the server, with extra headers.
pub async fn ws(port: u16, path: &str) -> wavecast_testkit::WsClient {
    wavecast_testkit::WsClient::connect(&format!("ws://127.0.0.1:{port}{path}")).await
}

/// The next JSON frame whose `type` is `kind`, skipping others (bounded
/// by `WAIT` per frame and 200 frames).
pub async fn next_of(c: &mut wavecast_testkit::WsClient, kind: &str) -> Value {
    use wavecast_testkit::Event;
    for _ in 0..200 {
        match c.next_event().await {
            Event::Json(v) if v["type"] == kind => return v,
            Event::Json(_) => continue,
            other => panic!("waiting for {kind}, got {other:?}"),
        }
    }
    panic!("no {kind} within 200 frames")
}

/// Polls the server's log (bounded) until it has a line with every one
/// of `parts`; returns it parsed.
pub fn log_line(srv: &ServerProcess, parts: &[&str]) -> Value {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let text = srv.log_text();
        if let Some(l) = text.lines().find(|l| parts.iter().all(|p| l.contains(p))) {
            return serde_json::from_str(l).unwrap_or(Value::Null);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no log line with {parts:?} in:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
