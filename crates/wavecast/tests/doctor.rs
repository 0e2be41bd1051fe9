//! `wavecast doctor` against real files and a real redis-server: a sound
//! configuration passes (exit 0); a missing key file, an origin that is not
//! an origin and an unreachable Redis are each reported as a problem
//! (exit 1); more `max_connections` than the open-file limit allows is a
//! warning.

mod common;

use std::time::Duration;

use common::{run_env, stderr};
use wavecast_testkit::RedisProcess;

const BOUND: Duration = Duration::from_secs(20);

fn doctor(envs: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let port = common::free_port().to_string();
    let out = run_env(&["doctor", "--port", &port], envs, BOUND);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr(&out),
    )
}

/// The report line about `topic`.
fn line<'a>(report: &'a str, topic: &str) -> &'a str {
    report
        .lines()
        .find(|l| l.get(6..).is_some_and(|rest| rest.starts_with(topic)))
        .unwrap_or_else(|| panic!("no {topic} line in:\n{report}"))
}

#[test]
fn a_sound_configuration_passes() {
    let redis = RedisProcess::start(false);
    let dir = wavecast_testkit::temp_dir("doctor-ok");
    let (code, out, err) = doctor(&[
        ("WAVECAST_ENGINE", "redis"),
        ("WAVECAST_REDIS_URL", &redis.url()),
        ("WAVECAST_DATA_DIR", &dir.to_string_lossy()),
        ("WAVECAST_LIMITS__MAX_CONNECTIONS", "1000"),
    ]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(line(&out, "config").starts_with("ok "), "{out}");
    assert!(line(&out, "redis").contains("answers PING"), "{out}");
    assert!(line(&out, "open files").starts_with("ok "), "{out}");
    assert!(out.trim_end().ends_with("0 problems, 0 warnings"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn problems_are_reported_one_by_one() {
    let dead = common::free_port();
    let url = format!("redis://127.0.0.1:{dead}");
    let (code, out, err) = doctor(&[
        ("WAVECAST_ENGINE", "redis"),
        ("WAVECAST_REDIS_URL", &url),
        ("WAVECAST_JWT_PUBLIC_KEY_FILE", "/nonexistent/wavecast.pem"),
        ("WAVECAST_ORIGINS__ALLOWED", "app.example.com"),
        ("WAVECAST_LIMITS__MAX_CONNECTIONS", "5000000"),
    ]);
    assert_eq!(code, Some(1), "{out}{err}");
    let keys = line(&out, "keys");
    assert!(
        keys.starts_with("FAIL") && keys.contains("/nonexistent/wavecast.pem"),
        "{out}"
    );
    let origins = line(&out, "origins");
    assert!(
        origins.starts_with("FAIL") && origins.contains("\"app.example.com\""),
        "{out}"
    );
    let redis = line(&out, "redis");
    assert!(
        redis.starts_with("FAIL") && redis.contains("cannot connect"),
        "{out}"
    );
    let files = line(&out, "open files");
    assert!(
        files.starts_with("warn") && files.contains("5000000"),
        "{out}"
    );
    assert!(out.contains("3 problems, 1 warning"), "{out}");
    assert!(err.contains("doctor found 3 problems"), "{err}");

    // A configuration that does not load is one problem, with its text.
    let (code, out, _) = doctor(&[("WAVECAST_PORT", "eighty")]);
    assert_eq!(code, Some(1));
    assert!(
        line(&out, "config").contains("WAVECAST_PORT: port = \"eighty\""),
        "{out}"
    );
}
