//! The scale-out run: subscribers spread over the nodes by the workers,
//! publishes on random nodes, and the report (see the crate docs).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::cluster::Cluster;
use crate::http::HttpConn;
use crate::stats::{now_micros, quantile, r1, Hist};
use crate::worker::MAX_PER_WORKER;
use crate::{procs, Opts};

/// The run's settings.
struct RunCfg {
    subscribers: u64,
    nodes: usize,
    workers: u64,
    src_ips: u64,
    publishes: u64,
    interval: Duration,
    size: usize,
    drain: Duration,
    deadline: Duration,
    max_connections: u64,
    concurrency: u64,
    bin: PathBuf,
    channel: String,
    keep: bool,
}

impl RunCfg {
    fn from_opts(o: &Opts) -> Result<RunCfg, String> {
        let subscribers = o.num("subscribers", 10_000)?;
        let nodes = o.num("nodes", 6)?.max(1);
        let workers = o
            .num("workers", subscribers.div_ceil(17_000).max(1))?
            .max(1);
        if subscribers.div_ceil(workers) > MAX_PER_WORKER {
            return Err(format!(
                "{} subscribers per worker pass the open-file limit: use --workers {}",
                subscribers.div_ceil(workers),
                subscribers.div_ceil(MAX_PER_WORKER)
            ));
        }
        let share = subscribers.div_ceil(nodes);
        let max_connections = o.num("max-connections", share + share / 10 + 100)?;
        if max_connections > 19_500 {
            return Err(format!(
                "{share} subscribers per node need max_connections {max_connections}, past the 20,000 open files a process may hold here: use more --nodes"
            ));
        }
        let bin = o
            .get("wavecast")
            .map(PathBuf::from)
            .unwrap_or_else(procs::default_wavecast_bin);
        if !bin.exists() {
            return Err(format!(
                "{} not found: cargo build --release -p wavecast (or pass --wavecast PATH)",
                bin.display()
            ));
        }
        Ok(RunCfg {
            subscribers,
            nodes: nodes as usize,
            workers,
            src_ips: o.num("src-ips", 16)?.min(250),
            publishes: o.num("publishes", 20)?,
            interval: Duration::from_millis(o.num("interval-ms", 1000)?),
            size: o.num("size", 100)? as usize,
            drain: Duration::from_secs(o.num("drain-s", 30)?),
            deadline: Duration::from_secs(o.num("deadline-s", 900)?),
            max_connections,
            concurrency: o.num("connect-concurrency", 100)?,
            bin,
            channel: o.get("channel").unwrap_or("scaleout").to_string(),
            keep: o.get("keep").is_some_and(|v| v == "true"),
        })
    }

    /// How long the workers may take to connect.
    fn connect_bound(&self) -> Duration {
        Duration::from_secs(120 + self.subscribers / 500)
    }
}

