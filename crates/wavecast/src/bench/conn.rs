//! Bench connections: opening a WebSocket from a chosen 127.0.0.x source
//! address, subscribing (wavecast protocol or a template for other
//! servers), and the pool of subscriber tasks that measure latency, gaps and
//! duplicates into shared, sharded histograms.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cli_token::{mint, TokenSpec};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio_websockets::{ClientBuilder, Message, WebSocketStream};
use wavecast_client::config::encode_query;

use super::payload::{now_micros, scan};
use super::stats::{histogram, record, HistDump, PoolReport};

pub type Ws = WebSocketStream<TcpStream>;

/// Credentials each bench connection presents.
#[derive(Clone, Debug)]
pub enum Auth {
    None,
    /// `X-API-Key`.
    ApiKey(String),
    /// One token for every connection (`Authorization: Bearer`).
    Token(String),
    /// A distinct HS256 token per connection, `sub` = `bench-<index>`,
    /// with the audience and issuer the server may require.
    JwtSecret {
        secret: String,
        aud: Vec<String>,
        iss: Option<String>,
    },
}

/// Where and how subscribers connect.
#[derive(Clone, Debug)]
pub struct Target {
    /// The WebSocket URL; `{channel}` is replaced.
    pub url_template: String,
    /// The subscribe frame (`{channel}` replaced); `None`: send nothing.
    pub sub_message: Option<String>,
    /// Speak the wavecast protocol: wait for `subscribe_success`, answer
    /// heartbeats, count `dropped` notices.
    pub wavecast: bool,
    pub addr: SocketAddr,
    pub auth: Auth,
    /// Spread source addresses over 127.0.0.1 ..= 127.0.0.N (0: let the
    /// kernel choose).
    pub src_ips: u32,
    pub connect_timeout: Duration,
    /// Offer permessage-deflate (`Sec-WebSocket-Extensions`).
    pub offer_deflate: bool,
}

