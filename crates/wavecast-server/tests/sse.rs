//! The SSE transport (`GET /api/sse`) over real sockets: deliveries as
//! events with cursor ids, `Last-Event-ID` and `since` resuming with no
//! gap, the same credentials and permissions as a WebSocket, heartbeat
//! comments, the server closing a stream, a reader that stops reading
//! handled like a slow WebSocket reader, and `curl -N` as a real client.

use std::time::Duration;

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use wavecast_protocol::time::now_millis;
use wavecast_server::metrics::ReasonLabel;
use wavecast_testkit::{SseClient, TestServer, WAIT};

const SECRET: &str = "sse-test-secret";

async fn publish(srv: &TestServer, channel: &str, data: Value) -> Value {
    let (status, v) = srv
        .post("/api/publish", json!({"channel": channel, "data": data}))
        .await;
    assert_eq!(status, 200, "{v}");
    v
}

/// Opens a stream and reads its greeting; returns it and the
/// `subscribe_success` payload.
async fn open(srv: &TestServer, query: &str, headers: &[(&str, &str)]) -> (SseClient, Value) {
    let mut s = SseClient::connect(srv.addr, &format!("/api/sse?{query}"), headers)
        .await
        .unwrap_or_else(|(status, body)| panic!("{status}: {body}"));
    assert_eq!(s.content_type, "text/event-stream");
    let hello = s.event().await;
    assert_eq!(hello.event, "connection_established", "{hello:?}");
    assert!(hello.json()["connection_id"].is_string());
    let ok = s.event().await;
    assert_eq!(ok.event, "subscribe_success", "{ok:?}");
    (s, ok.json())
}

/// The next publication: its id and payload.
async fn publication(s: &mut SseClient) -> (String, Value) {
    let e = s.event().await;
    assert_eq!(e.event, "publication", "{e:?}");
    (e.id.clone().expect("publication id"), e.json())
}

#[tokio::test]
async fn deliveries_arrive_as_events_with_cursor_ids() {
    let srv = TestServer::start("").await;
    let (mut s, ok) = open(&srv, "channels=news,chat:1", &[]).await;
    assert_eq!(ok["channels"], json!(["chat:1", "news"]), "{ok}");
    let epoch = ok["epoch"].as_str().map(String::from);
    publish(&srv, "news", json!({"n": 1})).await;
    publish(&srv, "chat:1", json!("hi\nthere")).await;
    let (id1, p1) = publication(&mut s).await;
    assert_eq!(p1["channel"], "news");
    assert_eq!(p1["data"]["n"], 1);
    assert!(id1.contains("news=1/"), "{id1}");
    assert!(id1.contains("chat:1=0/"), "{id1}");
    let (id2, p2) = publication(&mut s).await;
    assert_eq!(p2["data"], "hi\nthere");
    assert!(
        id2.contains("chat:1=1/") && id2.contains("news=1/"),
        "{id2}"
    );
    if let Some(e) = epoch {
        assert!(id2.contains(&e), "{id2} {e}");
    }
}

#[tokio::test]
async fn last_event_id_resumes_with_no_gap() {
    let srv = TestServer::start("").await;
    let (mut s, _) = open(&srv, "channels=a,b", &[]).await;
    publish(&srv, "a", json!(1)).await;
    publish(&srv, "b", json!(1)).await;
    publication(&mut s).await;
    let (last, _) = publication(&mut s).await;
    drop(s);
    // Missed while away, on both channels.
    for i in 2..=4 {
        publish(&srv, "a", json!(i)).await;
        publish(&srv, "b", json!(i)).await;
    }
    let (mut s, ok) = open(&srv, "channels=a,b", &[("last-event-id", &last)]).await;
    assert_eq!(ok["positions"]["a"]["recovered"], true, "{ok}");
    assert_eq!(ok["positions"]["b"]["recovered"], true, "{ok}");
    let mut got = Vec::new();
    for _ in 0..6 {
        let (_, p) = publication(&mut s).await;
        got.push((
            p["channel"].as_str().unwrap().to_string(),
            p["offset"].as_u64().unwrap(),
        ));
    }
    publish(&srv, "a", json!(5)).await;
    let (id, p) = publication(&mut s).await;
    got.push(("a".into(), p["offset"].as_u64().unwrap()));
    for ch in ["a", "b"] {
        let offs: Vec<u64> = got
            .iter()
            .filter(|(c, _)| c == ch)
            .map(|(_, o)| *o)
            .collect();
        let want: Vec<u64> = if ch == "a" {
            vec![2, 3, 4, 5]
        } else {
            vec![2, 3, 4]
        };
        assert_eq!(offs, want, "{ch}: {got:?}");
    }
    assert!(id.starts_with("a=5/") && id.contains(",b=4/"), "{id}");

    // `since` with a bare offset applies to every channel.
    let (mut s, ok) = open(&srv, "channels=a&since=3", &[]).await;
    assert_eq!(ok["recovered"], true, "{ok}");
    let (_, p) = publication(&mut s).await;
    assert_eq!(p["offset"], 4);
}

fn hs256(claims: Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("encode")
}

