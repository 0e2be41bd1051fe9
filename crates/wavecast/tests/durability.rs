//! Delivery guarantees with real server processes: `kill -9` of an
//! embedded-storage node and of a redis-backed node, with clients that
//! come back (to the same or another node) and recover everything.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_websockets::{ClientBuilder, MaybeTlsStream, Message, WebSocketStream};

const BIN: &str = env!("CARGO_BIN_EXE_wavecast");
const WAIT: Duration = Duration::from_secs(15);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn wait_port(port: u16) {
    let deadline = Instant::now() + WAIT;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Proc {
    fn kill9(&mut self) {
        let status = Command::new("kill")
            .args(["-9", &self.0.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let _ = self.0.wait();
    }
}

fn serve(port: u16, envs: &[(&str, String)]) -> Proc {
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--port", &port.to_string()])
        .env_remove("WAVECAST_CONFIG")
        .env("WAVECAST_NAMESPACES__H__HISTORY_SIZE", "5000")
        .env("WAVECAST_NAMESPACES__H__MAX_QUEUE_MESSAGES", "5000")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("spawn wavecast");
    wait_port(port);
    Proc(child)
}

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(port: u16) -> Ws {
    let (mut ws, _) = ClientBuilder::new()
        .uri(&format!("ws://127.0.0.1:{port}/ws"))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    assert_eq!(recv(&mut ws).await["type"], "connection_established");
    ws
}

async fn recv(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("no frame in time")
            .expect("stream ended")
            .expect("ws error");
        if let Some(t) = msg.as_text() {
            let v: Value = serde_json::from_str(t).expect("json");
            if v["type"] != "heartbeat" {
                return v;
            }
        }
    }
}

async fn call(ws: &mut Ws, v: Value) -> Value {
    ws.send(Message::text(v.to_string())).await.expect("send");
    recv(ws).await
}

async fn publish(port: u16, channel: &str, data: Value) -> Value {
    let body = json!({"channel": channel, "data": data}).to_string();
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let req = format!(
        "POST /api/publish HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut out))
        .await
        .expect("timeout")
        .expect("read");
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    serde_json::from_str(body).expect("json body")
}

async fn offsets_until(ws: &mut Ws, last: u64) -> Vec<u64> {
    let mut got = Vec::new();
    loop {
        let v = recv(ws).await;
        assert_eq!(v["type"], "publication", "{v}");
        let o = v["offset"].as_u64().expect("offset");
        got.push(o);
        if o >= last {
            return got;
        }
    }
}

#[tokio::test]
async fn kill_9_of_an_embedded_node_loses_nothing_acknowledged() {
    let port = free_port();
    let data = std::env::temp_dir().join(format!("wavecast-k9-{port}"));
    let _ = std::fs::remove_dir_all(&data);
    let env = [("WAVECAST_DATA_DIR", data.display().to_string())];
    let mut node = serve(port, &env);
    let mut ws = connect(port).await;
    let r = call(&mut ws, json!({"type":"subscribe","channel":"h:k"})).await;
    let epoch = r["epoch"].as_str().expect("epoch").to_string();
    drop(ws);
    // Away for 1,000 publications, then the node dies without warning.
    for i in 1..=1000u64 {
        assert_eq!(publish(port, "h:k", json!({"i": i})).await["offset"], i);
    }
    node.kill9();
    let _node = serve(port, &env);
    let mut ws = connect(port).await;
    let r = call(
        &mut ws,
        json!({"type":"subscribe","channel":"h:k","recover":{"offset":0,"epoch":epoch}}),
    )
    .await;
    assert_eq!(
        (r["recovered"].clone(), r["epoch"].clone()),
        (json!(true), json!(epoch))
    );
    assert_eq!(
        offsets_until(&mut ws, 1000).await,
        (1..=1000).collect::<Vec<_>>()
    );
    let _ = std::fs::remove_dir_all(&data);
}

struct Redis(Child, u16);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn redis() -> Redis {
    let port = free_port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server must be installed (apt-get install redis-server)");
    wait_port(port);
    Redis(child, port)
}

#[tokio::test]
async fn kill_9_of_a_redis_node_clients_move_and_recover() {
    let r = redis();
    let env = [
        ("WAVECAST_ENGINE", "redis".to_string()),
        ("WAVECAST_REDIS_URL", format!("redis://127.0.0.1:{}", r.1)),
    ];
    let (pa, pb) = (free_port(), free_port());
    let mut a = serve(pa, &env);
    let _b = serve(pb, &env);
    let mut ws = connect(pa).await;
    let sub = call(&mut ws, json!({"type":"subscribe","channel":"h:m"})).await;
    let epoch = sub["epoch"].as_str().expect("epoch").to_string();
    for i in 1..=50u64 {
        publish(pb, "h:m", json!(i)).await;
    }
    let seen = offsets_until(&mut ws, 50).await;
    assert_eq!(seen.len(), 50);
    a.kill9();
    // The client notices (its socket dies) and moves to node B.
    let end = tokio::time::timeout(WAIT, async {
        loop {
            match ws.next().await {
                Some(Ok(_)) => continue,
                _ => return,
            }
        }
    })
    .await;
    assert!(end.is_ok(), "the dead node's socket never closed");
    for i in 51..=120u64 {
        publish(pb, "h:m", json!(i)).await;
    }
    let mut ws = connect(pb).await;
    let r = call(
        &mut ws,
        json!({"type":"subscribe","channel":"h:m","recover":{"offset":50,"epoch":epoch}}),
    )
    .await;
    assert_eq!(r["recovered"], true, "{r}");
    assert_eq!(
        offsets_until(&mut ws, 120).await,
        (51..=120).collect::<Vec<_>>()
    );
}
