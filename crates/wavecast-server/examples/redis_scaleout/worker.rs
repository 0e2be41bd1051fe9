//! A load-generator worker process: it holds its share of the
//! subscribers, each on one channel of one node, and measures every
//! delivery.
//!
//! Subscriber `g` (global index; this worker holds `g ≡ index mod
//! workers`) connects to node `g mod nodes` from 127.0.0.`1 + g mod
//! src_ips`. The worker talks to the coordinator in JSON lines: on stdout
//! `{"ready"…}` once every connect attempt is done, `{"progress"…}` every
//! 500 ms, and `{"result"…}` when stdin says `stop` (or closes). It runs on
//! one thread, so it never holds more than its share of the machine.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt;
use tokio::net::TcpSocket;
use tokio::sync::{Notify, Semaphore};
use tokio_websockets::{ClientBuilder, Message};

use crate::stats::{now_micros, Hist};
use crate::Opts;

/// The most subscribers one worker holds (each is one open file; the
/// limit here is 20,000 per process).
pub const MAX_PER_WORKER: u64 = 19_000;

/// What a worker is told on its command line.
pub struct WorkerArgs {
    pub index: u64,
    pub workers: u64,
    pub subscribers: u64,
    pub ports: Vec<u16>,
    pub src_ips: u64,
    pub channel: String,
    pub concurrency: usize,
    pub connect_bound: Duration,
}

impl WorkerArgs {
    pub fn from_opts(o: &Opts) -> Result<WorkerArgs, String> {
        let ports = o
            .get("ports")
            .ok_or("--ports is required")?
            .split(',')
            .map(|p| p.parse::<u16>().map_err(|_| format!("bad port {p:?}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(WorkerArgs {
            index: o.num("index", 0)?,
            workers: o.num("workers", 1)?,
            subscribers: o.num("subscribers", 0)?,
            ports,
            src_ips: o.num("src-ips", 0)?,
            channel: o.get("channel").unwrap_or("scaleout").to_string(),
            concurrency: o.num("connect-concurrency", 200)? as usize,
            connect_bound: Duration::from_secs(o.num("connect-bound-s", 300)?),
        })
    }

    /// The global indexes of this worker's subscribers.
    fn mine(&self) -> impl Iterator<Item = u64> {
        (self.index..self.subscribers).step_by(self.workers.max(1) as usize)
    }
}

#[derive(Default)]
struct Stats {
    attempted: u64,
    ready: u64,
    failed: u64,
    errors: Vec<String>,
    closed: u64,
    received: u64,
    /// seq → (deliveries, latest delivery latency in µs).
    per_seq: HashMap<u64, (u64, u64)>,
    hist: Hist,
}

type Shared = Rc<RefCell<Stats>>;

/// Runs a worker; the process exit status.
pub fn main(o: &Opts) -> i32 {
    let args = match WorkerArgs::from_opts(o) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("worker: {e}");
            return 2;
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("worker: runtime: {e}");
            return 1;
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, run(Rc::new(args)));
    0
}

fn emit(v: Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

async fn run(args: Rc<WorkerArgs>) {
    let stats: Shared = Rc::default();
    let done = Rc::new(Notify::new());
    let permits = Rc::new(Semaphore::new(args.concurrency.max(1)));
    let total = args.mine().count() as u64;
    for g in args.mine() {
        let (args, stats, done, permits) =
            (args.clone(), stats.clone(), done.clone(), permits.clone());
        tokio::task::spawn_local(async move {
            let permit = permits.acquire().await.ok();
            let ws = connect(&args, g).await;
            drop(permit);
            {
                let mut s = stats.borrow_mut();
                s.attempted += 1;
                match &ws {
                    Ok(_) => s.ready += 1,
                    Err(e) => {
                        s.failed += 1;
                        if s.errors.len() < 5 {
                            s.errors.push(e.clone());
                        }
                    }
                }
                if s.attempted == total {
                    done.notify_one();
                }
            }
            if let Ok(ws) = ws {
                read_deliveries(ws, &stats).await;
            }
        });
    }
    if total > 0 {
        let _ = tokio::time::timeout(args.connect_bound, done.notified()).await;
    }
    {
        let s = stats.borrow();
        emit(
            json!({"ready": s.ready, "failed": s.failed, "pending": total - s.attempted, "errors": s.errors}),
        );
    }
    serve_coordinator(&stats).await;
    let s = stats.borrow();
    let per_seq: Vec<Value> = s
        .per_seq
        .iter()
        .map(|(seq, (n, max))| json!([seq, n, max]))
        .collect();
    emit(json!({"result": {
        "ready": s.ready,
        "closed": s.closed,
        "received": s.received,
        "per_seq": per_seq,
        "hist": s.hist.sparse(),
    }}));
}

/// Reports progress until the coordinator says `stop`.
async fn serve_coordinator(stats: &Shared) {
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(l)) if l.trim() != "stop" => {}
                _ => return,
            },
            _ = tick.tick() => {
                let s = stats.borrow();
                emit(json!({"progress": s.received, "closed": s.closed}));
            }
        }
    }
}