impl Target {
    /// Opens connection number `index` (global across workers) and returns
    /// it with the time the TCP connect and the upgrade took.
    pub async fn connect(&self, index: u64, channel: &str) -> Result<(Ws, Duration), String> {
        let started = Instant::now();
        let fut = async {
            let socket = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
            if self.src_ips > 0 {
                let n = (index % u64::from(self.src_ips)) as u32 + 1;
                let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 0, 0)) + n);
                socket
                    .bind(SocketAddr::new(IpAddr::V4(ip), 0))
                    .map_err(|e| format!("bind {ip}: {e}"))?;
            }
            let stream = socket
                .connect(self.addr)
                .await
                .map_err(|e| format!("connect {}: {e}", self.addr))?;
            let _ = stream.set_nodelay(true);
            if let Ok(local) = stream.local_addr() {
                super::monitor::register(local);
            }
            let mut url = self.url_template.replace("{channel}", channel);
            let mut headers: Vec<(&str, String)> = Vec::new();
            if self.offer_deflate {
                headers.push(("sec-websocket-extensions", "permessage-deflate".into()));
            }
            match &self.auth {
                Auth::None => {}
                Auth::ApiKey(k) => headers.push(("x-api-key", k.clone())),
                Auth::Token(t) => headers.push(("authorization", format!("Bearer {t}"))),
                Auth::JwtSecret { secret, aud, iss } => {
                    let spec = TokenSpec {
                        sub: Some(format!("bench-{index}")),
                        ttl: "1d".into(),
                        aud: aud.clone(),
                        iss: iss.clone(),
                        ..TokenSpec::default()
                    };
                    let t = mint(secret, &spec)?;
                    // In the query: the cheapest path for the server.
                    let sep = if url.contains('?') { '&' } else { '?' };
                    url = format!("{url}{sep}token={}", encode_query(&t));
                }
            }
            let mut b = ClientBuilder::new()
                .uri(&url)
                .map_err(|e| format!("bad URL {url}: {e}"))?;
            for (k, v) in headers {
                let value = hyper::header::HeaderValue::from_str(&v)
                    .map_err(|e| format!("bad {k} value: {e}"))?;
                b = b
                    .add_header(hyper::header::HeaderName::from_static(k), value)
                    .map_err(|e| e.to_string())?;
            }
            let (ws, _) = b
                .connect_on(stream)
                .await
                .map_err(|e| format!("upgrade: {e}"))?;
            Ok::<Ws, String>(ws)
        };
        let ws = tokio::time::timeout(self.connect_timeout, fut)
            .await
            .map_err(|_| "connect timed out".to_string())??;
        Ok((ws, started.elapsed()))
    }

    /// Sends the subscribe frame and, in wavecast mode, waits for its
    /// answer.
    pub async fn subscribe(&self, ws: &mut Ws, channel: &str) -> Result<Duration, String> {
        let started = Instant::now();
        let Some(tpl) = &self.sub_message else {
            return Ok(started.elapsed());
        };
        if tpl.is_empty() {
            return Ok(started.elapsed());
        }
        ws.send(Message::text(tpl.replace("{channel}", channel)))
            .await
            .map_err(|e| format!("send subscribe: {e}"))?;
        if !self.wavecast {
            return Ok(started.elapsed());
        }
        let wait = async {
            loop {
                let m = match ws.next().await {
                    None => return Err("closed before subscribe_success".to_string()),
                    Some(Err(e)) => return Err(format!("read: {e}")),
                    Some(Ok(m)) => m,
                };
                if let Some((code, reason)) = m.as_close() {
                    return Err(format!("closed {}: {reason}", u16::from(code)));
                }
                let Some(t) = m.as_text() else {
                    continue;
                };
                if t.contains("\"type\":\"subscribe_success\"") {
                    return Ok(());
                }
                if t.contains("\"type\":\"subscribe_failed\"") || t.contains("\"type\":\"error\"") {
                    return Err(format!("subscribe refused: {t}"));
                }
            }
        };
        tokio::time::timeout(self.connect_timeout, wait)
            .await
            .map_err(|_| "subscribe timed out".to_string())??;
        Ok(started.elapsed())
    }
}

/// State shared by every subscriber of a pool.
pub struct Shared {
    shards: Vec<Mutex<Histogram<u64>>>,
    connect_us: Mutex<Histogram<u64>>,
    subscribe_us: Mutex<Histogram<u64>>,
    pub ready: AtomicU64,
    pub failed: AtomicU64,
    pub received: AtomicU64,
    /// Bytes of every frame received after subscribing.
    pub received_bytes: AtomicU64,
    pub unique: AtomicU64,
    /// Subscribers that have seen a readiness probe (seq 0).
    pub probed: AtomicU64,
    seq_gaps: AtomicU64,
    duplicates: AtomicU64,
    offset_gaps: AtomicU64,
    dropped: AtomicU64,
    closed_early: AtomicU64,
    rare: Mutex<PoolReport>,
}

impl Shared {
    fn new(shards: usize) -> Shared {
        Shared {
            shards: (0..shards.max(1))
                .map(|_| Mutex::new(histogram()))
                .collect(),
            connect_us: Mutex::new(histogram()),
            subscribe_us: Mutex::new(histogram()),
            ready: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            received: AtomicU64::new(0),
            received_bytes: AtomicU64::new(0),
            unique: AtomicU64::new(0),
            probed: AtomicU64::new(0),
            seq_gaps: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            offset_gaps: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            closed_early: AtomicU64::new(0),
            rare: Mutex::new(PoolReport::default()),
        }
    }

    fn error(&self, e: String) {
        if let Ok(mut r) = self.rare.lock() {
            r.error(e);
        }
    }

    fn close_code(&self, code: String) {
        if let Ok(mut r) = self.rare.lock() {
            *r.close_codes.entry(code).or_default() += 1;
        }
    }
}

