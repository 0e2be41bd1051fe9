//! The server's CPU per delivery in each wire format (issue 13): N
//! subscribers of one channel that speak JSON, MessagePack or JSON with
//! permessage-deflate, a publisher at a fixed rate over HTTP, and the
//! server's own figures: CPU from `/proc/PID/stat`, deliveries from
//! `wavecast_publications_delivered_total`.
//!
//! The subscribers are raw sockets that upgrade, subscribe, then read and
//! discard (they never decode, so the load generator stays cheap in every
//! format, and what is measured is the server). The endpoint must accept
//! permessage-deflate (`deflate = true`) for the deflate runs.
//!
//! ```sh
//! cargo build --release -p wavecast
//! cargo build --release -p wavecast-server --example format_cost
//! taskset -c 0 wavecast serve --config deflate.toml &      # [[endpoints]] path="/ws" … deflate=true
//! taskset -c 1 target/release/examples/format_cost --port 8000 --server-pid $PID \
//!     --format deflate --subscribers 10000 --rate 5 --duration 20 [--size 80]
//! ```
//!
//! Prints one JSON object: deliveries, server CPU-seconds, CPU-s per
//! million deliveries, bytes on the wire per delivery, the load
//! generator's own CPU.

#[path = "redis_scaleout/http.rs"]
mod http;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

struct Opts {
    port: u16,
    server_pid: u32,
    format: String,
    subscribers: u64,
    rate: f64,
    duration: f64,
    src_ips: u32,
    size: usize,
}

fn opts() -> Result<Opts, String> {
    let mut o = Opts {
        port: 8000,
        server_pid: 0,
        format: "json".into(),
        subscribers: 10_000,
        rate: 5.0,
        duration: 20.0,
        src_ips: 4,
        size: 80,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let (k, v) = (pair[0].as_str(), pair.get(1).cloned().unwrap_or_default());
        let bad = |e: &dyn std::fmt::Display| format!("{k} {v}: {e}");
        match k {
            "--port" => o.port = v.parse().map_err(|e| bad(&e))?,
            "--server-pid" => o.server_pid = v.parse().map_err(|e| bad(&e))?,
            "--format" => o.format = v,
            "--subscribers" => o.subscribers = v.parse().map_err(|e| bad(&e))?,
            "--rate" => o.rate = v.parse().map_err(|e| bad(&e))?,
            "--duration" => o.duration = v.parse().map_err(|e| bad(&e))?,
            "--src-ips" => o.src_ips = v.parse().map_err(|e| bad(&e))?,
            "--size" => o.size = v.parse().map_err(|e| bad(&e))?,
            _ => return Err(format!("unknown option {k}")),
        }
    }
    if !["json", "msgpack", "deflate"].contains(&o.format.as_str()) {
        return Err("--format is json, msgpack or deflate".into());
    }
    if o.server_pid == 0 {
        return Err("--server-pid is required".into());
    }
    Ok(o)
}

/// A client frame (masked, FIN) with `opcode` and `payload`.
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x5a, 0x13, 0xc7, 0x81];
    let mut f = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// The subscribe message in the connection's format.
fn subscribe_frame(format: &str) -> Vec<u8> {
    if format == "msgpack" {
        // {"type": "subscribe", "channel": "bench"} as a MessagePack map.
        let mut m = vec![0x82, 0xa4];
        m.extend_from_slice(b"type");
        m.push(0xa9);
        m.extend_from_slice(b"subscribe");
        m.push(0xa7);
        m.extend_from_slice(b"channel");
        m.push(0xa5);
        m.extend_from_slice(b"bench");
        return client_frame(0x2, &m);
    }
    client_frame(0x1, br#"{"type":"subscribe","channel":"bench"}"#)
}

/// Connects subscriber `i`, upgrades and subscribes.
async fn subscriber(o: &Opts, i: u64) -> Result<TcpStream, String> {
    let socket = TcpSocket::new_v4().map_err(|e| e.to_string())?;
    let ip = Ipv4Addr::from(
        u32::from(Ipv4Addr::new(127, 0, 0, 1)) + (i % u64::from(o.src_ips.max(1))) as u32,
    );
    socket
        .bind(SocketAddr::new(IpAddr::V4(ip), 0))
        .map_err(|e| e.to_string())?;
    let mut s = socket
        .connect(SocketAddr::from(([127, 0, 0, 1], o.port)))
        .await
        .map_err(|e| e.to_string())?;
    let extra = match o.format.as_str() {
        "msgpack" => "Sec-WebSocket-Protocol: wavecast.v1.msgpack\r\n",
        "deflate" => "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n",
        _ => "",
    };
    let req = format!(
        "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n",
        o.port
    );
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed during the upgrade".into());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    if !text.starts_with("http/1.1 101") {
        return Err(format!(
            "upgrade refused: {}",
            text.lines().next().unwrap_or("")
        ));
    }
    let agreed = match o.format.as_str() {
        "msgpack" => text.contains("wavecast.v1.msgpack"),
        "deflate" => text.contains("permessage-deflate"),
        _ => true,
    };
    if !agreed {
        return Err(format!(
            "the server did not agree to {} (is deflate = true on /ws?)",
            o.format
        ));
    }
    s.write_all(&subscribe_frame(&o.format))
        .await
        .map_err(|e| e.to_string())?;
    Ok(s)
}