type Ws = tokio_websockets::WebSocketStream<tokio::net::TcpStream>;

/// Connects subscriber `g` and subscribes it; errors are one line.
async fn connect(args: &WorkerArgs, g: u64) -> Result<Ws, String> {
    let port = args.ports[(g % args.ports.len() as u64) as usize];
    let fut = async {
        let socket = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
        if args.src_ips > 0 {
            let ip = Ipv4Addr::new(127, 0, 0, 1 + (g % args.src_ips) as u8);
            socket
                .bind(SocketAddr::new(IpAddr::V4(ip), 0))
                .map_err(|e| format!("bind {ip}: {e}"))?;
        }
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let stream = socket
            .connect(addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        let url = format!("ws://127.0.0.1:{port}/ws");
        let (mut ws, _) = ClientBuilder::new()
            .uri(&url)
            .map_err(|e| format!("{url}: {e}"))?
            .connect_on(stream)
            .await
            .map_err(|e| format!("upgrade: {e}"))?;
        let sub = json!({"type": "subscribe", "channel": args.channel, "id": "s"});
        ws.send(Message::text(sub.to_string()))
            .await
            .map_err(|e| format!("send subscribe: {e}"))?;
        while let Some(m) = ws.next().await {
            let m = m.map_err(|e| format!("read: {e}"))?;
            let Some(text) = m.as_text() else { continue };
            if text.contains("\"subscribe_success\"") {
                return Ok(ws);
            }
            if text.contains("\"error\"") || text.contains("_failed\"") {
                return Err(format!("subscribe refused: {text}"));
            }
        }
        Err::<Ws, String>("closed before subscribe_success".to_string())
    };
    tokio::time::timeout(Duration::from_secs(60), fut)
        .await
        .map_err(|_| "connect and subscribe timed out (60 s)".to_string())?
}

async fn read_deliveries(mut ws: Ws, stats: &Shared) {
    while let Some(Ok(m)) = ws.next().await {
        let Some(text) = m.as_text() else { continue };
        let now = now_micros();
        let mut s = stats.borrow_mut();
        for (seq, sent) in scan(text) {
            let lat = now.saturating_sub(sent);
            s.received += 1;
            s.hist.record(lat);
            let e = s.per_seq.entry(seq).or_insert((0, 0));
            e.0 += 1;
            e.1 = e.1.max(lat);
        }
    }
    stats.borrow_mut().closed += 1;
}

/// The `(scaleout_seq, scaleout_t)` pairs in a frame.
fn scan(text: &str) -> Vec<(u64, u64)> {
    const SEQ: &str = "\"scaleout_seq\":";
    const T: &str = "\"scaleout_t\":";
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(SEQ) {
        rest = &rest[i + SEQ.len()..];
        let seq = digits(rest);
        let Some(j) = rest.find(T) else { break };
        rest = &rest[j + T.len()..];
        if let (Some(seq), Some(t)) = (seq, digits(rest)) {
            out.push((seq, t));
        }
    }
    out
}

fn digits(s: &str) -> Option<u64> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s[..end].parse().ok()
}