fn lock_record(m: &Mutex<Histogram<u64>>, v: u64) {
    if let Ok(mut h) = m.lock() {
        record(&mut h, v);
    }
}

/// How far out of order publications may arrive (publishes in flight at
/// once reach the server in any order) and still count as on time.
const WINDOW: u64 = 4096;

/// Per-subscriber tracking of which `seq`s arrived: every `seq` below
/// `base` arrived or was counted as a gap; `seen` holds the window above
/// it, a bit per `seq`.
struct Order {
    base: u64,
    seen: Box<[u64; (WINDOW / 64) as usize]>,
    last_offset: Option<u64>,
}

impl Default for Order {
    fn default() -> Self {
        Order {
            base: 1,
            seen: Box::new([0; (WINDOW / 64) as usize]),
            last_offset: None,
        }
    }
}

impl Order {
    fn bit(seq: u64) -> (usize, u64) {
        let i = seq % WINDOW;
        ((i / 64) as usize, 1 << (i % 64))
    }

    fn is_set(&self, seq: u64) -> bool {
        let (w, m) = Order::bit(seq);
        self.seen[w] & m != 0
    }

    fn set(&mut self, seq: u64, on: bool) {
        let (w, m) = Order::bit(seq);
        if on {
            self.seen[w] |= m;
        } else {
            self.seen[w] &= !m;
        }
    }

