//! The configuration as a user meets it, through the real binary: the text
//! of each kind of error (`wavecast: <origin>: <key> = <value>: <what is
//! allowed>`, never a parser's internals), a malformed `redis_url` refused,
//! an unknown `WAVECAST_*` variable only warned about, `[streams]` accepted
//! in a file, `[log] format = "text"` without colour codes when stderr is a
//! file, and `/ready` (and `wavecast ready`) answering 503 while Redis is
//! down.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{run_env, stderr, BIN};
use serde_json::Value;

const BOUND: Duration = Duration::from_secs(20);

fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = wavecast_testkit::temp_dir("cfg");
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

/// `wavecast config -c FILE` with `text` in the file: (exit code, stderr).
fn config_with(text: &str, envs: &[(&str, &str)]) -> (Option<i32>, String) {
    let f = temp_file("wavecast.toml", text);
    let out = run_env(&["config", "-c", &f.to_string_lossy()], envs, BOUND);
    let _ = std::fs::remove_dir_all(f.parent().expect("dir"));
    (
        out.status.code(),
        stderr(&out).replace(&*f.to_string_lossy(), "FILE"),
    )
}

#[test]
fn errors_name_the_origin_key_value_and_what_is_allowed() {
    let cases = [
        (
            "[limits]\nmax_conections = 5\n",
            "wavecast: FILE: unknown key limits.max_conections; did you mean limits.max_connections?\n",
        ),
        (
            "[streams]\nmax_runing = 3\n",
            "wavecast: FILE: unknown key streams.max_runing; did you mean streams.max_running?\n",
        ),
        (
            "[history]\nhistory_size = 100000\n",
            "wavecast: FILE: unknown key history.history_size; did you mean namespaces.default.history_size? (each namespace has its own; [namespaces.default] applies to channels without one)\n",
        ),
        (
            "port = \"x\"\n",
            "wavecast: FILE: port = \"x\": expected a whole number from 0 to 65535\n",
        ),
        (
            "redis_url = \"localhost:6379\"\n",
            "wavecast: FILE: redis_url = \"localhost:6379\": not a URL; write redis://[user:password@]host:port[/db], or rediss://… for TLS\n",
        ),
        (
            "redis_url = \"redis://:hunter2@cache\"\n",
            "wavecast: FILE: redis_url = \"redis://:[redacted]@cache\": no port (Redis usually listens on 6379); write redis://[user:password@]host:port[/db], or rediss://… for TLS\n",
        ),
        (
            "metrics_prefix = \"9x\"\n",
            "wavecast: FILE: metrics_prefix = \"9x\": a Prometheus name: letters, digits and _, not starting with a digit (or empty for none)\n",
        ),
        (
            "[log]\nformat = \"pretty\"\n",
            "wavecast: FILE: log.format = \"pretty\": use json or text\n",
        ),
        (
            "[auth]\napi_keys = \"sekrit\"\n",
            "wavecast: FILE: auth.api_keys = \"[redacted]\": expected a list\n",
        ),
        (
            "heartbeat_interval = \"5 parsecs\"\n",
            "wavecast: FILE: heartbeat_interval = \"5 parsecs\": invalid duration: unknown unit \"parsecs\"; use ms, s, m, h or d\n",
        ),
    ];
    for (file, want) in cases {
        let (code, err) = config_with(file, &[]);
        assert_eq!(code, Some(1), "{file}");
        assert_eq!(err, want, "{file}");
        for internal in ["figment", "serde", "invalid type", "Error {", "struct "] {
            assert!(!err.contains(internal), "{err}");
        }
    }
    // An environment variable is named as the origin.
    let out = run_env(&["config"], &[("WAVECAST_REDIS_URL", "redis://h")], BOUND);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out)
            .starts_with("wavecast: WAVECAST_REDIS_URL: redis_url = \"redis://h\": no port"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn streams_section_and_unknown_variables() {
    let (code, err) = config_with(
        "[streams]\nmax_running = 3\n[[streams.rooms]]\nchannel = \"sim:demo\"\ninterval = \"500ms\"\n[streams.rooms.params]\ngrid_size = 32\n",
        &[],
    );
    assert_eq!(code, Some(0), "{err}");
    // An unknown WAVECAST_ variable is a warning; the value is never shown.
    let out = run_env(
        &["config"],
        &[("WAVECAST_HEARTBEAT_INTERVALL", "secret-looking-3s")],
        BOUND,
    );
    assert!(out.status.success());
    let err = stderr(&out);
    assert_eq!(
        err,
        "wavecast: warning: WAVECAST_HEARTBEAT_INTERVALL is ignored: no such setting; did you mean WAVECAST_HEARTBEAT_INTERVAL?\n"
    );
    let cfg: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(cfg["heartbeat_interval"], "30s");
    // ... and serve starts with it, logging the warning.
    let log = serve_log(&[("WAVECAST_HEARTBEAT_INTERVALL", "4242s")]);
    assert!(
        log.contains("WAVECAST_HEARTBEAT_INTERVALL is ignored: no such setting"),
        "{log}"
    );
    assert!(!log.contains("4242"), "the value was logged: {log}");
}

/// `serve --port 0` (the OS picks a free port) with `envs`, its stderr in
/// a file; returns what it logged until it listened, then stops it.
fn serve_log(envs: &[(&str, &str)]) -> String {
    let log = temp_file("serve.log", "");
    let data = log.with_extension("data");
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--port", "0"])
        .env_remove("WAVECAST_CONFIG")
        .env_remove("NO_COLOR")
        .env("WAVECAST_DATA_DIR", &data)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"));
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("serve");
    let deadline = Instant::now() + BOUND;
    let mut text = String::new();
    while !text.contains("wavecast listening") {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("serve exited with {status}: {text}");
        }
        assert!(Instant::now() < deadline, "no start line: {text}");
        std::thread::sleep(Duration::from_millis(50));
        text.clear();
        let _ = std::fs::File::open(&log).and_then(|mut f| f.read_to_string(&mut text));
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(log.parent().expect("dir"));
    text
}

#[test]
fn text_logs_carry_no_colour_codes_into_a_file() {
    let text = serve_log(&[("WAVECAST_LOG__FORMAT", "text")]);
    assert!(!text.contains('\u{1b}'), "ANSI codes in the log: {text:?}");
    assert!(text.contains("INFO"), "{text}");
}

/// A redis-server on a given port, killed on drop (also when a test
/// fails), so that the test can stop it and start it again on that port.
struct Redis(std::process::Child);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn redis_on(port: u16, dir: &std::path::Path) -> Redis {
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(["--appendonly", "no", "--dir"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server must be installed (apt-get install redis-server)");
    let child = Redis(child);
    let deadline = Instant::now() + BOUND;
    while !wavecast_testkit::listening(port) {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

/// Polls `/ready` until it answers `status` (bounded); returns the body.
fn ready_becomes(port: u16, status: u16) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (got, body) = common::http(port, "GET", "/ready", "");
        if got == status {
            return serde_json::from_str(&body).expect("ready body is JSON");
        }
        assert!(Instant::now() < deadline, "/ready stayed {got}: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn ready_during_a_redis_outage() {
    let dir = wavecast_testkit::temp_dir("ready-redis");
    let port = common::free_port();
    let redis = redis_on(port, &dir);
    let url = format!("redis://127.0.0.1:{port}");
    let srv = common::start(&[("WAVECAST_ENGINE", "redis"), ("WAVECAST_REDIS_URL", &url)]);
    assert_eq!(ready_becomes(srv.port, 200)["status"], "ready");

    let up = common::run(&["ready", "--server", &srv.url()], BOUND);
    assert!(up.status.success(), "{}", stderr(&up));
    drop(redis);
    let down = ready_becomes(srv.port, 503);
    assert_eq!(down["status"], "engine_unavailable", "{down}");
    assert_eq!(down["engine"], "redis", "{down}");
    // The container health check says so too.
    let check = common::run(&["ready", "--server", &srv.url()], BOUND);
    assert_eq!(check.status.code(), Some(1));
    assert!(
        stderr(&check).contains("not ready: engine_unavailable (HTTP 503)"),
        "{}",
        stderr(&check)
    );
    // /health still answers: the process is up, only not ready.
    assert!(common::http_get(srv.port, "/health").contains("ok"));

    let redis = redis_on(port, &dir);
    assert_eq!(ready_becomes(srv.port, 200)["status"], "ready");
    // And publishing works again.
    let r = common::publish(&srv, "after", "1");
    assert_eq!(r["offset"], 1, "{r}");
    drop(redis);
    let _ = std::fs::remove_dir_all(&dir);
}
