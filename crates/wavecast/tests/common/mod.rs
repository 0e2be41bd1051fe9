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
