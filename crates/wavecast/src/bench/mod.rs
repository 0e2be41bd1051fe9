//! `wavecast bench`: the load generator. Scenarios:
//!
//! - `fanout`: N subscribers on one channel, a publisher at R/s for T s:
//!   delivered vs expected, drop rate, latency percentiles, connect time,
//!   and the server's RSS and CPU seconds with `--server-pid`.
//! - `throughput`: raises the rate step by step until p99 passes a bound or
//!   delivery falls below the minimum; reports the maximum sustained
//!   deliveries per second.
//! - `connections`: N idle, authenticated, subscribed connections held for
//!   T s; the server's RSS per connection.
//! - `churn`: connect, subscribe, disconnect in a loop; connections/s.
//! - `mixed`: feed subscribers over several channels, churning users and
//!   users that leave and come back with recovery, at once.
//! - presets `a`, `b`, `c`: issue 9's tests A (connections), B (fanout)
//!   and C (throughput) with their sizes (see `args`).
//!
//! Payloads carry a sequence number and their scheduled send time (see
//! `payload`); subscribers measure latency and find gaps and duplicates.
//! The publisher keeps `--pub-concurrency` publishes in flight.
//! The result is one JSON object on stdout; a progress line goes to stderr.
//! Every result says whether the bench itself was the limit (`client`,
//! `client_bound`: see `monitor`), and a run that measured nothing
//! trustworthy exits non-zero after printing (see `verdict`).
//! With `--sub-url-template` and friends the same scenarios drive other
//! servers (uWebSockets.js, Nchan…: scripts/peers/).

mod args;
mod conn;
mod mixed;
mod monitor;
mod payload;
mod pools;
mod procfs;
mod publisher;
mod scenarios;
mod stats;
mod throughput;
mod verdict;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wavecast_client::config::{http_base, ws_url};
use wavecast_client::HttpApi;

pub use args::{BenchArgs, Scenario, Settings};
use conn::{Auth, Target};
use monitor::Monitor;
use pools::Pools;
use publisher::Publisher;

/// What every scenario needs.
pub struct Ctx {
    pub args: Settings,
    pub target: Arc<Target>,
    pub api: HttpApi,
    pub pub_url: String,
    pub pub_body: String,
    /// The arguments to hand to worker processes.
    pub worker_args: Vec<String>,
    pub status: Arc<Status>,
    /// The bench watching itself (parent process only).
    pub monitor: Arc<Monitor>,
}

impl Ctx {
    pub fn publisher(&self, channel: &str) -> Result<Publisher, String> {
        Publisher::new(
            self.api.clone(),
            &self.pub_url,
            &self.pub_body,
            channel,
            self.args.size,
        )
    }

    pub fn generic(&self) -> bool {
        !self.target.wavecast
    }

    /// The server's RSS and CPU seconds now, with `--server-pid`.
    pub fn server_stat(&self) -> Option<procfs::ProcStat> {
        procfs::read_all(&self.args.server_pid)
    }

    pub fn start_pools(&self, n: u64, channels: Vec<String>) -> Result<Pools, String> {
        let pools = Pools::start(
            self.target.clone(),
            n,
            Arc::new(channels),
            self.args.connect_concurrency,
            self.args.workers,
            &self.worker_args,
        )?;
        self.status.watch(&pools);
        self.monitor.watch(pools.progress_handle());
        self.monitor.add_children(pools.child_pids());
        Ok(pools)
    }

    /// How long connecting `n` subscribers may take.
    pub fn ready_bound(&self, n: u64) -> Duration {
        Duration::from_secs(60 + n / 200)
    }
}

/// What the progress line shows.
pub struct Status {
    scenario: &'static str,
    started: Instant,
    phase: Mutex<&'static str>,
    pub published: Arc<AtomicU64>,
    pub total: AtomicU64,
    pub cycles: AtomicU64,
    progress: Mutex<Option<pools::ProgressHandle>>,
}

impl Status {
    pub fn phase(&self, p: &'static str) {
        if let Ok(mut g) = self.phase.lock() {
            *g = p;
        }
    }

    fn watch(&self, pools: &Pools) {
        if let Ok(mut g) = self.progress.lock() {
            *g = Some(pools.progress_handle());
        }
    }

    fn line(&self, last_unique: &mut u64, last_at: &mut Instant) -> String {
        let phase = self.phase.lock().map(|g| *g).unwrap_or("");
        let p = self
            .progress
            .lock()
            .ok()
            .and_then(|g| g.as_ref().map(|p| p.get()))
            .unwrap_or_default();
        let (ready, unique) = (p.ready, p.unique);
        let now = Instant::now();
        let dt = now.duration_since(*last_at).as_secs_f64().max(1e-3);
        let per_s = (unique.saturating_sub(*last_unique)) as f64 / dt;
        *last_unique = unique;
        *last_at = now;
        format!(
            "[{} {:>6.1}s] {phase:<10} ready {ready}/{} published {} delivered {unique} ({per_s:.0}/s) cycles {}",
            self.scenario,
            self.started.elapsed().as_secs_f64(),
            self.total.load(Ordering::Relaxed),
            self.published.load(Ordering::Relaxed),
            self.cycles.load(Ordering::Relaxed),
        )
    }
}

/// Resolves the host:port of a ws:// or http:// URL.
async fn resolve(url: &str) -> Result<SocketAddr, String> {
    let rest = url
        .split_once("://")
        .map(|(_, r)| r)
        .ok_or_else(|| format!("{url:?} is not a URL"))?;
    let hostport = rest.split(['/', '?']).next().unwrap_or(rest);
    let hostport = if hostport.contains(':') && !hostport.ends_with(']') {
        hostport.to_string()
    } else {
        format!("{hostport}:80")
    };
    let found = tokio::net::lookup_host(hostport.as_str())
        .await
        .map_err(|e| format!("cannot resolve {hostport}: {e}"))?
        .find(SocketAddr::is_ipv4);
    found.ok_or_else(|| format!("{hostport} has no IPv4 address"))
}

