//! The `wavecast` binary as a server on a free port with its own data
//! directory (restartable on the same port and directory), and helpers to
//! run the binary's client commands. The binary's path is given by the
//! caller (`env!("CARGO_BIN_EXE_wavecast")` in the binary's own tests).

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::free_port;

/// `wavecast serve` as a child process.
pub struct ServerProcess {
    pub bin: PathBuf,
    pub child: Child,
    pub port: u16,
    pub data: PathBuf,
    envs: Vec<(String, String)>,
}

impl ServerProcess {
    /// `bin serve` on a free port with a fresh data directory.
    pub fn start(bin: &str, envs: &[(&str, &str)]) -> ServerProcess {
        let port = free_port();
        let data = std::env::temp_dir().join(format!(
            "wavecast-tools-{}-{port}-{}",
            std::process::id(),
            fastrand::u32(..)
        ));
        let envs = envs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Self::spawn(PathBuf::from(bin), port, data, envs)
    }

    fn spawn(bin: PathBuf, port: u16, data: PathBuf, envs: Vec<(String, String)>) -> ServerProcess {
        let mut cmd = Command::new(&bin);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path(&data))
            .expect("log file");
        cmd.args(["serve", "--port", &port.to_string()])
            .env_remove("WAVECAST_CONFIG")
            .env("WAVECAST_DATA_DIR", &data)
            .env("WAVECAST_LOG_LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in &envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn wavecast serve");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !crate::listening(port) {
            let exited = child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() >= deadline {
                let log = std::fs::read_to_string(log_path(&data)).unwrap_or_default();
                panic!("server did not start listening (exit: {exited:?}); its log:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        ServerProcess {
            bin,
            child,
            port,
            data,
            envs,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Everything the server logged so far (stderr of every run).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(log_path(&self.data)).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM (clients get 1001), wait for the exit, start again on the
    /// same port and data directory.
    pub fn restart(mut self) -> ServerProcess {
        self.terminate();
        let (bin, port, data, envs) = (
            self.bin.clone(),
            self.port,
            self.data.clone(),
            std::mem::take(&mut self.envs),
        );
        std::mem::forget(self);
        Self::spawn(bin, port, data, envs)
    }

    /// `kill -9`: the process dies without warning.
    pub fn kill9(&mut self) {
        let status = Command::new("kill")
            .args(["-9", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let _ = self.child.wait();
    }

    /// Starts the server again on the same port and data directory (after
    /// [`ServerProcess::kill9`] or a crash).
    pub fn respawn(mut self) -> ServerProcess {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (bin, port, data, envs) = (
            self.bin.clone(),
            self.port,
            self.data.clone(),
            std::mem::take(&mut self.envs),
        );
        std::mem::forget(self);
        Self::spawn(bin, port, data, envs)
    }

    /// The WebSocket URL of `/ws`.
    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    /// `POST /api/publish` over a plain socket; asserts 200 and returns the
    /// JSON body.
    pub async fn publish(&self, channel: &str, data: &Value) -> Value {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let body = serde_json::json!({"channel": channel, "data": data}).to_string();
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect");
        let req = format!(
            "POST /api/publish HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await.expect("write");
        let mut out = Vec::new();
        tokio::time::timeout(crate::WAIT, s.read_to_end(&mut out))
            .await
            .expect("timeout")
            .expect("read");
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
        serde_json::from_str(body).expect("json body")
    }

    /// SIGTERM, and waits for the exit ([`ServerProcess::respawn`] starts
    /// it again).
    pub fn stop(&mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Where a server's stderr goes: next to its data directory.
fn log_path(data: &std::path::Path) -> PathBuf {
    data.with_extension("log")
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data);
        let _ = std::fs::remove_file(log_path(&self.data));
    }
}

/// Runs `bin` with `args`, bounded by `bound`; returns its output.
pub fn run(bin: &str, args: &[&str], bound: Duration) -> Output {
    let mut child = Command::new(bin)
        .args(args)
        .env_remove("WAVECAST_JWT_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn wavecast");
    let deadline = Instant::now() + bound;
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if Instant::now() > deadline {
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

/// Runs the binary and parses its stdout as one JSON value; fails the test
/// with stderr when the command fails.
pub fn run_json(bin: &str, args: &[&str], bound: Duration) -> Value {
    let out = run(bin, args, bound);
    assert!(
        out.status.success(),
        "wavecast {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "wavecast {args:?} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// POSTs `/api/publish` through the binary's `pub`.
pub fn publish(srv: &ServerProcess, channel: &str, data: &str) -> Value {
    let bin = srv.bin.to_string_lossy().into_owned();
    run_json(
        &bin,
        &["pub", channel, data, "--server", &srv.url()],
        Duration::from_secs(20),
    )
}

/// A plain HTTP GET on loopback; returns the body.
pub fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut buf = String::new();
    s.read_to_string(&mut buf).expect("read");
    let (head, body) = buf.split_once("\r\n\r\n").expect("http response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
    out
}
