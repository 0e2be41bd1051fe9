//! Subscriber pools in this process or in worker processes (`--workers K`).
//!
//! A worker is this binary run again with `--worker-index I`: it opens its
//! share of the subscribers and talks JSON lines with the parent — on
//! stdout `{"ready"}`, `{"progress"}`, `{"report"}` and `{"final"}`; on
//! stdin `{"cmd":"report","expected","drain_ms"}` and `{"cmd":"stop"}`.
//! Each process holds at most its share of sockets, which keeps every
//! process below the open-file limit.

use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin};
use tokio::sync::mpsc;

use super::conn::{LocalPool, Shared, Target};
use super::stats::PoolReport;

/// The share of `total` subscribers of worker `index` of `workers`:
/// (count, first global index).
pub fn share(total: u64, workers: u64, index: u64) -> (u64, u64) {
    let workers = workers.max(1);
    let base = total / workers;
    let extra = total % workers;
    let count = base + u64::from(index < extra);
    let first = index * base + index.min(extra);
    (count, first)
}

/// Progress of a worker, from its `{"progress"}` lines.
#[derive(Default)]
pub struct Progress {
    ready: AtomicU64,
    unique: AtomicU64,
    probed: AtomicU64,
    bytes: AtomicU64,
}

/// A pool's progress at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Subscribers ready.
    pub ready: u64,
    /// Distinct bench publications received.
    pub unique: u64,
    /// Subscribers that have seen a readiness probe.
    pub probed: u64,
    /// Bytes received.
    pub bytes: u64,
}

/// A worker process running a pool.
pub struct ChildPool {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::UnboundedReceiver<Value>,
    progress: Arc<Progress>,
    connected: u64,
}

impl ChildPool {
    /// Runs this binary again with `args` (the parent's bench arguments)
    /// and `--worker-index index`.
    pub fn spawn(args: &[String], index: u64) -> Result<ChildPool, String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find myself: {e}"))?;
        let mut child = tokio::process::Command::new(exe)
            .args(args)
            .arg("--worker-index")
            .arg(index.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start worker {index}: {e}"))?;
        let stdin = child.stdin.take().ok_or("worker stdin")?;
        let stdout = child.stdout.take().ok_or("worker stdout")?;
        let progress = Arc::new(Progress::default());
        let (tx, lines) = mpsc::unbounded_channel();
        {
            let progress = progress.clone();
            tokio::spawn(async move {
                let mut rd = BufReader::new(stdout).lines();
                while let Ok(Some(line)) = rd.next_line().await {
                    let Ok(v) = serde_json::from_str::<Value>(&line) else {
                        continue;
                    };
                    if let Some(p) = v.get("progress") {
                        let get = |k: &str| p[k].as_u64().unwrap_or(0);
                        progress.ready.store(get("ready"), Ordering::Relaxed);
                        progress.unique.store(get("unique"), Ordering::Relaxed);
                        progress.probed.store(get("probed"), Ordering::Relaxed);
                        progress.bytes.store(get("bytes"), Ordering::Relaxed);
                    } else if tx.send(v).is_err() {
                        break;
                    }
                }
            });
        }
        Ok(ChildPool {
            child,
            stdin,
            lines,
            progress,
            connected: 0,
        })
    }

    async fn wait_for(&mut self, key: &str, bound: Duration) -> Result<Value, String> {
        let v = tokio::time::timeout(bound, self.lines.recv())
            .await
            .map_err(|_| format!("a worker sent no {key:?} in time"))?
            .ok_or_else(|| format!("a worker ended before {key:?}"))?;
        v.get(key)
            .cloned()
            .ok_or_else(|| format!("a worker sent {v} instead of {key:?}"))
    }

    async fn command(&mut self, cmd: Value) -> Result<(), String> {
        let mut line = cmd.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .await
            .map_err(|e| format!("worker stdin: {e}"))
    }

    fn parse_report(v: Value) -> Result<PoolReport, String> {
        serde_json::from_value(v).map_err(|e| format!("bad worker report: {e}"))
    }
}

/// Reads a pool's progress from elsewhere (the progress line).
#[derive(Clone)]
pub enum ProgressHandle {
    Local(Arc<Shared>),
    Children(Vec<Arc<Progress>>),
}

impl ProgressHandle {
    pub fn get(&self) -> Snapshot {
        match self {
            ProgressHandle::Local(s) => Snapshot {
                ready: s.ready.load(Ordering::Relaxed),
                unique: s.unique.load(Ordering::Relaxed),
                probed: s.probed.load(Ordering::Relaxed),
                bytes: s.received_bytes.load(Ordering::Relaxed),
            },
            ProgressHandle::Children(c) => c.iter().fold(Snapshot::default(), |a, p| Snapshot {
                ready: a.ready + p.ready.load(Ordering::Relaxed),
                unique: a.unique + p.unique.load(Ordering::Relaxed),
                probed: a.probed + p.probed.load(Ordering::Relaxed),
                bytes: a.bytes + p.bytes.load(Ordering::Relaxed),
            }),
        }
    }
}

/// The subscribers of a run, wherever they live.
pub enum Pools {
    Local(LocalPool),
    Children(Vec<ChildPool>),
}

impl Pools {
    /// `workers` ≤ 1: in this process; otherwise worker processes.
    pub fn start(
        target: Arc<Target>,
        n: u64,
        channels: Arc<Vec<String>>,
        concurrency: usize,
        workers: u64,
        args: &[String],
    ) -> Result<Pools, String> {
        if workers <= 1 {
            return Ok(Pools::Local(LocalPool::start(
                target,
                n,
                0,
                channels,
                concurrency,
            )));
        }
        let mut children = Vec::new();
        for i in 0..workers {
            children.push(ChildPool::spawn(args, i)?);
        }
        Ok(Pools::Children(children))
    }

