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

/// A plain HTTP GET on loopback; returns the status and the body.
pub fn http_status(port: u16, path: &str) -> (u16, String) {
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
    let _ = s.read_to_string(&mut buf);
    let status = buf
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = buf.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}
