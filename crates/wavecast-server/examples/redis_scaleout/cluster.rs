//! The processes of a run as one unit: Redis, the nodes and the workers,
//! a deadline watchdog that kills them all (SIGKILL, by pid: only
//! processes this run started) and exits, and CPU snapshots of each.

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use tokio::sync::mpsc;

use crate::procs::{self, Child, TICKS_PER_S};
use crate::stats::r1;

/// Every process of the run, killed on drop.
pub struct Cluster {
    pub redis: Child,
    pub redis_port: u16,
    pub nodes: Vec<Child>,
    pub ports: Vec<u16>,
    pub workers: Vec<Child>,
    pids: Arc<Mutex<Vec<u32>>>,
    finished: Arc<AtomicBool>,
}

impl Cluster {
    /// Starts Redis and `nodes` nodes, and a watchdog for `deadline`.
    pub fn start(
        dir: &Path,
        bin: &Path,
        nodes: usize,
        max_connections: u64,
        deadline: Duration,
    ) -> Result<Cluster, String> {
        let pids = Arc::new(Mutex::new(Vec::new()));
        let finished = Arc::new(AtomicBool::new(false));
        watchdog(deadline, pids.clone(), finished.clone());
        let (redis, redis_port) = procs::start_redis(dir)?;
        track(&pids, redis.pid());
        let mut c = Cluster {
            redis,
            redis_port,
            nodes: Vec::new(),
            ports: Vec::new(),
            workers: Vec::new(),
            pids,
            finished,
        };
        for i in 0..nodes {
            let (node, port) = procs::start_node(bin, dir, i, redis_port, max_connections)?;
            track(&c.pids, node.pid());
            c.nodes.push(node);
            c.ports.push(port);
        }
        Ok(c)
    }

    /// Starts a worker (this program, `worker` mode) with `args`; its
    /// stdout lines arrive on `lines` as `(index, JSON)`.
    pub fn start_worker(
        &mut self,
        index: usize,
        args: &[String],
        lines: mpsc::UnboundedSender<(usize, Value)>,
    ) -> Result<(), String> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let mut child = Command::new(exe)
            .arg("worker")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start worker {index}: {e}"))?;
        track(&self.pids, child.id());
        if let Some(out) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                    if let Ok(v) = serde_json::from_str::<Value>(&line) {
                        if lines.send((index, v)).is_err() {
                            return;
                        }
                    }
                }
            });
        }
        self.workers.push(Child {
            name: format!("worker{index}"),
            child,
        });
        Ok(())
    }

    /// Tells every worker to report and stop.
    pub fn stop_workers(&mut self) {
        for w in &mut self.workers {
            if let Some(stdin) = w.child.stdin.as_mut() {
                let _ = stdin.write_all(b"stop\n");
                let _ = stdin.flush();
            }
        }
    }

    /// (name, pid) of every process.
    pub fn named_pids(&self) -> Vec<(String, u32)> {
        std::iter::once(&self.redis)
            .chain(&self.nodes)
            .chain(&self.workers)
            .map(|c| (c.name.clone(), c.pid()))
            .collect()
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot::take(self.named_pids())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.finished.store(true, Ordering::Release);
    }
}

fn track(pids: &Mutex<Vec<u32>>, pid: u32) {
    if let Ok(mut p) = pids.lock() {
        p.push(pid);
    }
}

/// Kills every tracked process and exits when the deadline passes first.
fn watchdog(deadline: Duration, pids: Arc<Mutex<Vec<u32>>>, finished: Arc<AtomicBool>) {
    let until = Instant::now() + deadline;
    std::thread::spawn(move || {
        while Instant::now() < until {
            if finished.load(Ordering::Acquire) {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        eprintln!("redis_scaleout: the {deadline:?} deadline passed; killing the run");
        if let Ok(p) = pids.lock() {
            for pid in p.iter() {
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            }
        }
        std::process::exit(3);
    });
}

/// CPU ticks of each process and of the machine at one moment.
pub struct Snapshot {
    at: Instant,
    procs: Vec<(String, u32, Option<u64>)>,
    machine: Option<(u64, u64)>,
    load1: String,
}

impl Snapshot {
    pub fn take(pids: Vec<(String, u32)>) -> Snapshot {
        Snapshot {
            at: Instant::now(),
            procs: pids
                .into_iter()
                .map(|(n, p)| (n, p, procs::cpu_ticks(p)))
                .collect(),
            machine: procs::machine_ticks(),
            load1: procs::loadavg(),
        }
    }

    /// `{window_s, cpu: {name: {cpu_s, cores}}, machine: {...}}` from
    /// `self` to `later`. `cores` is CPU seconds per second (1.0 = one
    /// core busy all the time).
    pub fn cpu_until(&self, later: &Snapshot) -> Value {
        let window = later.at.duration_since(self.at).as_secs_f64().max(1e-3);
        let mut cpu = Map::new();
        let (mut ours, mut totals) = (0.0, Map::new());
        for ((name, pid, a), (_, _, b)) in self.procs.iter().zip(&later.procs) {
            let (Some(a), Some(b)) = (a, b) else { continue };
            let s = b.saturating_sub(*a) as f64 / TICKS_PER_S;
            ours += s;
            let kind = name.trim_end_matches(|c: char| c.is_ascii_digit());
            if kind.len() < name.len() {
                let t = totals.entry(format!("{kind}s_total")).or_insert(json!(0.0));
                *t = json!(r1(t.as_f64().unwrap_or(0.0) + s));
            }
            let rss = procs::rss_kb(*pid).map(|k| k / 1024);
            cpu.insert(
                name.clone(),
                json!({"cpu_s": r1(s), "cores": r2(s / window), "rss_mb": rss}),
            );
        }
        cpu.extend(totals);
        let machine = match (self.machine, later.machine) {
            (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => {
                let cpus = procs::cpus() as f64;
                let busy = (b1 - b0) as f64 / (t1 - t0) as f64 * cpus;
                json!({
                    "cpus": cpus,
                    "busy_cores": r2(busy),
                    "this_run_cores": r2(ours / window),
                    "other_cores": r2((busy - ours / window).max(0.0)),
                    "load1_before": self.load1,
                    "load1_after": later.load1,
                })
            }
            _ => Value::Null,
        };
        json!({"window_s": r1(window), "cpu": cpu, "machine": machine})
    }
}

fn r2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
