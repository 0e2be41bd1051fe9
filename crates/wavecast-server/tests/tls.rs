//! Native TLS over real sockets: `wss://` and `https://` on one port, a
//! certificate reloaded (on a file change and on SIGHUP) while an open
//! connection keeps working, and clear startup errors for bad files.

use std::time::Duration;

use serde_json::{json, Value};
use wavecast_server::{Config, Server};
use wavecast_testkit::tls::{https_request, wss_connect};
use wavecast_testkit::{temp_dir, TestCert, TestServer, WsClient, WAIT};

/// Publishes over https and returns the answer.
async fn publish(srv: &TestServer, certs: &[&TestCert], channel: &str, data: Value) -> Value {
    let body = json!({"channel": channel, "data": data}).to_string();
    let (status, answer) = https_request(srv.addr, "POST", "/api/publish", &body, certs)
        .await
        .expect("https publish");
    assert_eq!(status, 200, "{answer}");
    serde_json::from_str(&answer).expect("JSON answer")
}

/// `/metrics`, over https.
async fn metrics(srv: &TestServer, cert: &TestCert) -> String {
    let (status, text) = https_request(srv.addr, "GET", "/metrics", "", &[cert])
        .await
        .expect("https metrics");
    assert_eq!(status, 200);
    text
}

/// A subscribed wss client, and the certificate the server presented.
async fn subscriber(srv: &TestServer, certs: &[&TestCert], channel: &str) -> (WsClient, Vec<u8>) {
    let (ws, presented) = wss_connect(srv.addr, "/ws", certs).await.expect("wss");
    let mut c = WsClient::over(ws);
    assert_eq!(c.recv().await["type"], "connection_established");
    let r = c
        .call(json!({"type": "subscribe", "channels": [channel]}))
        .await;
    assert_eq!(r["type"], "subscribe_success", "{r}");
    (c, presented.to_vec())
}

/// Waits until a new connection is shown `want`.
async fn until_presented(srv: &TestServer, certs: &[&TestCert], want: &TestCert) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (_ws, presented) = wss_connect(srv.addr, "/ws", certs).await.expect("wss");
        if presented == want.der {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new certificate never appeared"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn wss_and_https_share_the_port() {
    let dir = temp_dir("tls-port");
    let a = TestCert::generate(&dir, "a");
    let srv = TestServer::start(&a.toml("10s")).await;
    let (mut sub, presented) = subscriber(&srv, &[&a], "news").await;
    assert_eq!(presented, a.der.to_vec());
    let answer = publish(&srv, &[&a], "news", json!({"headline": "over TLS"})).await;
    assert_eq!(answer["delivered"], 1, "{answer}");
    let p = sub.recv().await;
    assert_eq!(p["type"], "publication", "{p}");
    assert_eq!(p["data"]["headline"], "over TLS");
    // Plain HTTP on the TLS port gets no answer.
    let (status, _) = srv
        .raw_http(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    assert_ne!(status, 200);
}

#[tokio::test]
async fn a_changed_file_reloads_and_open_connections_survive() {
    let dir = temp_dir("tls-reload");
    let a = TestCert::generate(&dir, "a");
    let b = TestCert::generate(&dir, "b");
    let srv = TestServer::start(&a.toml("50ms")).await;
    let (mut old, presented) = subscriber(&srv, &[&a, &b], "news").await;
    assert_eq!(presented, a.der.to_vec());

    b.write_to(&a.cert_file, &a.key_file);
    until_presented(&srv, &[&a, &b], &b).await;

    // The connection opened under the old certificate still works.
    publish(&srv, &[&b], "news", json!({"n": 1})).await;
    let p = old.recv().await;
    assert_eq!(p["data"]["n"], 1, "{p}");
    let metrics = metrics(&srv, &b).await;
    assert!(
        metrics.contains("wavecast_tls_reloads_total{result=\"success\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_bad_new_file_keeps_the_old_certificate() {
    let dir = temp_dir("tls-bad-reload");
    let a = TestCert::generate(&dir, "a");
    let srv = TestServer::start(&a.toml("50ms")).await;
    std::fs::write(&a.cert_file, "not a certificate").expect("write");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let metrics = metrics(&srv, &a).await;
        if metrics.contains("wavecast_tls_reloads_total{result=\"failure\"} 1") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no failed reload counted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_ws, presented) = wss_connect(srv.addr, "/ws", &[&a]).await.expect("wss");
    assert_eq!(presented, a.der);
}

#[tokio::test]
async fn sighup_reloads() {
    let dir = temp_dir("tls-hup");
    let a = TestCert::generate(&dir, "a");
    let b = TestCert::generate(&dir, "b");
    // Polling is too slow to matter here: only the signal reloads.
    let srv = TestServer::start(&a.toml("1h")).await;
    let (_ws, presented) = wss_connect(srv.addr, "/ws", &[&a, &b]).await.expect("wss");
    assert_eq!(presented, a.der);
    b.write_to(&a.cert_file, &a.key_file);
    let status = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    until_presented(&srv, &[&a, &b], &b).await;
}

async fn startup_error(toml: &str) -> String {
    let mut cfg = Config::from_toml_str(toml).expect("config");
    cfg.port = 0;
    cfg.bind = [127, 0, 0, 1].into();
    match Server::bind(cfg).await {
        Ok(_) => panic!("the server started with {toml}"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn bad_files_are_clear_startup_errors() {
    let dir = temp_dir("tls-bad");
    let a = TestCert::generate(&dir, "a");
    let b = TestCert::generate(&dir, "b");
    let missing = dir.join("missing.crt");
    let e = startup_error(&format!(
        "[tls]\ncert_file = {:?}\nkey_file = {:?}\n",
        missing.display().to_string(),
        a.key_file.display().to_string()
    ))
    .await;
    assert!(e.starts_with("tls.cert_file"), "{e}");
    assert!(e.contains("missing.crt"), "{e}");

    let garbage = dir.join("garbage.crt");
    std::fs::write(&garbage, "hello").expect("write");
    let e = startup_error(&format!(
        "[tls]\ncert_file = {:?}\nkey_file = {:?}\n",
        garbage.display().to_string(),
        a.key_file.display().to_string()
    ))
    .await;
    assert!(e.contains("no PEM certificate"), "{e}");

    let e = startup_error(&format!(
        "[tls]\ncert_file = {:?}\nkey_file = {:?}\n",
        a.cert_file.display().to_string(),
        a.cert_file.display().to_string()
    ))
    .await;
    assert!(e.starts_with("tls.key_file"), "{e}");

    let e = startup_error(&format!(
        "[tls]\ncert_file = {:?}\nkey_file = {:?}\n",
        a.cert_file.display().to_string(),
        b.key_file.display().to_string()
    ))
    .await;
    assert!(e.contains("do not make a usable pair"), "{e}");

    let only_cert = format!(
        "[tls]\ncert_file = {:?}\n",
        a.cert_file.display().to_string()
    );
    let e = Config::from_toml_str(&only_cert).expect_err("half a pair");
    assert!(e.to_string().contains("tls.key_file"), "{e}");
}
