//! The chaos workload: one publisher and one recovering subscriber on a
//! server that faults are done to, and the tally of what happened.
//!
//! - The publisher publishes the sequence numbers 1, 2, 3… over
//!   `POST /api/publish`, each with the idempotency key `s<n>`, and
//!   retries the same number with the same key until it is acknowledged,
//!   so a retry can never make a second publication.
//! - The subscriber reads the channel and, after every disconnect or
//!   `recovery_required`, subscribes again recovering from the last offset
//!   and epoch it saw. `recovered: false` is a gap the server told it of.
//! - The tally: acknowledged numbers that never arrived are *lost*;
//!   numbers that arrived with two different offsets are *duplicated* (two
//!   publications); the same publication again with its offset is
//!   *redelivered* (clients drop it by offset); a new offset at or below
//!   the last one seen in the same epoch is a *reused* offset (a silent
//!   rewind).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_websockets::{ClientBuilder, Message};

/// The channel of every scenario (namespace `h` keeps history).
pub const CHANNEL: &str = "h:chaos";

/// One HTTP request/response on loopback, bounded by `bound`.
pub async fn http(
    port: u16,
    method: &str,
    path: &str,
    body: &str,
    bound: Duration,
) -> Result<(u16, Value), String> {
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| e.to_string())?;
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("no HTTP status in {text:?}"))?;
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        Ok((status, serde_json::from_str(body).unwrap_or(Value::Null)))
    };
    tokio::time::timeout(bound, exchange)
        .await
        .map_err(|_| "timed out".to_string())?
}

/// What the publisher saw.
#[derive(Default, Debug)]
pub struct Published {
    /// Acknowledged sequence numbers.
    pub acked: BTreeSet<u64>,
    /// The number being retried when the publisher stopped (outcome
    /// unknown), if any.
    pub unresolved: Option<u64>,
    /// Failed attempts (each retried).
    pub errors: u64,
    /// Attempts answered `duplicate: true` (a retry whose first attempt
    /// had been made).
    pub duplicates_answered: u64,
}

