//! `wavecast doctor`: checks what `serve` would meet before it starts —
//! the configuration (file, environment, validation), the JWT key files,
//! `origins.allowed`, the history engine (Redis reachable and answering
//! PING, or `data_dir` writable), the listen address, and the open-file
//! limit against `limits.max_connections` — and prints one line per
//! finding.
//!
//! Invariants: doctor changes nothing (it creates no directory and leaves
//! no file behind); it never prints a secret; every network check is
//! bounded in time; it exits 1 when a check failed, 0 when there are only
//! warnings.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use wavecast_server::auth::origin::OriginPolicy;
use wavecast_server::auth::Authenticator;
use wavecast_server::config::{EngineKind, Environment, RedisUrl};
use wavecast_server::Config;

/// The longest a network check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// Files the server keeps open besides connections (listeners, logs,
/// stores): the same reserve `serve` takes off the open-file limit.
const RESERVED_FILES: u64 = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Ok,
    Warn,
    Fail,
}

/// One line of the report.
struct Finding {
    level: Level,
    topic: &'static str,
    text: String,
}

#[derive(Default)]
struct Report {
    findings: Vec<Finding>,
}

impl Report {
    fn add(&mut self, level: Level, topic: &'static str, text: impl Into<String>) {
        self.findings.push(Finding {
            level,
            topic,
            text: text.into(),
        });
    }

    fn print(&self) {
        for f in &self.findings {
            let tag = match f.level {
                Level::Ok => "ok  ",
                Level::Warn => "warn",
                Level::Fail => "FAIL",
            };
            println!("{tag}  {:<11} {}", f.topic, f.text);
        }
    }

    fn count(&self, level: Level) -> usize {
        self.findings.iter().filter(|f| f.level == level).count()
    }
}

