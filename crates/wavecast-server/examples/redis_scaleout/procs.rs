//! The processes a run starts, and what `/proc` says about them.
//!
//! - [`Child`]: a child process killed (SIGKILL) and reaped on drop, so a
//!   run that fails or panics leaves nothing behind.
//! - [`start_redis`] / [`start_node`]: one `redis-server` and the
//!   `wavecast serve` nodes on free ports of 127.0.0.1, each waited for
//!   (bounded).
//! - CPU ticks of a process (`/proc/PID/stat`) and of the whole machine
//!   (`/proc/stat`), RSS, the load average.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Clock ticks per second of `/proc` CPU times (USER_HZ; 100 on Linux).
pub const TICKS_PER_S: f64 = 100.0;

/// A child process, killed and reaped on drop.
pub struct Child {
    pub name: String,
    pub child: std::process::Child,
}

impl Child {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

fn wait_until(what: &str, bound: Duration, mut ok: impl FnMut() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + bound;
    while !ok() {
        if Instant::now() > deadline {
            return Err(format!("{what} not ready after {bound:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Starts `redis-server` on a free port with no persistence; returns it
/// and its port once it accepts connections.
pub fn start_redis(dir: &Path) -> Result<(Child, u16), String> {
    let port = free_port()?;
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--dir"])
        .arg(dir)
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start redis-server (is it installed?): {e}"))?;
    let child = Child {
        name: "redis".into(),
        child,
    };
    wait_until("redis-server", Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    })?;
    Ok((child, port))
}

/// The configuration of one node.
pub fn node_config(redis_port: u16, port: u16, max_connections: u64) -> String {
    format!(
        r#"# Written by the redis_scaleout harness.
engine = "redis"
redis_url = "redis://127.0.0.1:{redis_port}"
redis_prefix = "scaleout"
bind = "127.0.0.1"
port = {port}
# The load generator does not answer heartbeats; a run lasts minutes.
heartbeat_timeout = "10m"

[limits]
max_connections = {max_connections}

[log]
level = "warn"
"#
    )
}

/// Starts `wavecast serve` node `i` (config and log under `dir`); returns
/// it and its port once `/ready` answers 200.
pub fn start_node(
    bin: &Path,
    dir: &Path,
    i: usize,
    redis_port: u16,
    max_connections: u64,
) -> Result<(Child, u16), String> {
    let port = free_port()?;
    let config = dir.join(format!("node{i}.toml"));
    std::fs::write(&config, node_config(redis_port, port, max_connections))
        .map_err(|e| format!("write {}: {e}", config.display()))?;
    let log = std::fs::File::create(dir.join(format!("node{i}.log")))
        .map_err(|e| format!("node log: {e}"))?;
    let log2 = log.try_clone().map_err(|e| format!("node log: {e}"))?;
    let mut cmd = Command::new(bin);
    cmd.arg("serve").arg("--config").arg(&config);
    // Only the file configures the node.
    for (k, _) in std::env::vars() {
        if k.starts_with("WAVECAST_") || k.starts_with("WEBSOCKET_") || k.starts_with("MFN_") {
            cmd.env_remove(k);
        }
    }
    let child = cmd
        .stdout(log)
        .stderr(log2)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let mut child = Child {
        name: format!("node{i}"),
        child,
    };
    wait_until(&format!("node {i}"), Duration::from_secs(30), || {
        if let Ok(Some(status)) = child.child.try_wait() {
            eprintln!("node {i} exited: {status}");
            return true;
        }
        http_get_status(port, "/ready") == Some(200)
    })?;
    if let Ok(Some(status)) = child.child.try_wait() {
        return Err(format!(
            "node {i} exited with {status}; see {}",
            dir.join(format!("node{i}.log")).display()
        ));
    }
    Ok((child, port))
}

/// The status of a plain `GET`, or `None` when nothing answers.
pub fn http_get_status(port: u16, path: &str) -> Option<u16> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// The `wavecast` binary beside this example (`target/release/wavecast`).
pub fn default_wavecast_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    dir.join("wavecast")
}

/// User + system CPU ticks of a process.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may hold spaces: state is
    // field 3, utime 14 and stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The resident set of a process, in KiB.
pub fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// (busy, total) ticks of the whole machine, all CPUs.
pub fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// The 1-minute load average.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split(' ').next().map(String::from))
        .unwrap_or_default()
}

/// CPUs online.
pub fn cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}