/// Publishes `{"n": 1, "pad": …}`, 2, 3… every `pace` until `stop` is
/// set; `pad` bytes of padding each.
pub async fn publish_until(
    port: u16,
    pace: Duration,
    pad: usize,
    stop: Arc<AtomicBool>,
) -> Published {
    let mut out = Published::default();
    let mut seq = 1u64;
    let pad = "x".repeat(pad);
    while !stop.load(Ordering::Relaxed) {
        let body = json!({"channel": CHANNEL, "data": {"n": seq, "pad": pad},
            "idempotency_key": format!("s{seq}")})
        .to_string();
        match http(port, "POST", "/api/publish", &body, Duration::from_secs(3)).await {
            Ok((200, v)) => {
                if v["duplicate"] == true {
                    out.duplicates_answered += 1;
                }
                out.acked.insert(seq);
                seq += 1;
                tokio::time::sleep(pace).await;
            }
            _ => {
                out.errors += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    if !out.acked.contains(&seq) && out.errors > 0 {
        out.unresolved = Some(seq);
    }
    out
}

/// What the subscriber saw.
#[derive(Default, Debug)]
pub struct Received {
    /// The offsets each sequence number arrived with.
    pub seqs: BTreeMap<u64, Vec<u64>>,
    /// `recovered: false` answers (gaps the server told of).
    pub gaps_reported: u64,
    /// Offsets at or below the last one seen, in the same epoch.
    pub reused_offsets: u64,
    /// Connections made after the first.
    pub reconnects: u64,
    /// Publications received again with the same offset.
    pub redelivered: u64,
    /// Highest sequence number seen.
    pub highest: u64,
}

/// The subscriber's position and counters, shared across connections.
struct Sub {
    port: u16,
    position: Option<(u64, String)>,
    got: Received,
    /// Stop once this sequence number arrived (0: not yet known).
    until: Arc<AtomicU64>,
    deadline: Instant,
    catching_up: bool,
}

impl Sub {
    fn done(&mut self) -> bool {
        let until = self.until.load(Ordering::Relaxed);
        if until > 0 && !self.catching_up {
            // Publishing stopped: what has not arrived within 10 s is lost.
            self.catching_up = true;
            self.deadline = self.deadline.min(Instant::now() + Duration::from_secs(10));
        }
        Instant::now() >= self.deadline || (until > 0 && self.got.highest >= until)
    }

    fn subscribe_request(&self) -> String {
        match &self.position {
            Some((offset, epoch)) => json!({"type":"subscribe","channel": CHANNEL,
                "recover": {"offset": offset, "epoch": epoch}}),
            None => json!({"type":"subscribe","channel": CHANNEL}),
        }
        .to_string()
    }

    /// Handles one frame; returns whether to subscribe again.
    fn on_frame(
        &mut self,
        v: &Value,
        ready: &mut Option<tokio::sync::oneshot::Sender<()>>,
    ) -> bool {
        match v["type"].as_str() {
            Some("subscribe_success") => {
                let epoch = v["epoch"].as_str().unwrap_or_default().to_string();
                match &mut self.position {
                    Some((o, e)) => {
                        if v["recovered"] != true {
                            // A new log: offsets count from its top.
                            self.got.gaps_reported += 1;
                            *o = v["offset"].as_u64().unwrap_or(0);
                        }
                        *e = epoch;
                    }
                    None => {
                        let offset = v["offset"].as_u64().unwrap_or(0);
                        self.position = Some((offset, epoch));
                    }
                }
                if let Some(r) = ready.take() {
                    let _ = r.send(());
                }
                false
            }
            Some("publication") => {
                let seq = v["data"]["n"].as_u64().unwrap_or(0);
                let offset = v["offset"].as_u64().unwrap_or(0);
                let seen = self.got.seqs.entry(seq).or_default();
                if seen.contains(&offset) {
                    // The same publication again (same offset): a client
                    // drops it by its offset; counted, not a second copy.
                    self.got.redelivered += 1;
                    return false;
                }
                seen.push(offset);
                self.got.highest = self.got.highest.max(seq);
                if let Some((last, _)) = &mut self.position {
                    if offset <= *last {
                        self.got.reused_offsets += 1;
                    }
                    *last = offset;
                }
                false
            }
            Some("recovery_required" | "subscribe_failed" | "error") => true,
            _ => false,
        }
    }
}

/// Subscribes and recovers until the sequence number in `until` arrived
/// or `bound` passed; signals `ready` after the first subscription.
pub async fn subscribe_and_recover(
    port: u16,
    until: Arc<AtomicU64>,
    bound: Duration,
    ready: tokio::sync::oneshot::Sender<()>,
) -> Received {
    let mut sub = Sub {
        port,
        position: None,
        got: Received::default(),
        until,
        deadline: Instant::now() + bound,
        catching_up: false,
    };
    let mut ready = Some(ready);
    let mut first = true;
    while !sub.done() {
        let url = format!("ws://127.0.0.1:{}/ws", sub.port);
        let connect = async { ClientBuilder::new().uri(&url).ok()?.connect().await.ok() };
        let Ok(Some((mut ws, _))) = tokio::time::timeout(Duration::from_secs(2), connect).await
        else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        if !first {
            sub.got.reconnects += 1;
        }
        first = false;
        if ws
            .send(Message::text(sub.subscribe_request()))
            .await
            .is_err()
        {
            continue;
        }
        while !sub.done() {
            let next = tokio::time::timeout(Duration::from_millis(500), ws.next()).await;
            let msg = match next {
                Err(_) => continue,
                Ok(Some(Ok(m))) => m,
                Ok(_) => break,
            };
            let Some(v) = msg
                .as_text()
                .and_then(|t| serde_json::from_str::<Value>(t).ok())
            else {
                if msg.is_close() {
                    break;
                }
                continue;
            };
            if sub.on_frame(&v, &mut ready) {
                tokio::time::sleep(Duration::from_millis(50)).await;
                if ws
                    .send(Message::text(sub.subscribe_request()))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        }
    }
    sub.got
}

/// One scenario's figures.
#[derive(Debug)]
pub struct Report {
    pub scenario: String,
    pub acked: usize,
    pub delivered: usize,
    pub lost: usize,
    pub duplicated: u64,
    pub redelivered: u64,
    pub delivered_unacked: usize,
    pub gaps_reported: u64,
    pub reused_offsets: u64,
    pub publish_errors: u64,
    pub reconnects: u64,
    pub seconds: f64,
}

impl Report {
    pub fn new(scenario: &str, p: &Published, r: &Received, took: Duration) -> Report {
        let delivered = p.acked.iter().filter(|s| r.seqs.contains_key(s)).count();
        Report {
            scenario: scenario.to_string(),
            acked: p.acked.len(),
            delivered,
            lost: p.acked.len() - delivered,
            duplicated: r.seqs.values().map(|o| o.len() as u64 - 1).sum(),
            redelivered: r.redelivered,
            delivered_unacked: r.seqs.keys().filter(|s| !p.acked.contains(s)).count(),
            gaps_reported: r.gaps_reported,
            reused_offsets: r.reused_offsets,
            publish_errors: p.errors,
            reconnects: r.reconnects,
            seconds: took.as_secs_f64(),
        }
    }

    /// One Markdown table row (the columns of docs/reliability.md).
    pub fn row(&self) -> String {
        format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} |",
            self.scenario,
            self.acked,
            self.delivered,
            self.lost,
            self.duplicated,
            self.redelivered,
            self.delivered_unacked,
            self.gaps_reported,
            self.reused_offsets,
            self.publish_errors,
            self.reconnects,
            self.seconds
        )
    }
}

/// A running publisher and subscriber on one server port.
pub struct Load {
    publisher: tokio::task::JoinHandle<Published>,
    subscriber: tokio::task::JoinHandle<Received>,
    stop: Arc<AtomicBool>,
    until: Arc<AtomicU64>,
    started: Instant,
}

impl Load {
    /// Subscribes first, then starts publishing `pad`-byte publications
    /// every `pace`.
    pub async fn start(port: u16, pace: Duration, pad: usize) -> Load {
        let until = Arc::new(AtomicU64::new(0));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let subscriber = tokio::spawn(subscribe_and_recover(
            port,
            until.clone(),
            Duration::from_secs(90),
            tx,
        ));
        tokio::time::timeout(Duration::from_secs(10), rx)
            .await
            .expect("the subscriber did not subscribe")
            .expect("subscriber");
        let stop = Arc::new(AtomicBool::new(false));
        let publisher = tokio::spawn(publish_until(port, pace, pad, stop.clone()));
        Load {
            publisher,
            subscriber,
            stop,
            until,
            started: Instant::now(),
        }
    }

    /// Stops publishing, lets the subscriber catch up (bounded) and tallies.
    pub async fn finish(self, scenario: &str) -> Report {
        self.stop.store(true, Ordering::Relaxed);
        let p = self.publisher.await.expect("publisher");
        let last = p.acked.iter().next_back().copied().unwrap_or(0);
        self.until.store(last.max(1), Ordering::Relaxed);
        let r = self.subscriber.await.expect("subscriber");
        let report = Report::new(scenario, &p, &r, self.started.elapsed());
        println!("{}", report.row());
        for (seq, offsets) in r.seqs.iter().filter(|(_, o)| o.len() > 1) {
            println!("  {scenario}: {seq} arrived with offsets {offsets:?}");
        }
        report
    }
}
