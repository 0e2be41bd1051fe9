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
//! - `streams`: N concurrent `/ws/stream_features` streams; whether the
//!   server holds their cadence (`streams`).
//!
//! Payloads carry a sequence number and their scheduled send time (see
//! `payload`); subscribers measure latency and find gaps and duplicates.
//! The result is one JSON object on stdout; a progress line goes to stderr.
//! With `--sub-url-template` and friends the same scenarios drive other
//! servers (Nchan, a Node ws server…).

mod conn;
mod payload;
mod pools;
mod procfs;
mod publisher;
mod scenarios;
mod stats;
mod streams;

pub use procfs::server_json;
pub use stats::round3;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wavecast_client::config::{http_base, ws_url};
use wavecast_client::HttpApi;

use crate::ClientOpts;
use conn::{Auth, Target};
use pools::Pools;
use publisher::Publisher;

/// The bench scenarios.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    Fanout,
    Throughput,
    Connections,
    Churn,
    Mixed,
    Streams,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Fanout => "fanout",
            Scenario::Throughput => "throughput",
            Scenario::Connections => "connections",
            Scenario::Churn => "churn",
            Scenario::Mixed => "mixed",
            Scenario::Streams => "streams",
        }
    }
}

#[derive(clap::Args, Clone, Debug)]
pub struct BenchArgs {
    #[arg(value_enum)]
    pub scenario: Scenario,
    #[command(flatten)]
    pub client: ClientOpts,
    /// Subscribers (connections; for churn, concurrent loops).
    #[arg(long, default_value_t = 100)]
    pub subscribers: u64,
    /// Publishes per second (per channel; throughput: the first step).
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// Seconds of publishing (connections: of holding; churn: of looping).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Payload bytes.
    #[arg(long, default_value_t = 100)]
    pub size: usize,
    #[arg(long, default_value = "bench")]
    pub channel: String,
    /// Channels of the mixed scenario's feed users.
    #[arg(long, default_value_t = 4)]
    pub channels: u64,
    /// Spread client source addresses over 127.0.0.1 ..= 127.0.0.N.
    #[arg(long, default_value_t = 0)]
    pub src_ips: u32,
    /// Worker processes sharing the subscribers (fanout, throughput,
    /// connections). Each process may hold at most 20,000 open files.
    #[arg(long, default_value_t = 1)]
    pub workers: u64,
    /// The server's process id: report its RSS and CPU seconds.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Mint a distinct HS256 JWT per connection with this secret (user
    /// `bench-<n>`), instead of --api-key / --token.
    #[arg(long)]
    pub jwt_secret: Option<String>,
    /// Connection attempts in flight at once.
    #[arg(long, default_value_t = 200)]
    pub connect_concurrency: usize,
    /// Seconds to wait for late deliveries after publishing.
    #[arg(long, default_value_t = 5.0)]
    pub drain: f64,
    /// Throughput: the p99 latency bound in ms.
    #[arg(long, default_value_t = 100.0)]
    pub p99_bound_ms: f64,
    /// Throughput: the least delivered fraction that passes.
    #[arg(long, default_value_t = 0.999)]
    pub min_delivery: f64,
    /// Throughput: rate multiplier between steps.
    #[arg(long, default_value_t = 1.5)]
    pub step_factor: f64,
    /// Throughput: seconds per step.
    #[arg(long, default_value_t = 5.0)]
    pub step_duration: f64,
    /// Throughput: the most steps.
    #[arg(long, default_value_t = 30)]
    pub max_steps: u32,
    /// Connections: seconds to let the server settle before reading RSS.
    #[arg(long, default_value_t = 2.0)]
    pub settle: f64,
    /// Generic mode: the subscribe URL, e.g. ws://127.0.0.1:8080/sub/{channel}.
    #[arg(long)]
    pub sub_url_template: Option<String>,
    /// Generic mode: the frame sent after connecting, e.g.
    /// {"type":"subscribe","channel":"{channel}"}; empty for none.
    #[arg(long)]
    pub sub_message_template: Option<String>,
    /// The publish URL, e.g. http://127.0.0.1:8080/pub/{channel}.
    #[arg(long)]
    pub pub_url_template: Option<String>,
    /// The publish body, e.g. {"channel":"{channel}","data":{data}} or {data}.
    #[arg(long)]
    pub pub_body_template: Option<String>,
    /// Streams: the grid side of each stream.
    #[arg(long, default_value_t = 64)]
    pub grid_size: u64,
    /// Streams: `update_interval_ms` of each stream.
    #[arg(long, default_value_t = 100)]
    pub interval_ms: u64,
    /// Streams: `steps_per_update` of each stream.
    #[arg(long, default_value_t = 1)]
    pub steps_per_update: u64,
    /// Streams: streams per connection (--subscribers counts streams).
    #[arg(long, default_value_t = 1)]
    pub streams_per_connection: u64,
    /// Streams: seconds between the last stream starting and measuring.
    #[arg(long, default_value_t = 3.0)]
    pub warmup: f64,
    /// Streams: the p99 lag bound in ms.
    #[arg(long, default_value_t = 50.0)]
    pub lag_bound_ms: f64,
    /// Internal: run as worker I of --workers.
    #[arg(long, hide = true)]
    pub worker_index: Option<u64>,
}