/// Reads and discards, counting bytes, until `stop`.
async fn drain(mut s: TcpStream, bytes: Arc<AtomicU64>, stop: Instant) {
    let mut buf = vec![0u8; 16 * 1024];
    while Instant::now() < stop {
        match tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(n)) => {
                bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(_) => {}
        }
    }
}

/// utime + stime of `pid` (or of this process for 0), in seconds.
fn cpu_s(pid: u32) -> f64 {
    let path = if pid == 0 {
        "/proc/self/stat".to_string()
    } else {
        format!("/proc/{pid}/stat")
    };
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// A counter or gauge from `/metrics` (0 when absent or unreachable).
async fn metric(addr: SocketAddr, name: &str) -> f64 {
    let fetch = async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        let req = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut body = Vec::new();
        s.read_to_end(&mut body).await.ok()?;
        Some(String::from_utf8_lossy(&body).into_owned())
    };
    let text = tokio::time::timeout(Duration::from_secs(10), fetch)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.trim().parse().ok()))
        .unwrap_or(0.0)
}

/// Publishes at `rate` for `duration`, with `size` bytes of text in each
/// payload (80: a 100-byte payload); returns the count.
async fn publish(addr: SocketAddr, rate: f64, duration: f64, size: usize) -> u64 {
    let mut conn = http::HttpConn::new(addr);
    let every = Duration::from_secs_f64(1.0 / rate);
    let start = tokio::time::Instant::now();
    let mut sent = 0u64;
    while start.elapsed().as_secs_f64() < duration {
        tokio::time::sleep_until(start + every * sent as u32).await;
        let body = json!({"channel": "bench", "data": {"seq": sent, "p": filler(sent, size)}});
        if conn
            .post("/api/publish", body.to_string().as_bytes())
            .await
            .is_ok()
        {
            sent += 1;
        }
    }
    sent
}

/// Text like a metrics payload (repeating words and numbers), so that
/// deflate sees the redundancy real JSON has, not a run of one letter.
fn filler(seq: u64, size: usize) -> String {
    let mut out = String::with_capacity(size + 32);
    let mut i = 0u64;
    while out.len() < size {
        out.push_str(&format!(
            "node-{} cpu {}.{} ",
            i % 16,
            (seq + i * 7) % 100,
            i % 10
        ));
        i += 1;
    }
    out.truncate(size);
    out
}

async fn run(o: Opts) -> Result<serde_json::Value, String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], o.port));
    let mut socks = Vec::with_capacity(o.subscribers as usize);
    for i in 0..o.subscribers {
        socks.push(
            subscriber(&o, i)
                .await
                .map_err(|e| format!("subscriber {i}: {e}"))?,
        );
    }
    let ready = Instant::now() + Duration::from_secs(30);
    while metric(addr, "wavecast_subscriptions ").await < o.subscribers as f64 {
        if Instant::now() > ready {
            return Err("not every subscription was confirmed within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let bytes = Arc::new(AtomicU64::new(0));
    let stop = Instant::now() + Duration::from_secs_f64(o.duration + 3.0);
    let readers: Vec<_> = socks
        .into_iter()
        .map(|s| tokio::spawn(drain(s, bytes.clone(), stop)))
        .collect();
    let d0 = metric(addr, "wavecast_publications_delivered_total ").await;
    let (c0, b0) = (cpu_s(o.server_pid), cpu_s(0));
    let published = publish(addr, o.rate, o.duration, o.size).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (c1, b1) = (cpu_s(o.server_pid), cpu_s(0));
    let delivered = metric(addr, "wavecast_publications_delivered_total ").await - d0;
    for r in readers {
        let _ = r.await;
    }
    let wire = bytes.load(Ordering::Relaxed) as f64;
    Ok(json!({
        "format": o.format, "size": o.size, "subscribers": o.subscribers, "rate": o.rate, "published": published,
        "expected": published * o.subscribers, "delivered": delivered,
        "server_cpu_s": (c1 - c0), "cpu_s_per_million": (c1 - c0) / (delivered / 1e6).max(1e-9),
        "wire_bytes_per_delivery": wire / delivered.max(1.0),
        "bench_cpu_s": (b1 - b0), "bench_cores": (b1 - b0) / (o.duration + 2.0),
    }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let out = match opts() {
        Ok(o) => run(o).await,
        Err(e) => Err(e),
    };
    match out {
        Ok(v) => println!("{v}"),
        Err(e) => {
            eprintln!("format_cost: {e}");
            std::process::exit(1);
        }
    }
}
