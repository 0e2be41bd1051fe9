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