#[tokio::test]
async fn same_credentials_and_permissions_as_a_websocket() {
    let toml = format!(
        "[auth]\nrequire_auth = true\napi_keys = [\"key-1\"]\njwt_secret = \"{SECRET}\"\n[namespaces.vip]\nsubscribe = \"claim\"\n"
    );
    let srv = TestServer::start(&toml).await;
    let path = |q: &str| format!("/api/sse?{q}");
    let refused = |r: Result<SseClient, (u16, String)>| match r {
        Ok(_) => panic!("the stream opened"),
        Err((status, body)) => (
            status,
            serde_json::from_str::<Value>(&body).expect("JSON error"),
        ),
    };
    let (status, e) = refused(SseClient::connect(srv.addr, &path("channels=news"), &[]).await);
    assert_eq!(
        (status, e["code"].as_str()),
        (401, Some("auth_required")),
        "{e}"
    );
    let (status, e) =
        refused(SseClient::connect(srv.addr, &path("channels=news&token=nope"), &[]).await);
    assert_eq!(status, 401, "{e}");

    let exp = now_millis() / 1000 + 600;
    let token = hs256(json!({"sub": "ann", "exp": exp, "channels": ["vip:ann"]}));
    // A token in the query, and a permitted channel of a claim namespace.
    let (_s, ok) = open(&srv, &format!("channels=vip:ann&token={token}"), &[]).await;
    assert_eq!(ok["channels"], json!(["vip:ann"]));
    // Another user's channel of that namespace is forbidden.
    let (status, e) = refused(
        SseClient::connect(
            srv.addr,
            &path(&format!("channels=vip:bob&token={token}")),
            &[],
        )
        .await,
    );
    assert_eq!(
        (status, e["code"].as_str()),
        (403, Some("forbidden")),
        "{e}"
    );
    // An API key in the Authorization header.
    let (_s2, _) = open(&srv, "channels=news", &[("authorization", "Bearer key-1")]).await;
    // A bad channel name and a bad since.
    let bearer = [("authorization", "Bearer key-1")];
    let (status, e) =
        refused(SseClient::connect(srv.addr, &path("channels=bad%20name"), &bearer).await);
    assert_eq!(
        (status, e["code"].as_str()),
        (400, Some("invalid_channel")),
        "{e}"
    );
    let (status, e) =
        refused(SseClient::connect(srv.addr, &path("channels=a&since=x"), &bearer).await);
    assert_eq!(
        (status, e["code"].as_str()),
        (400, Some("invalid_field")),
        "{e}"
    );
    let (status, _) = refused(SseClient::connect(srv.addr, &path(""), &bearer).await);
    assert_eq!(status, 400);
}

#[tokio::test]
async fn heartbeat_comments_and_a_server_close() {
    let srv =
        TestServer::start("heartbeat_interval = \"100ms\"\nheartbeat_timeout = \"5s\"\n").await;
    let (mut s, _) = open(&srv, "channels=news", &[]).await;
    let beat = s.next().await.expect("a heartbeat");
    assert!(
        beat.comment
            .as_deref()
            .is_some_and(|c| c.starts_with("heartbeat")),
        "{beat:?}"
    );
    let id = {
        let conns = srv.state.hub.all_connections();
        assert_eq!(conns.len(), 1);
        conns[0].id.to_string()
    };
    let (status, v) = srv
        .post("/api/disconnect", json!({"connection_id": id}))
        .await;
    assert_eq!(status, 200, "{v}");
    let close = s.event().await;
    assert_eq!(close.event, "close", "{close:?}");
    assert_eq!(close.json()["code"], 4009);
    assert!(s.next().await.is_none(), "the stream ends after close");
    wait_until(|| srv.state.hub.connection_count() == 0).await;
}

async fn wait_until(mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within WAIT"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_reader_that_stops_reading_is_a_slow_consumer() {
    let srv = TestServer::start(
        "[namespaces.default]\nbackpressure = \"disconnect\"\nmax_queue_messages = 20\n",
    )
    .await;
    // A raw socket that sends the request and never reads.
    use tokio::io::AsyncWriteExt;
    let mut raw = tokio::net::TcpStream::connect(srv.addr)
        .await
        .expect("connect");
    raw.write_all(b"GET /api/sse?channels=flood HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    wait_until(|| srv.state.hub.connection_count() == 1).await;
    let big = "x".repeat(64 * 1024);
    let deadline = tokio::time::Instant::now() + WAIT;
    while srv.state.hub.connection_count() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "never closed");
        publish(&srv, "flood", json!(big)).await;
    }
    let slow = srv
        .state
        .metrics
        .disconnects_total
        .get_or_create(&ReasonLabel {
            reason: "slow_consumer".into(),
        })
        .get();
    assert_eq!(slow, 1);
    drop(raw);
}

async fn next_line(rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("a line within WAIT")
        .expect("curl ended")
}

#[tokio::test]
async fn curl_is_a_real_client() {
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("curl is not installed; skipped");
        return;
    }
    let srv = TestServer::start("").await;
    let url = format!("{}/api/sse?channels=news", srv.http());
    let mut curl = std::process::Command::new("curl")
        .args(["-sN", "--max-time", "10", &url])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("curl");
    let out = curl.stdout.take().expect("stdout");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    loop {
        if next_line(&mut rx).await == "event: subscribe_success" {
            break;
        }
    }
    publish(&srv, "news", json!({"via": "curl"})).await;
    // The publication's block: from its id line to the blank line.
    let mut seen = Vec::new();
    loop {
        let l = next_line(&mut rx).await;
        if l.starts_with("id: ") {
            seen.clear();
        }
        if l.is_empty() && seen.iter().any(|s: &String| s.starts_with("id: ")) {
            break;
        }
        seen.push(l);
    }
    assert!(
        seen.iter().any(|l| l.starts_with("id: news=1/")),
        "{seen:?}"
    );
    assert!(seen.contains(&"event: publication".to_string()), "{seen:?}");
    let data = seen
        .iter()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("data");
    let v: Value = serde_json::from_str(data).expect("JSON");
    assert_eq!(v["data"]["via"], "curl");
    let _ = curl.kill();
    let _ = curl.wait();
}
