//! What every scenario needs ([`Ctx`]): the settings, where subscribers
//! connect and publishers post, the progress line's counters and the
//! bench's self-monitor; built once per process from the settings.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wavecast_client::config::{http_base, ws_url};
use wavecast_client::HttpApi;

use super::args::Settings;
use super::conn::{Auth, Target};
use super::monitor::Monitor;
use super::pools::{self, Pools};
use super::procfs;
use super::publisher::Publisher;

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
        let progress = pools.progress_handle();
        self.monitor.watch(Box::new(move || progress.get().bytes));
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

    pub fn line(&self, last_unique: &mut u64, last_at: &mut Instant) -> String {
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

pub async fn context(args: Settings, raw_args: Vec<String>) -> Result<Ctx, String> {
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
            (Some(s), _, _) => Auth::JwtSecret {
                secret: s.clone(),
                aud: args.jwt_aud.clone(),
                iss: args.jwt_iss.clone(),
            },
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
            offer_deflate: args.offer_deflate,
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