pub fn main(o: &Opts) -> Result<Value, String> {
    let cfg = RunCfg::from_opts(o)?;
    let dir = std::env::temp_dir().join(format!("wavecast-scaleout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let r = rt.block_on(run(&cfg, &dir));
    if cfg.keep {
        eprintln!("redis_scaleout: configs and logs kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    r
}

type Lines = mpsc::UnboundedReceiver<(usize, Value)>;

async fn run(cfg: &RunCfg, dir: &std::path::Path) -> Result<Value, String> {
    let load_start = procs::loadavg();
    let mut c = Cluster::start(dir, &cfg.bin, cfg.nodes, cfg.max_connections, cfg.deadline)?;
    eprintln!(
        "redis on {}, {} nodes on {:?}; {} workers connecting {} subscribers",
        c.redis_port, cfg.nodes, c.ports, cfg.workers, cfg.subscribers
    );
    let (tx, mut lines) = mpsc::unbounded_channel();
    let connect_started = Instant::now();
    let ports: Vec<String> = c.ports.iter().map(u16::to_string).collect();
    for i in 0..cfg.workers {
        let args: Vec<String> = [
            ("index", i.to_string()),
            ("workers", cfg.workers.to_string()),
            ("subscribers", cfg.subscribers.to_string()),
            ("ports", ports.join(",")),
            ("src-ips", cfg.src_ips.to_string()),
            ("channel", cfg.channel.clone()),
            ("connect-concurrency", cfg.concurrency.to_string()),
            ("connect-bound-s", cfg.connect_bound().as_secs().to_string()),
        ]
        .into_iter()
        .flat_map(|(k, v)| [format!("--{k}"), v])
        .collect();
        c.start_worker(i as usize, &args, tx.clone())?;
    }
    drop(tx);
    let connect_start = c.snapshot();
    let connected = wait_ready(&mut lines, cfg).await?;
    let connect_s = connect_started.elapsed().as_secs_f64();
    let connect_cpu = connect_start.cpu_until(&c.snapshot());
    let ready = connected["ready"].as_u64().unwrap_or(0);
    eprintln!(
        "{ready}/{} subscribers ready in {connect_s:.1} s",
        cfg.subscribers
    );
    let before = c.snapshot();
    let published = publish_all(cfg, &c.ports).await;
    let ok_count = published.iter().filter(|p| p.ok).count() as u64;
    let drained = drain(&mut lines, cfg, ready * ok_count).await;
    let window = before.cpu_until(&c.snapshot());
    c.stop_workers();
    let results = collect_results(&mut lines, cfg.workers).await;
    let mut report = summarize(cfg, ready, &published, &results);
    report["connect"] = json!({
        "seconds": r1(connect_s),
        "per_second": (ready as f64 / connect_s.max(1e-3)).round(),
        "failed": connected["failed"],
        "errors": connected["errors"],
        "cpu": connect_cpu["cpu"],
    });
    report["drained_before_timeout"] = json!(drained);
    report["publishing_window"] = window;
    report["load1_at_start"] = json!(load_start);
    print_summary(&report);
    Ok(report)
}

/// Waits for every worker's `ready` line; returns the totals.
async fn wait_ready(lines: &mut Lines, cfg: &RunCfg) -> Result<Value, String> {
    let deadline = tokio::time::Instant::now() + cfg.connect_bound() + Duration::from_secs(30);
    let (mut seen, mut ready, mut failed, mut errors) = (0, 0, 0, Vec::new());
    while seen < cfg.workers {
        let msg = tokio::time::timeout_at(deadline, lines.recv()).await;
        let (i, v) = match msg {
            Ok(Some(m)) => m,
            Ok(None) => return Err("every worker exited before reporting".into()),
            Err(_) => return Err(format!("{seen}/{} workers reported in time", cfg.workers)),
        };
        if v.get("ready").is_none() {
            continue;
        }
        seen += 1;
        ready += v["ready"].as_u64().unwrap_or(0);
        failed += v["failed"].as_u64().unwrap_or(0) + v["pending"].as_u64().unwrap_or(0);
        for e in v["errors"].as_array().into_iter().flatten() {
            errors.push(json!(format!("worker {i}: {}", e.as_str().unwrap_or(""))));
        }
    }
    Ok(json!({"ready": ready, "failed": failed, "errors": errors}))
}

/// One publish as the coordinator saw it.
struct Sent {
    seq: u64,
    node: usize,
    ok: bool,
    http_ms: f64,
    error: Option<String>,
}

/// Publishes `cfg.publishes` times on random nodes, `cfg.interval` apart.
async fn publish_all(cfg: &RunCfg, ports: &[u16]) -> Vec<Sent> {
    let mut conns: Vec<HttpConn> = ports
        .iter()
        .map(|p| HttpConn::new(std::net::SocketAddr::from(([127, 0, 0, 1], *p))))
        .collect();
    let pad = "x".repeat(cfg.size.saturating_sub(60));
    let start = tokio::time::Instant::now();
    let mut out = Vec::new();
    for seq in 0..cfg.publishes {
        tokio::time::sleep_until(start + cfg.interval * seq as u32).await;
        let node = fastrand::usize(..conns.len());
        let body = json!({
            "channel": cfg.channel,
            "data": {"scaleout_seq": seq, "scaleout_t": now_micros(), "pad": pad},
            "idempotency_key": format!("scaleout-{}-{seq}", std::process::id()),
        })
        .to_string();
        let t = Instant::now();
        let mut r = conns[node].post("/api/publish", body.as_bytes()).await;
        if r.is_err() {
            // The node may have closed the idle keep-alive connection:
            // retry once on a new one (the key keeps it from publishing
            // twice).
            r = conns[node].post("/api/publish", body.as_bytes()).await;
        }
        let http_ms = t.elapsed().as_secs_f64() * 1000.0;
        let (ok, error) = match r {
            Ok((200, _)) => (true, None),
            Ok((s, b)) => (false, Some(format!("{s}: {}", String::from_utf8_lossy(&b)))),
            Err(e) => (false, Some(e)),
        };
        out.push(Sent {
            seq,
            node,
            ok,
            http_ms,
            error,
        });
    }
    out
}

/// Waits until the workers have `expected` deliveries, at most
/// `cfg.drain` after the last publish; true when they did.
async fn drain(lines: &mut Lines, cfg: &RunCfg, expected: u64) -> bool {
    let deadline = tokio::time::Instant::now() + cfg.drain;
    let mut progress: HashMap<usize, u64> = HashMap::new();
    loop {
        if progress.values().sum::<u64>() >= expected {
            return true;
        }
        match tokio::time::timeout_at(deadline, lines.recv()).await {
            Ok(Some((i, v))) => {
                if let Some(n) = v["progress"].as_u64() {
                    progress.insert(i, n);
                }
            }
            _ => return false,
        }
    }
}

/// Each worker's `result`, by worker index (bounded wait).
async fn collect_results(lines: &mut Lines, workers: u64) -> HashMap<usize, Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut out = HashMap::new();
    while (out.len() as u64) < workers {
        match tokio::time::timeout_at(deadline, lines.recv()).await {
            Ok(Some((i, mut v))) => {
                if v.get("result").is_some() {
                    out.insert(i, v["result"].take());
                }
            }
            _ => break,
        }
    }
    out
}

/// The report's figures from what the workers saw.
fn summarize(cfg: &RunCfg, ready: u64, sent: &[Sent], results: &HashMap<usize, Value>) -> Value {
    let mut per_seq: HashMap<u64, (u64, u64)> = HashMap::new();
    let mut hist = Hist::default();
    let (mut received, mut closed) = (0u64, 0u64);
    for r in results.values() {
        received += r["received"].as_u64().unwrap_or(0);
        closed += r["closed"].as_u64().unwrap_or(0);
        hist.merge_sparse(&r["hist"]);
        for e in r["per_seq"].as_array().into_iter().flatten() {
            let (seq, n, max) = (e[0].as_u64(), e[1].as_u64(), e[2].as_u64());
            let slot = per_seq.entry(seq.unwrap_or(0)).or_insert((0, 0));
            slot.0 += n.unwrap_or(0);
            slot.1 = slot.1.max(max.unwrap_or(0));
        }
    }
    let ok: Vec<&Sent> = sent.iter().filter(|s| s.ok).collect();
    let expected = ready * ok.len() as u64;
    let mut reach: Vec<f64> = ok
        .iter()
        .filter_map(|s| per_seq.get(&s.seq))
        .filter(|(n, _)| *n >= ready)
        .map(|(_, max)| *max as f64 / 1000.0)
        .collect();
    let complete = reach.len();
    let each: Vec<Value> = reach.iter().map(|x| json!(r1(*x))).collect();
    let mut http: Vec<f64> = ok.iter().map(|s| s.http_ms).collect();
    let nodes_used: Vec<usize> = sent.iter().map(|s| s.node).collect();
    let errors: Vec<&str> = sent
        .iter()
        .filter_map(|s| s.error.as_deref())
        .take(5)
        .collect();
    let pct = |x: u64, of: u64| {
        if of == 0 {
            0.0
        } else {
            x as f64 / of as f64 * 100.0
        }
    };
    json!({
        "ok": ready == cfg.subscribers && ok.len() as u64 == cfg.publishes && received == expected,
        "subscribers": cfg.subscribers,
        "ready": ready,
        "nodes": cfg.nodes,
        "workers": cfg.workers,
        "src_ips": cfg.src_ips,
        "max_connections_per_node": cfg.max_connections,
        "publishes": cfg.publishes,
        "publish_failed": sent.len() - ok.len(),
        "publish_errors": errors,
        "interval_ms": cfg.interval.as_millis() as u64,
        "payload_bytes": cfg.size,
        "published_on_nodes": nodes_used,
        "delivered": received,
        "expected": expected,
        "delivered_pct": (pct(received, expected) * 1000.0).round() / 1000.0,
        "subscribers_closed": closed,
        "reach_all_ms": {
            "p50": quantile(&mut reach, 0.5).map(r1),
            "p99": quantile(&mut reach, 0.99).map(r1),
            "max": quantile(&mut reach, 1.0).map(r1),
            "publications_reaching_all": complete,
            "each": each,
        },
        "delivery_ms": {
            "p50": hist.quantile_ms(0.5),
            "p99": hist.quantile_ms(0.99),
            "max": hist.quantile_ms(1.0),
        },
        "publish_http_ms": {
            "p50": quantile(&mut http, 0.5).map(r1),
            "p99": quantile(&mut http, 0.99).map(r1),
        },
    })
}

fn print_summary(r: &Value) {
    let w = &r["publishing_window"];
    eprintln!(
        "{} subscribers ({} ready) on {} nodes: delivered {}% ({} of {}); reach-all p50 {} ms, p99 {} ms ({} of {} publications reached all); deliveries p50 {} ms p99 {} ms",
        r["subscribers"], r["ready"], r["nodes"], r["delivered_pct"], r["delivered"], r["expected"],
        r["reach_all_ms"]["p50"], r["reach_all_ms"]["p99"],
        r["reach_all_ms"]["publications_reaching_all"], r["publishes"],
        r["delivery_ms"]["p50"], r["delivery_ms"]["p99"],
    );
    if let Some(cpu) = w["cpu"].as_object() {
        let parts: Vec<String> = cpu
            .iter()
            .filter_map(|(k, v)| v.get("cores").map(|c| format!("{k} {c}")))
            .collect();
        eprintln!("CPU (cores) over {} s: {}", w["window_s"], parts.join(", "));
    }
    eprintln!("machine: {}", w["machine"]);
}