    /// Applies one publication; true when it is new.
    fn see(&mut self, seq: u64, offset: Option<u64>, shared: &Shared) -> bool {
        if seq < self.base || (seq < self.base + WINDOW && self.is_set(seq)) {
            shared.duplicates.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        // Slide the window up to `seq`: what it passes and never came is
        // a gap.
        while seq >= self.base + WINDOW {
            if !self.is_set(self.base) {
                shared.seq_gaps.fetch_add(1, Ordering::Relaxed);
            }
            self.set(self.base, false);
            self.base += 1;
        }
        self.set(seq, true);
        while self.is_set(self.base) {
            self.set(self.base, false);
            self.base += 1;
        }
        if let Some(o) = offset {
            match self.last_offset {
                Some(prev) if o <= prev => {}
                Some(prev) => {
                    if o > prev + 1 {
                        shared
                            .offset_gaps
                            .fetch_add(o - prev - 1, Ordering::Relaxed);
                    }
                    self.last_offset = Some(o);
                }
                None => self.last_offset = Some(o),
            }
        }
        true
    }
}

/// A pool of subscribers in this process.
pub struct LocalPool {
    pub shared: Arc<Shared>,
    pub size: u64,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl LocalPool {
    /// Starts `n` subscribers numbered from `first_index`; subscriber `i`
    /// takes `channels[i % len]`. At most `concurrency` connect at once.
    pub fn start(
        target: Arc<Target>,
        n: u64,
        first_index: u64,
        channels: Arc<Vec<String>>,
        concurrency: usize,
    ) -> LocalPool {
        let shards = std::thread::available_parallelism()
            .map(|p| p.get())
            .unwrap_or(1)
            * 8;
        let shared = Arc::new(Shared::new(shards));
        let (stop, stop_rx) = watch::channel(false);
        let gate = Arc::new(Semaphore::new(concurrency.max(1)));
        let tasks = (0..n)
            .map(|i| {
                let (target, shared, gate, channels) = (
                    target.clone(),
                    shared.clone(),
                    gate.clone(),
                    channels.clone(),
                );
                let stop_rx = stop_rx.clone();
                tokio::spawn(async move {
                    let index = first_index + i;
                    let channel = channels
                        .get((index as usize) % channels.len().max(1))
                        .cloned()
                        .unwrap_or_default();
                    subscriber(target, shared, gate, stop_rx, index, channel).await
                })
            })
            .collect();
        LocalPool {
            shared,
            size: n,
            stop,
            tasks,
        }
    }

    /// Subscribers done connecting (ready or failed).
    pub fn settled(&self) -> u64 {
        self.shared.ready.load(Ordering::Relaxed) + self.shared.failed.load(Ordering::Relaxed)
    }

    /// Waits until every subscriber is ready or failed.
    pub async fn wait_ready(&self, bound: Duration) -> bool {
        let deadline = Instant::now() + bound;
        while self.settled() < self.size {
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    /// Waits until `unique` reaches `expected` or `drain` passes, then
    /// reports; the latency histograms restart empty.
    pub async fn report(&self, expected: u64, drain: Duration) -> PoolReport {
        let deadline = Instant::now() + drain;
        while self.shared.unique.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.snapshot(true)
    }

    /// The pool's counters now.
    pub fn snapshot(&self, take_latency: bool) -> PoolReport {
        snapshot(&self.shared, self.size, take_latency)
    }

    /// Closes every connection and waits (bounded) for the tasks.
    pub async fn stop(self) -> PoolReport {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(15), async {
            for t in self.tasks {
                let _ = t.await;
            }
        })
        .await;
        snapshot(&self.shared, self.size, false)
    }
}

/// A pool's counters; `take_latency` moves the latency histograms out
/// (they restart empty).
fn snapshot(s: &Shared, size: u64, take_latency: bool) -> PoolReport {
    let mut r = s.rare.lock().map(|r| r.clone()).unwrap_or_default();
    let mut lat = histogram();
    if take_latency {
        for m in &s.shards {
            if let Ok(mut h) = m.lock() {
                let _ = lat.add(&*h);
                h.reset();
            }
        }
    }
    let dump = |m: &Mutex<Histogram<u64>>| m.lock().map(|h| HistDump::of(&h)).unwrap_or_default();
    r.connections = size;
    r.connected = s.ready.load(Ordering::Relaxed);
    r.connect_failed = s.failed.load(Ordering::Relaxed);
    r.connect_us = dump(&s.connect_us);
    r.subscribe_us = dump(&s.subscribe_us);
    r.latency_us = HistDump::of(&lat);
    r.received = s.received.load(Ordering::Relaxed);
    r.received_bytes = s.received_bytes.load(Ordering::Relaxed);
    r.unique = s.unique.load(Ordering::Relaxed);
    r.seq_gaps = s.seq_gaps.load(Ordering::Relaxed);
    r.duplicates = s.duplicates.load(Ordering::Relaxed);
    r.offset_gaps = s.offset_gaps.load(Ordering::Relaxed);
    r.dropped_notices = s.dropped.load(Ordering::Relaxed);
    r.closed_early = s.closed_early.load(Ordering::Relaxed);
    r.cpu_s = super::procfs::read("self").map(|p| p.cpu_s).unwrap_or(0.0);
    r
}

/// One subscriber: connect, subscribe, then measure until told to stop.
async fn subscriber(
    target: Arc<Target>,
    shared: Arc<Shared>,
    gate: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
    index: u64,
    channel: String,
) {
    let permit = gate.acquire_owned().await;
    let Some(mut ws) = open(&target, &shared, index, &channel).await else {
        return;
    };
    drop(permit);
    shared.ready.fetch_add(1, Ordering::Relaxed);
    let mut reader = Reader {
        target: &target,
        shared: &shared,
        shard: &shared.shards[(index as usize) % shared.shards.len()],
        order: Order::default(),
        probed: false,
    };
    if reader.measure(&mut ws, &mut stop).await {
        // Close politely, but do not wait long for the server's answer.
        let _ = tokio::time::timeout(Duration::from_secs(2), ws.close()).await;
    }
}

/// Connects and subscribes, recording both times; `None` (counted as a
/// failure) when either fails.
async fn open(target: &Target, shared: &Shared, index: u64, channel: &str) -> Option<Ws> {
    let opened = async {
        let (mut ws, took) = target.connect(index, channel).await?;
        lock_record(&shared.connect_us, took.as_micros() as u64);
        let took = target.subscribe(&mut ws, channel).await?;
        lock_record(&shared.subscribe_us, took.as_micros() as u64);
        Ok::<Ws, String>(ws)
    }
    .await;
    match opened {
        Ok(ws) => Some(ws),
        Err(e) => {
            shared.failed.fetch_add(1, Ordering::Relaxed);
            shared.error(e);
            None
        }
    }
}

/// A ready subscriber's reading side.
struct Reader<'a> {
    target: &'a Target,
    shared: &'a Shared,
    shard: &'a Mutex<Histogram<u64>>,
    order: Order,
    probed: bool,
}

impl Reader<'_> {
    /// Reads until told to stop (true) or until the connection ends
    /// (false, counted as closed early).
    async fn measure(&mut self, ws: &mut Ws, stop: &mut watch::Receiver<bool>) -> bool {
        loop {
            tokio::select! {
                biased;
                _ = stop.changed() => return true,
                m = ws.next() => {
                    let ended = match m {
                        None => Some("eof".to_string()),
                        Some(Err(e)) => {
                            self.shared.error(format!("read: {e}"));
                            None
                        }
                        Some(Ok(m)) => match m.as_close() {
                            Some((code, reason)) => Some(format!("{} {reason}", u16::from(code))),
                            None => {
                                if self.on_frame(ws, &m).await {
                                    continue;
                                }
                                None
                            }
                        },
                    };
                    self.shared.closed_early.fetch_add(1, Ordering::Relaxed);
                    if let Some(code) = ended {
                        self.shared.close_code(code);
                    }
                    return false;
                }
            }
        }
    }