/// What every scenario needs.
pub struct Ctx {
    pub args: BenchArgs,
    pub target: Arc<Target>,
    pub api: HttpApi,
    pub pub_url: String,
    pub pub_body: String,
    /// The arguments to hand to worker processes.
    pub worker_args: Vec<String>,
    pub status: Arc<Status>,
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
        self.args
            .server_pid
            .and_then(|p| procfs::read(&p.to_string()))
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
        let (ready, unique, _) = self
            .progress
            .lock()
            .ok()
            .and_then(|g| g.as_ref().map(|p| p.get()))
            .unwrap_or((0, 0, 0));
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

async fn context(args: BenchArgs, raw_args: Vec<String>) -> Result<Ctx, String> {
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
        })
    }
}

fn check(args: &BenchArgs) -> Result<(), String> {
    if args.workers > 1
        && !matches!(
            args.scenario,
            Scenario::Fanout | Scenario::Throughput | Scenario::Connections
        )
    {
        return Err("--workers applies to fanout, throughput and connections".into());
    }
    let per_process = args.subscribers.div_ceil(args.workers.max(1));
    if per_process > 19_000 {
        return Err(format!(
            "{per_process} connections per process would pass the 20,000 open-file limit: use --workers {}",
            args.subscribers.div_ceil(19_000)
        ));
    }
    if args.rate < 0.0 || args.duration < 0.0 || args.step_factor <= 1.0 {
        return Err("--rate and --duration must be >= 0 and --step-factor > 1".into());
    }
    if args.sub_url_template.is_none()
        && (args.sub_message_template.is_some() || args.pub_body_template.is_some())
        && args.worker_index.is_none()
    {
        // Allowed, but say how it is read.
        eprintln!("wavecast bench: templates without --sub-url-template still speak the wavecast protocol");
    }
    Ok(())
}

/// Runs `wavecast bench`; prints the JSON result.
pub async fn run(args: BenchArgs) -> Result<(), String> {
    check(&args)?;
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
        Scenario::Throughput => scenarios::throughput(&ctx).await,
        Scenario::Connections => scenarios::connections(&ctx).await,
        Scenario::Churn => scenarios::churn(&ctx).await,
        Scenario::Mixed => scenarios::mixed(&ctx).await,
        Scenario::Streams => {
            let opts = streams_opts(&ctx);
            streams::streams(opts, |p| ctx.status.phase(p)).await
        }
    };
    ticker.abort();
    if std::io::stderr().is_terminal() {
        eprintln!();
    }
    let mut out = result?;
    out["wall_seconds"] = json!(round3(started.elapsed().as_secs_f64()));
    println!(
        "{}",
        serde_json::to_string_pretty(&out).unwrap_or_else(|_| out.to_string())
    );
    Ok(())
}

/// What the `streams` scenario takes from the command line.
fn streams_opts(ctx: &Ctx) -> streams::Opts {
    let a = &ctx.args;
    streams::Opts {
        server: a.client.server.clone(),
        target: (*ctx.target).clone(),
        streams: a.subscribers,
        per_connection: a.streams_per_connection.max(1),
        grid_size: a.grid_size,
        interval_ms: a.interval_ms,
        steps_per_update: a.steps_per_update,
        warmup: Duration::from_secs_f64(a.warmup.max(0.0)),
        duration: Duration::from_secs_f64(a.duration.max(0.0)),
        lag_bound_ms: a.lag_bound_ms,
        connect_concurrency: a.connect_concurrency.max(1),
        ready_bound: ctx.ready_bound(a.subscribers),
        server_pid: a.server_pid,
    }
}