    pub fn progress(&self) -> Snapshot {
        self.progress_handle().get()
    }

    /// The worker processes' ids (none for a local pool).
    pub fn child_pids(&self) -> Vec<u32> {
        match self {
            Pools::Local(_) => Vec::new(),
            Pools::Children(c) => c.iter().filter_map(|c| c.child.id()).collect(),
        }
    }

    /// A handle that reads the progress from elsewhere.
    pub fn progress_handle(&self) -> ProgressHandle {
        match self {
            Pools::Local(p) => ProgressHandle::Local(p.shared.clone()),
            Pools::Children(c) => {
                ProgressHandle::Children(c.iter().map(|c| c.progress.clone()).collect())
            }
        }
    }

    /// Waits until every subscriber is ready or failed; returns how many
    /// are ready.
    pub async fn wait_ready(&mut self, bound: Duration) -> Result<u64, String> {
        match self {
            Pools::Local(p) => {
                p.wait_ready(bound).await;
                Ok(p.shared.ready.load(Ordering::Relaxed))
            }
            Pools::Children(children) => {
                let mut total = 0;
                for c in children.iter_mut() {
                    let r = c.wait_for("ready", bound).await?;
                    c.connected = r["connected"].as_u64().unwrap_or(0);
                    total += c.connected;
                    // The worker's sockets, for the backlog readings.
                    for a in r["addrs"].as_array().into_iter().flatten() {
                        if let Some(a) = a.as_str().and_then(|a| a.parse().ok()) {
                            super::monitor::register(a);
                        }
                    }
                }
                Ok(total)
            }
        }
    }

    /// Waits until every ready subscriber has `published` publications (or
    /// `drain` passes) and merges the reports.
    pub async fn report(&mut self, published: u64, drain: Duration) -> Result<PoolReport, String> {
        match self {
            Pools::Local(p) => {
                let expected = p.shared.ready.load(Ordering::Relaxed) * published;
                Ok(p.report(expected, drain).await)
            }
            Pools::Children(children) => {
                for c in children.iter_mut() {
                    let expected = c.connected * published;
                    c.command(json!({"cmd": "report", "expected": expected, "drain_ms": drain.as_millis() as u64}))
                        .await?;
                }
                let mut all = PoolReport::default();
                for c in children.iter_mut() {
                    let v = c
                        .wait_for("report", drain + Duration::from_secs(30))
                        .await?;
                    all.merge(&ChildPool::parse_report(v)?);
                }
                Ok(all)
            }
        }
    }

    /// Closes every connection; the final counters.
    pub async fn stop(self) -> Result<PoolReport, String> {
        match self {
            Pools::Local(p) => Ok(p.stop().await),
            Pools::Children(mut children) => {
                for c in children.iter_mut() {
                    c.command(json!({"cmd": "stop"})).await?;
                }
                let mut all = PoolReport::default();
                for mut c in children {
                    let v = c.wait_for("final", Duration::from_secs(60)).await?;
                    all.merge(&ChildPool::parse_report(v)?);
                    let _ = tokio::time::timeout(Duration::from_secs(10), c.child.wait()).await;
                }
                Ok(all)
            }
        }
    }
}

/// The worker side: run a share of the pool and obey the parent.
pub async fn worker_main(
    target: Arc<Target>,
    total: u64,
    workers: u64,
    index: u64,
    channels: Arc<Vec<String>>,
    concurrency: usize,
    ready_bound: Duration,
) -> Result<(), String> {
    let (n, first) = share(total, workers, index);
    let pool = LocalPool::start(target, n, first, channels, concurrency);
    let shared = pool.shared.clone();
    let reporter = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tick.tick().await;
            println!(
                "{}",
                json!({"progress": {
                    "ready": shared.ready.load(Ordering::Relaxed),
                    "unique": shared.unique.load(Ordering::Relaxed),
                    "probed": shared.probed.load(Ordering::Relaxed),
                    "bytes": shared.received_bytes.load(Ordering::Relaxed),
                }})
            );
        }
    });
    pool.wait_ready(ready_bound).await;
    println!(
        "{}",
        json!({"ready": {
            "connected": pool.shared.ready.load(Ordering::Relaxed),
            "failed": pool.shared.failed.load(Ordering::Relaxed),
            "addrs": super::monitor::registered().iter().map(ToString::to_string).collect::<Vec<_>>(),
        }})
    );
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    loop {
        let line = match stdin.next_line().await {
            Ok(Some(l)) => l,
            _ => break,
        };
        let cmd: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        match cmd["cmd"].as_str() {
            Some("report") => {
                let expected = cmd["expected"].as_u64().unwrap_or(0);
                let drain = Duration::from_millis(cmd["drain_ms"].as_u64().unwrap_or(5000));
                let r = pool.report(expected, drain).await;
                println!("{}", json!({ "report": r }));
            }
            Some("stop") => break,
            _ => {}
        }
    }
    reporter.abort();
    let r = pool.stop().await;
    println!("{}", json!({ "final": r }));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::share;

    #[test]
    fn shares_cover_everyone_once() {
        let parts: Vec<(u64, u64)> = (0..3).map(|i| share(10, 3, i)).collect();
        assert_eq!(parts, vec![(4, 0), (3, 4), (3, 7)]);
        assert_eq!(share(5, 1, 0), (5, 0));
    }
}