    /// One frame; false when answering it failed (the connection is gone).
    async fn on_frame(&mut self, ws: &mut Ws, m: &Message) -> bool {
        let bytes: &[u8] = m.as_payload();
        self.shared
            .received_bytes
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        if let Some(s) = scan(bytes) {
            if s.seq == 0 {
                if !self.probed {
                    self.probed = true;
                    self.shared.probed.fetch_add(1, Ordering::Relaxed);
                }
                return true;
            }
            let now = now_micros();
            self.shared.received.fetch_add(1, Ordering::Relaxed);
            if self.order.see(s.seq, s.offset, self.shared) {
                self.shared.unique.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut h) = self.shard.lock() {
                    record(&mut h, now.saturating_sub(s.ts_us));
                }
            }
        } else if self.target.wavecast {
            let text = m.as_text().unwrap_or("");
            if text.starts_with("{\"type\":\"heartbeat\"") {
                return ws.send(Message::text(r#"{"type":"pong"}"#)).await.is_ok();
            }
            if text.starts_with("{\"type\":\"dropped\"") {
                let n = super::payload::field_u64(bytes, b"\"count\":").unwrap_or(1);
                self.shared.dropped.fetch_add(n, Ordering::Relaxed);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seqs: &[u64]) -> (Vec<bool>, u64, u64) {
        let shared = Shared::new(1);
        let mut o = Order::default();
        let fresh = seqs.iter().map(|&s| o.see(s, None, &shared)).collect();
        (
            fresh,
            shared.seq_gaps.load(Ordering::Relaxed),
            shared.duplicates.load(Ordering::Relaxed),
        )
    }

    #[test]
    fn order_tolerates_reordering_and_finds_duplicates_and_gaps() {
        assert_eq!(run(&[1, 3, 2, 4]), (vec![true; 4], 0, 0));
        assert_eq!(run(&[2, 1, 2, 1]), (vec![true, true, false, false], 0, 2));
        // 2 never comes: it becomes a gap once the window passes it.
        assert_eq!(run(&[1, 3, 3 + WINDOW]), (vec![true; 3], 1, 0));
        assert_eq!(run(&[1, 3 + WINDOW, 3]), (vec![true, true, false], 2, 1));
    }
}
