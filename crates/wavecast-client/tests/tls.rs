//! The client over TLS against a real in-process server: `wss://`
//! subscriptions and `https://` publishing trusting a CA file, and clear
//! errors for an untrusted server or an unusable CA file.

mod common;

use std::time::Duration;

use common::{next_event, temp_dir, TestServer, WAIT};
use serde_json::json;
use wavecast_client::{Client, ClientConfig, Error, HttpApi, SubEvent};
use wavecast_testkit::TestCert;

fn https(srv: &TestServer) -> String {
    format!("https://localhost:{}", srv.addr.port())
}

#[tokio::test]
async fn wss_subscriber_receives_what_https_publishes() {
    let dir = temp_dir("client-tls");
    let cert = TestCert::generate(&dir, "server");
    let srv = TestServer::start(&cert.toml("10s")).await;
    let cfg = ClientConfig::new(&https(&srv))
        .ca_file(&cert.cert_file)
        .connect_timeout(WAIT);
    assert!(cfg.url.starts_with("wss://"), "{}", cfg.url);
    let client = Client::connect(cfg).await.expect("wss connect");
    let mut news = client.subscribe("news").await.expect("subscribe");
    assert!(news.confirmed().is_some());

    let api = HttpApi::with_ca_file(&https(&srv), None, Some(&cert.cert_file)).expect("api");
    let published = api
        .publish("news", None, &json!({"headline": "encrypted"}))
        .await
        .expect("https publish");
    assert_eq!(published.delivered, 1);
    match next_event(&mut news).await {
        SubEvent::Publication(p) => assert_eq!(p.data["headline"], "encrypted"),
        other => panic!("expected a publication, got {other:?}"),
    }
    let history = api.history("news", None).await.expect("https history");
    assert_eq!(history["publications"][0]["data"]["headline"], "encrypted");
}

#[tokio::test]
async fn an_untrusted_server_is_refused() {
    let dir = temp_dir("client-tls-untrusted");
    let cert = TestCert::generate(&dir, "server");
    let other = TestCert::generate(&dir, "other");
    let srv = TestServer::start(&cert.toml("10s")).await;
    let cfg = ClientConfig::new(&https(&srv))
        .ca_file(&other.cert_file)
        .reconnect(false)
        .connect_timeout(Duration::from_secs(5));
    let err = Client::connect(cfg).await.expect_err("untrusted");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );

    let api = HttpApi::with_ca_file(&https(&srv), None, Some(&other.cert_file)).expect("api");
    let err = api.history("news", None).await.expect_err("untrusted");
    assert!(matches!(err, Error::Connect(_)), "{err}");
}

#[tokio::test]
async fn an_unusable_ca_file_is_a_config_error() {
    let dir = temp_dir("client-tls-ca");
    let missing = dir.join("missing.pem");
    let err =
        HttpApi::with_ca_file("https://localhost:1", None, Some(&missing)).expect_err("missing");
    assert!(
        matches!(err, Error::InvalidConfig(ref m) if m.contains("missing.pem")),
        "{err}"
    );
    let empty = dir.join("empty.pem");
    std::fs::write(&empty, "").expect("write");
    let cfg = ClientConfig::new("wss://localhost:1")
        .ca_file(&empty)
        .reconnect(false);
    let err = Client::connect(cfg).await.expect_err("empty CA file");
    assert!(
        matches!(err, Error::InvalidConfig(ref m) if m.contains("no PEM certificate")),
        "{err}"
    );
}
