//! The binary over TLS: `serve` with `[tls]` (from the environment),
//! `sub` and `pub` against `https://` with `--ca-file`, a SIGHUP that
//! swaps the certificate, and a bad certificate refused at startup.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use wavecast_testkit::{temp_dir, TestCert};

mod common;

use common::BIN;

fn tls_env(cert: &TestCert) -> [(&'static str, String); 2] {
    [
        (
            "WAVECAST_TLS__CERT_FILE",
            cert.cert_file.display().to_string(),
        ),
        (
            "WAVECAST_TLS__KEY_FILE",
            cert.key_file.display().to_string(),
        ),
    ]
}

/// `wavecast pub secure DATA --server SERVER --ca-file CA`.
fn pub_with(server: &str, data: &str, ca: &str) -> std::process::Output {
    common::run(
        &["pub", "secure", data, "--server", server, "--ca-file", ca],
        Duration::from_secs(20),
    )
}

#[test]
fn sub_and_pub_over_tls_then_sighup_swaps_the_certificate() {
    let dir = temp_dir("cli-tls");
    let a = TestCert::generate(&dir, "a");
    let b = TestCert::generate(&dir, "b");
    let env = tls_env(&a);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let srv = common::start(&env);
    let server = format!("https://localhost:{}", srv.port);
    let ca_a = a.cert_file.display().to_string();
    let mut sub = Command::new(BIN)
        .args([
            "sub",
            "secure",
            "--count",
            "1",
            "--server",
            &server,
            "--ca-file",
            &ca_a,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn sub");
    let mut lines = BufReader::new(sub.stdout.take().expect("stdout")).lines();
    loop {
        let line = lines.next().expect("sub ended early").expect("line");
        let v: Value = serde_json::from_str(&line).expect("JSON line");
        if v["type"] == "subscribe_success" {
            break;
        }
    }
    let out = pub_with(&server, r#"{"over":"tls"}"#, &ca_a);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = lines.next().expect("a delivery").expect("line");
    let v: Value = serde_json::from_str(&line).expect("JSON line");
    assert_eq!(v["data"]["over"], "tls", "{v}");
    assert!(sub.wait().expect("sub exit").success());

    // Keep the key file name, swap the pair, and signal the server.
    let save = a.cert_file.with_extension("old");
    std::fs::copy(&a.cert_file, &save).expect("keep a");
    b.write_to(&a.cert_file, &a.key_file);
    let hup = Command::new("kill")
        .args(["-HUP", &srv.pid().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(hup.success());
    let ca_b = b.cert_file.display().to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let out = pub_with(&server, "1", &ca_b);
        if out.status.success() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the new certificate never served"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The old CA no longer matches.
    let out = pub_with(&server, "2", &save.display().to_string());
    assert!(!out.status.success());
}

#[test]
fn a_bad_certificate_stops_serve_with_a_clear_error() {
    let dir = temp_dir("cli-tls-bad");
    let a = TestCert::generate(&dir, "a");
    std::fs::write(&a.cert_file, "garbage").expect("write");
    let out = Command::new(BIN)
        .args(["serve", "--port", "0"])
        .env("WAVECAST_TLS__CERT_FILE", &a.cert_file)
        .env("WAVECAST_TLS__KEY_FILE", &a.key_file)
        .env("WAVECAST_DATA_DIR", dir.join("data"))
        .env_remove("WAVECAST_CONFIG")
        .output()
        .expect("serve");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tls.cert_file"), "{err}");
    assert!(err.contains("no PEM certificate"), "{err}");
}