async fn context(args: Settings, raw_args: Vec<String>) -> Result<Ctx, String> {
    let args_is_parent = args.worker_index.is_none();
    {
        let generic = args.sub_url_template.is_some();
        let url_template = match &args.sub_url_template {
            Some(t) => t.clone(),
            None => ws_url(&args.client.server),
        };
        let sub_message =
            if generic {
                args.sub_message_template.clone().filter(|m| !m.is_empty())
            } else {
                Some(args.sub_message_template.clone().unwrap_or_else(|| {
                    r#"{"type":"subscribe","channel":"{channel}","id":"b"}"#.into()
                }))
            };
        let auth = match (&args.jwt_secret, &args.client.token, &args.client.api_key) {
            (Some(s), _, _) => Auth::JwtSecret(s.clone()),
            (None, Some(t), _) => Auth::Token(t.clone()),
            (None, None, Some(k)) => Auth::ApiKey(k.clone()),
            _ => Auth::None,
        };
        let addr = resolve(&url_template).await?;
        let target = Arc::new(Target {
            url_template,
            sub_message,
            wavecast: !generic,
            addr,
            auth,
            src_ips: args.src_ips.min(254),
            connect_timeout: Duration::from_secs(30),
        });
        let api = HttpApi::new(&args.client.server, args.client.http_key.clone());
        let pub_url = args
            .pub_url_template
            .clone()
            .unwrap_or_else(|| format!("{}/api/publish", http_base(&args.client.server)));
        let pub_body = args
            .pub_body_template
            .clone()
            .unwrap_or_else(|| r#"{"channel":"{channel}","data":{data}}"#.into());
        let status = Arc::new(Status {
            scenario: args.scenario.name(),
            started: Instant::now(),
            phase: Mutex::new("starting"),
            published: Arc::new(AtomicU64::new(0)),
            total: AtomicU64::new(args.subscribers),
            cycles: AtomicU64::new(0),
            progress: Mutex::new(None),
        });
        Ok(Ctx {
            args,
            target,
            api,
            pub_url,
            pub_body,
            worker_args: raw_args,
            status,
            // Workers report to the parent, which watches them too.
            monitor: Monitor::start(args_is_parent),
        })
    }
}

/// Runs `wavecast bench`; prints the JSON result.
pub async fn run(args: BenchArgs) -> Result<(), String> {
    let args = args.resolve();
    args.check()?;
    // The arguments after `bench`, for worker processes.
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let raw: Vec<String> = match raw.iter().position(|a| a == "bench") {
        Some(i) => raw[i..].to_vec(),
        None => raw,
    };
    let ctx = context(args, raw).await?;
    if let Some(index) = ctx.args.worker_index {
        let channels = scenarios::channels_of(&ctx.args);
        return pools::worker_main(
            ctx.target.clone(),
            ctx.args.subscribers,
            ctx.args.workers,
            index,
            Arc::new(channels),
            ctx.args.connect_concurrency,
            ctx.ready_bound(ctx.args.subscribers),
        )
        .await;
    }
    let status = ctx.status.clone();
    let ticker = tokio::spawn(async move {
        let tty = std::io::stderr().is_terminal();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let (mut last_unique, mut last_at) = (0u64, Instant::now());
        tick.tick().await;
        loop {
            tick.tick().await;
            let line = status.line(&mut last_unique, &mut last_at);
            if tty {
                eprint!("\r{line}\x1b[K");
            } else {
                eprintln!("{line}");
            }
        }
    });
    let started = Instant::now();
    let result = match ctx.args.scenario {
        Scenario::Fanout => scenarios::fanout(&ctx).await,
        Scenario::Throughput => throughput::throughput(&ctx).await,
        Scenario::Connections => scenarios::connections(&ctx).await,
        Scenario::Churn => scenarios::churn(&ctx).await,
        Scenario::Mixed => mixed::mixed(&ctx).await,
        preset => Err(format!("internal: preset {preset:?} was not resolved")),
    };
    ticker.abort();
    ctx.monitor.stop();
    if std::io::stderr().is_terminal() {
        eprintln!();
    }
    let mut out = result?;
    out["wall_seconds"] = json!(round3(started.elapsed().as_secs_f64()));
    println!(
        "{}",
        serde_json::to_string_pretty(&out).unwrap_or_else(|_| out.to_string())
    );
    if out["client_bound"] == true {
        eprintln!(
            "wavecast bench: warning: client-bound, these figures are the load generator's limit, not the server's: {}",
            out["client_bound_reasons"]
        );
    }
    match verdict::failed(&out) {
        Some(msg) => Err(msg),
        None => Ok(()),
    }
}

/// Rounds to 3 decimals for the report.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// `{"pids","rss_kb_before","rss_kb_after","cpu_s"}` between two readings.
pub fn server_json(
    pids: &[u32],
    a: Option<procfs::ProcStat>,
    b: Option<procfs::ProcStat>,
) -> Value {
    match (pids, a, b) {
        ([], _, _) => Value::Null,
        (_, Some(a), Some(b)) => json!({
            "pids": pids,
            "rss_kb_before": a.rss_kb,
            "rss_kb_after": b.rss_kb,
            "cpu_s": round3(b.cpu_s - a.cpu_s),
        }),
        _ => json!({"pids": pids, "error": "cannot read /proc for these pids"}),
    }
}
