//! `publish-rate`: how many publishes per second one node (or several)
//! makes into Redis through `POST /api/publish`, with `--concurrency`
//! requests in flight on as many keep-alive connections, spread over
//! `--channels` channels that keep history (the default namespace). One
//! second of warm-up is not counted. Reports publishes/s and the CPU of
//! the nodes, of Redis and of this process (the load generator).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::cluster::Cluster;
use crate::http::HttpConn;
use crate::stats::r1;
use crate::{procs, Opts};

pub fn main(o: &Opts) -> Result<Value, String> {
    let nodes = o.num("nodes", 1)?.max(1) as usize;
    let concurrency = o.num("concurrency", 256)?.max(1);
    let channels = o.num("channels", 16)?.max(1);
    let seconds = o.num("seconds", 10)?.max(1);
    let size = o.num("size", 100)? as usize;
    let bin = o
        .get("wavecast")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(procs::default_wavecast_bin);
    let dir = std::env::temp_dir().join(format!("wavecast-pubrate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let deadline = Duration::from_secs(seconds + 120);
    let cluster = Cluster::start(&dir, &bin, nodes, 1000, deadline)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let load = Load {
        concurrency,
        channels,
        size,
        seconds,
    };
    let r = rt.block_on(measure(&cluster, &load));
    drop(cluster);
    let _ = std::fs::remove_dir_all(&dir);
    let mut r = r?;
    r["wavecast"] = json!(bin.display().to_string());
    Ok(r)
}

struct Load {
    concurrency: u64,
    channels: u64,
    size: usize,
    seconds: u64,
}

async fn measure(c: &Cluster, load: &Load) -> Result<Value, String> {
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let data = json!({"pad": "x".repeat(load.size.saturating_sub(12))}).to_string();
    let mut tasks = Vec::new();
    for i in 0..load.concurrency {
        let port = c.ports[(i % c.ports.len() as u64) as usize];
        let body = format!(
            "{{\"channel\":\"rate{}\",\"data\":{data}}}",
            i % load.channels
        );
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = HttpConn::new(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
            let mut first_error = None;
            while !stop.load(Ordering::Relaxed) {
                match conn.post("/api/publish", body.as_bytes()).await {
                    Ok((200, _)) => ok.fetch_add(1, Ordering::Relaxed),
                    other => {
                        first_error.get_or_insert_with(|| format!("{other:?}"));
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
            first_error
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut pids = c.named_pids();
    pids.push(("generator".into(), std::process::id()));
    let (ok0, failed0) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    let before = crate::cluster::Snapshot::take(pids.clone());
    tokio::time::sleep(Duration::from_secs(load.seconds)).await;
    let (ok1, failed1) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    let window = before.cpu_until(&crate::cluster::Snapshot::take(pids));
    stop.store(true, Ordering::Relaxed);
    let mut errors = Vec::new();
    for t in tasks {
        if let Ok(Some(e)) = t.await {
            if errors.len() < 3 {
                errors.push(e);
            }
        }
    }
    let secs = window["window_s"].as_f64().unwrap_or(load.seconds as f64);
    Ok(json!({
        "ok": failed1 == failed0 && ok1 > ok0,
        "nodes": c.ports.len(),
        "concurrency": load.concurrency,
        "channels": load.channels,
        "payload_bytes": load.size,
        "publishes": ok1 - ok0,
        "failed": failed1 - failed0,
        "errors": errors,
        "publishes_per_s": r1((ok1 - ok0) as f64 / secs),
        "window": window,
    }))
}