pub async fn run(
    file: Option<&Path>,
    bind: Option<IpAddr>,
    port: Option<u16>,
) -> Result<(), String> {
    let mut report = Report::default();
    match Config::load_reporting(file) {
        Err(e) => report.add(Level::Fail, "config", e.to_string()),
        Ok(loaded) => {
            let mut cfg = loaded.config;
            cfg.bind = bind.unwrap_or(cfg.bind);
            cfg.port = port.unwrap_or(cfg.port);
            let source = match file {
                Some(f) => format!("{} is valid", f.display()),
                None => "no file: built-in defaults and the environment".into(),
            };
            report.add(
                Level::Ok,
                "config",
                format!(
                    "{source} (env = {}, engine = {})",
                    cfg.env.as_str(),
                    cfg.engine.as_str()
                ),
            );
            for w in loaded.warnings {
                report.add(Level::Warn, "config", w.to_string());
            }
            check_config(&cfg, &mut report).await;
        }
    }
    report.print();
    let (fails, warns) = (report.count(Level::Fail), report.count(Level::Warn));
    println!(
        "{fails} problem{}, {warns} warning{}",
        plural(fails),
        plural(warns)
    );
    if fails > 0 {
        Err(format!(
            "doctor found {fails} problem{} that would stop or break the server",
            plural(fails)
        ))
    } else {
        Ok(())
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

async fn check_config(cfg: &Config, report: &mut Report) {
    check_auth(cfg, report);
    check_origins(cfg, report);
    match cfg.engine {
        EngineKind::Redis => check_redis(&cfg.redis_url, report).await,
        EngineKind::Embedded => check_data_dir(&cfg.data_dir, report),
        EngineKind::Memory => report.add(
            Level::Ok,
            "engine",
            "memory: history is lost when the server stops",
        ),
    }
    check_listen(cfg, report);
    check_open_files(cfg.limits.max_connections, open_file_limit(), report);
}

fn check_auth(cfg: &Config, report: &mut Report) {
    let a = &cfg.auth;
    if let Err(e) = Authenticator::new(a) {
        report.add(Level::Fail, "keys", e.to_string());
        return;
    }
    let mut have = Vec::new();
    if !a.api_keys.is_empty() {
        have.push(format!("{} API key(s)", a.api_keys.len()));
    }
    if !a.keys.is_empty() {
        have.push(format!("{} named key(s)", a.keys.len()));
    }
    if !a.jwt_secret.is_empty() {
        have.push("a JWT secret".into());
    }
    if !a.jwt_public_key_file.is_empty() {
        have.push(format!("the JWT public key {}", a.jwt_public_key_file));
    }
    if !a.jwks_file.is_empty() {
        have.push(format!("the JWKS {}", a.jwks_file));
    }
    let creds = if have.is_empty() {
        "no client credentials".to_string()
    } else {
        have.join(", ")
    };
    let mode = if a.require_auth {
        "every connection must authenticate"
    } else {
        "anonymous connections are admitted"
    };
    report.add(Level::Ok, "auth", format!("{mode}; {creds}"));
    if cfg.http.api_key.is_empty() && (cfg.env != Environment::Dev || !cfg.bind.is_loopback()) {
        report.add(
            Level::Warn,
            "http",
            "http.api_key is empty: the server API (/api/*) answers loopback clients only; behind a reverse proxy on this host every request is loopback (see docs/deployment.md)",
        );
    }
}

fn check_origins(cfg: &Config, report: &mut Report) {
    if let Err(e) = OriginPolicy::new(&cfg.origins, cfg.env) {
        report.add(Level::Fail, "origins", e);
        return;
    }
    let allowed = &cfg.origins.allowed;
    let text = if allowed.iter().any(|o| o.trim() == "*") {
        "every Origin may connect (\"*\")".to_string()
    } else if allowed.is_empty() && cfg.env == Environment::Dev {
        "env = dev with an empty list: every Origin may connect".to_string()
    } else if allowed.is_empty() {
        "no browser Origin may connect (only clients that send no Origin)".to_string()
    } else {
        format!("allowed: {}", allowed.join(", "))
    };
    report.add(Level::Ok, "origins", text);
}

/// Connects to Redis, logs in if the URL says so, and sends PING.
async fn check_redis(url: &str, report: &mut Report) {
    let parsed: RedisUrl = match url.parse() {
        Ok(u) => u,
        Err(e) => {
            report.add(Level::Fail, "redis", format!("redis_url: {e}"));
            return;
        }
    };
    let addr = parsed.address();
    match tokio::time::timeout(CHECK_TIMEOUT, redis_ping(&parsed)).await {
        Err(_) => report.add(
            Level::Fail,
            "redis",
            format!("{addr} did not answer within {} s", CHECK_TIMEOUT.as_secs()),
        ),
        Ok(Err(e)) => report.add(Level::Fail, "redis", format!("{addr}: {e}")),
        Ok(Ok(note)) => report.add(Level::Ok, "redis", format!("{addr} {note}")),
    }
}

fn resp(parts: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", parts.len()).into_bytes();
    for p in parts {
        out.extend_from_slice(format!("${}\r\n{p}\r\n", p.len()).as_bytes());
    }
    out
}

async fn redis_ping(url: &RedisUrl) -> Result<String, String> {
    let stream = tokio::net::TcpStream::connect(url.address())
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    if url.tls {
        return Ok("is reachable (TLS: the login and PING were not checked)".into());
    }
    let mut s = BufReader::new(stream);
    let mut line = String::new();
    if let Some(pw) = &url.password {
        let cmd = match &url.username {
            Some(u) => resp(&["AUTH", u, pw]),
            None => resp(&["AUTH", pw]),
        };
        s.get_mut()
            .write_all(&cmd)
            .await
            .map_err(|e| e.to_string())?;
        s.read_line(&mut line).await.map_err(|e| e.to_string())?;
        if !line.starts_with('+') {
            return Err(format!("AUTH refused: {}", line.trim()));
        }
        line.clear();
    }
    s.get_mut()
        .write_all(&resp(&["PING"]))
        .await
        .map_err(|e| e.to_string())?;
    s.read_line(&mut line).await.map_err(|e| e.to_string())?;
    match line.trim() {
        "+PONG" => Ok("answers PING".into()),
        other if other.starts_with("-NOAUTH") => {
            Err("Redis wants a password: write redis://:password@host:port".into())
        }
        other => Err(format!("unexpected answer to PING: {other}")),
    }
}

/// `data_dir` exists and is writable, or can be created.
fn check_data_dir(dir: &Path, report: &mut Report) {
    let shown = dir.display();
    if dir.is_dir() {
        let probe = dir.join(format!(".wavecast-doctor-{}", std::process::id()));
        match std::fs::write(&probe, b"") {
            Ok(()) => {
                let _ = std::fs::remove_file(&probe);
                report.add(
                    Level::Ok,
                    "data_dir",
                    format!("{shown} is writable (embedded history; one process per directory)"),
                );
            }
            Err(e) => report.add(
                Level::Fail,
                "data_dir",
                format!("{shown} is not writable: {e}"),
            ),
        }
        return;
    }
    if dir.exists() {
        report.add(
            Level::Fail,
            "data_dir",
            format!("{shown} exists and is not a directory"),
        );
        return;
    }
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let writable = std::fs::metadata(parent).is_ok_and(|m| !m.permissions().readonly());
    if writable {
        report.add(
            Level::Ok,
            "data_dir",
            format!("{shown} does not exist yet; serve will create it"),
        );
    } else {
        report.add(
            Level::Fail,
            "data_dir",
            format!(
                "{shown} does not exist and {} is not writable",
                parent.display()
            ),
        );
    }
}

/// Whether the address is free to listen on.
fn check_listen(cfg: &Config, report: &mut Report) {
    let addr = SocketAddr::new(cfg.bind, cfg.port);
    match std::net::TcpListener::bind(addr) {
        Ok(_) => report.add(Level::Ok, "listen", format!("{addr} is free")),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => report.add(
            Level::Warn,
            "listen",
            format!("{addr} is in use: is a server already running there?"),
        ),
        Err(e) => report.add(
            Level::Fail,
            "listen",
            format!("cannot listen on {addr}: {e}"),
        ),
    }
}

/// The soft limit on open files of this process (Linux), if known.
fn open_file_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Each connection holds one file: `max_connections` plus the reserve must
/// fit under the soft open-file limit.
fn check_open_files(max_connections: usize, soft: Option<u64>, report: &mut Report) {
    let Some(soft) = soft else {
        report.add(
            Level::Warn,
            "open files",
            "the open-file limit cannot be read here (not Linux?)",
        );
        return;
    };
    let room = soft.saturating_sub(RESERVED_FILES).max(64);
    let note = "this shell's limit; a systemd unit sets its own with LimitNOFILE=";
    if max_connections == 0 {
        report.add(
            Level::Ok,
            "open files",
            format!(
                "limit {soft}: limits.max_connections = 0 means about {room} connections ({note})"
            ),
        );
    } else if max_connections as u64 > room {
        report.add(
            Level::Warn,
            "open files",
            format!(
                "limits.max_connections = {max_connections} but the open-file limit is {soft}: past about {room} connections accepts fail with \"too many open files\"; raise the limit (ulimit -n; LimitNOFILE= in a systemd unit) or lower max_connections"
            ),
        );
    } else {
        report.add(
            Level::Ok,
            "open files",
            format!("limit {soft} covers limits.max_connections = {max_connections} ({note})"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_files_against_max_connections() {
        let mut r = Report::default();
        check_open_files(20_000, Some(1024), &mut r);
        check_open_files(500, Some(1024), &mut r);
        check_open_files(0, Some(1024), &mut r);
        let levels: Vec<Level> = r.findings.iter().map(|f| f.level).collect();
        assert_eq!(levels, vec![Level::Warn, Level::Ok, Level::Ok]);
        assert!(
            r.findings[0].text.contains("about 768"),
            "{}",
            r.findings[0].text
        );
    }

    #[test]
    fn resp_encoding() {
        assert_eq!(resp(&["PING"]), b"*1\r\n$4\r\nPING\r\n");
    }
}
