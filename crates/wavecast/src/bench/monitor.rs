//! The load generator watching itself, so that a result it could not
//! measure is marked instead of published as the server's figure.
//!
//! A sampling thread (outside the tokio runtime, so a saturated runtime
//! does not delay it) reads every second:
//! - the CPU seconds (user + system, `/proc/PID/stat`) of this process and
//!   of its worker processes, and of each thread of this process;
//! - the bytes received but not yet read by the bench (`rx_queue` in
//!   `/proc/net/tcp` and `/proc/net/tcp6`) on the subscriber sockets, found
//!   by their local address (registered when each connects; workers send
//!   theirs in their `ready` line).
//!
//! [`Monitor::summary`] turns a window (a [`Mark`] to now) into the
//! `client` object of the result and the `client_bound` rule:
//! - `cpu`: the bench used ≥ 90 % of the cores it can run on (its allowed
//!   CPUs, at most its runtime threads), or one of its threads ≥ 90 % of a
//!   core;
//! - `backlog`: its subscriber sockets held on average ≥ 64 KiB unread,
//!   which is ≥ 10 ms of the traffic it received;
//! - `publisher`: publications left ≥ 10 ms (p99) after their scheduled
//!   time, because every publish slot was busy or the runtime was late.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::procfs;
use super::stats::round3;

/// Saturation threshold: a share of the available cores.
const BUSY: f64 = 0.9;
/// Backlog thresholds: mean unread bytes and milliseconds of traffic.
const BACKLOG_BYTES: f64 = 64.0 * 1024.0;
const BACKLOG_MS: f64 = 10.0;
/// Publisher lag threshold (p99, ms).
const LAG_MS: f64 = 10.0;
const PERIOD: Duration = Duration::from_secs(1);
/// The shortest window whose CPU share is judged.
const MIN_WINDOW_S: f64 = 0.5;

/// The local addresses of this run's subscriber sockets.
fn registry() -> &'static Mutex<HashSet<SocketAddr>> {
    static R: OnceLock<Mutex<HashSet<SocketAddr>>> = OnceLock::new();
    R.get_or_init(Mutex::default)
}

/// Remembers a subscriber socket's local address.
pub fn register(addr: SocketAddr) {
    if let Ok(mut r) = registry().lock() {
        r.insert(addr);
    }
}

/// Every registered local address (a worker sends them to its parent).
pub fn registered() -> Vec<SocketAddr> {
    registry()
        .lock()
        .map(|r| r.iter().copied().collect())
        .unwrap_or_default()
}

/// Parses a `/proc/net/tcp{,6}` address (`0100007F:1F90`).
fn parse_addr(s: &str) -> Option<SocketAddr> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    // The kernel prints each 32-bit word of the address as a host-order
    // integer: its native-endian bytes are the address bytes.
    let word = |i: usize| u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16).ok();
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?.to_ne_bytes())),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?.to_ne_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Sums `rx_queue` of the sockets whose local address is in `mine`.
fn unread_in(table: &str, mine: &HashSet<SocketAddr>) -> u64 {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let local = parse_addr(f.nth(1)?)?;
            if !mine.contains(&local) {
                return None;
            }
            let queues = f.nth(2)?;
            let (_, rx) = queues.split_once(':')?;
            u64::from_str_radix(rx, 16).ok()
        })
        .sum()
}

/// Unread bytes on the registered sockets now.
fn unread_now(mine: &HashSet<SocketAddr>) -> u64 {
    if mine.is_empty() {
        return 0;
    }
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|t| unread_in(&t, mine))
        .sum()
}

/// One reading.
#[derive(Clone, Debug, Default)]
struct Sample {
    at: Option<Instant>,
    /// CPU seconds of this process and its workers.
    cpu_s: f64,
    /// CPU seconds per thread of this process.
    threads: HashMap<u32, f64>,
    unread: u64,
}

/// The start of a measured window.
#[derive(Clone, Debug)]
pub struct Mark {
    sample: Sample,
    received_bytes: u64,
}

/// Reads a running byte count.
pub type ByteCounter = Box<dyn Fn() -> u64 + Send + Sync>;

/// The load generator's own load.
pub struct Monitor {
    children: Mutex<Vec<u32>>,
    samples: Mutex<Vec<Sample>>,
    /// Reads the bytes the subscribers have received so far.
    received: Mutex<Option<ByteCounter>>,
    runtime_threads: usize,
    stop: AtomicBool,
}

impl Monitor {
    /// Starts the sampling thread (`sampling` false: a monitor that only
    /// reads at marks, for worker processes).
    pub fn start(sampling: bool) -> Arc<Monitor> {
        let runtime_threads = tokio::runtime::Handle::try_current()
            .map(|h| h.metrics().num_workers())
            .unwrap_or(1);
        let m = Arc::new(Monitor {
            children: Mutex::default(),
            samples: Mutex::default(),
            received: Mutex::default(),
            runtime_threads,
            stop: AtomicBool::new(false),
        });
        if !sampling {
            return m;
        }
        let weak = Arc::downgrade(&m);
        let spawned = std::thread::Builder::new()
            .name("bench-monitor".into())
            .spawn(move || loop {
                std::thread::sleep(PERIOD);
                let Some(m) = weak.upgrade() else { return };
                if m.stop.load(Ordering::Relaxed) {
                    return;
                }
                let s = m.read(true);
                if let Ok(mut v) = m.samples.lock() {
                    v.push(s);
                }
                drop(m);
            });
        if let Err(e) = spawned {
            eprintln!("wavecast bench: cannot start the self-monitor ({e}): no client figures");
        }
        m
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Worker processes whose CPU counts as the bench's.
    pub fn add_children(&self, pids: impl IntoIterator<Item = u32>) {
        if let Ok(mut c) = self.children.lock() {
            c.extend(pids);
        }
    }

    /// Where received bytes are counted.
    pub fn watch(&self, bytes: ByteCounter) {
        if let Ok(mut g) = self.received.lock() {
            *g = Some(bytes);
        }
    }

    fn received_bytes(&self) -> u64 {
        self.received
            .lock()
            .ok()
            .and_then(|g| g.as_ref().map(|f| f()))
            .unwrap_or(0)
    }

    fn processes(&self) -> usize {
        1 + self.children.lock().map(|c| c.len()).unwrap_or(0)
    }

    fn read(&self, with_sockets: bool) -> Sample {
        let children = self.children.lock().map(|c| c.clone()).unwrap_or_default();
        let mut cpu_s = procfs::read("self").map(|p| p.cpu_s).unwrap_or(0.0);
        for pid in children {
            cpu_s += procfs::read(&pid.to_string()).map_or(0.0, |p| p.cpu_s);
        }
        let unread = if with_sockets {
            let mine: HashSet<SocketAddr> =
                registry().lock().map(|r| r.clone()).unwrap_or_default();
            unread_now(&mine)
        } else {
            0
        };
        Sample {
            at: Some(Instant::now()),
            cpu_s,
            threads: procfs::threads_cpu(),
            unread,
        }
    }

    /// Starts a window now.
    pub fn mark(&self) -> Mark {
        Mark {
            sample: self.read(false),
            received_bytes: self.received_bytes(),
        }
    }

    /// The `client` figures of the window from `mark` to now, with the
    /// publisher's p99 lag (ms) when there was publishing.
    pub fn summary(&self, mark: &Mark, publish_lag_p99_ms: Option<f64>) -> ClientLoad {
        let end = self.read(false);
        let (Some(t0), Some(t1)) = (mark.sample.at, end.at) else {
            return ClientLoad::default();
        };
        let seconds = t1.duration_since(t0).as_secs_f64().max(1e-3);
        let cpu_s = (end.cpu_s - mark.sample.cpu_s).max(0.0);
        let allowed = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = self.runtime_threads * self.processes();
        let cores_available = allowed.min(threads.max(1)) as f64;
        let busiest_thread = end
            .threads
            .iter()
            .map(|(tid, c)| (c - mark.sample.threads.get(tid).copied().unwrap_or(0.0)) / seconds)
            .fold(0.0, f64::max);
        let inside: Vec<Sample> = self
            .samples
            .lock()
            .map(|v| {
                v.iter()
                    .filter(|s| s.at.is_some_and(|a| a > t0 && a <= t1))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let mut peak: Option<f64> = None;
        let mut prev = &mark.sample;
        for s in &inside {
            if let (Some(a), Some(b)) = (prev.at, s.at) {
                let dt = b.duration_since(a).as_secs_f64();
                if dt > 0.2 {
                    let c = (s.cpu_s - prev.cpu_s) / dt;
                    peak = Some(peak.map_or(c, |p: f64| p.max(c)));
                }
            }
            prev = s;
        }
        let unread_mean = if inside.is_empty() {
            0.0
        } else {
            inside.iter().map(|s| s.unread as f64).sum::<f64>() / inside.len() as f64
        };
        let unread_max = inside.iter().map(|s| s.unread).max().unwrap_or(0);
        let bytes_per_s =
            (self.received_bytes().saturating_sub(mark.received_bytes)) as f64 / seconds;
        let unread_ms = (bytes_per_s > 0.0).then(|| unread_mean / bytes_per_s * 1000.0);
        let mut load = ClientLoad {
            seconds,
            cpu_s,
            cores_used: cpu_s / seconds,
            cores_available,
            peak_cores_used: peak,
            busiest_thread,
            unread_samples: inside.len(),
            unread_mean,
            unread_max,
            unread_ms,
            publish_lag_p99_ms,
            reasons: Vec::new(),
        };
        load.judge();
        load
    }
}

/// The load generator's load over a window.
#[derive(Clone, Debug, Default)]
pub struct ClientLoad {
    pub seconds: f64,
    pub cpu_s: f64,
    pub cores_used: f64,
    pub cores_available: f64,
    pub peak_cores_used: Option<f64>,
    pub busiest_thread: f64,
    pub unread_samples: usize,
    pub unread_mean: f64,
    pub unread_max: u64,
    pub unread_ms: Option<f64>,
    pub publish_lag_p99_ms: Option<f64>,
    /// Why the result is client-bound (empty: it is not).
    pub reasons: Vec<String>,
}

impl ClientLoad {
    /// Applies the client-bound rule (module doc).
    fn judge(&mut self) {
        // CPU time comes in 10 ms ticks: a shorter window says nothing.
        let cpu_known = self.seconds >= MIN_WINDOW_S;
        if cpu_known && self.cores_available > 0.0 && self.cores_used >= BUSY * self.cores_available
        {
            self.reasons.push(format!(
                "cpu: the bench used {:.2} of the {} core(s) it can run on",
                self.cores_used, self.cores_available
            ));
        } else if cpu_known && self.busiest_thread >= BUSY {
            self.reasons.push(format!(
                "cpu: one bench thread used {:.0} % of a core",
                self.busiest_thread * 100.0
            ));
        }
        if self.unread_mean >= BACKLOG_BYTES && self.unread_ms.is_some_and(|ms| ms >= BACKLOG_MS) {
            self.reasons.push(format!(
                "backlog: the bench's sockets held {:.0} KiB unread on average ({:.0} ms of its traffic)",
                self.unread_mean / 1024.0,
                self.unread_ms.unwrap_or(0.0)
            ));
        }
        if let Some(lag) = self.publish_lag_p99_ms.filter(|l| *l >= LAG_MS) {
            self.reasons.push(format!(
                "publisher: p99 of publications left {lag:.0} ms after their scheduled time (raise --pub-concurrency, or the bench is short of CPU)"
            ));
        }
    }

    pub fn bound(&self) -> bool {
        !self.reasons.is_empty()
    }

    pub fn json(&self) -> Value {
        json!({
            "seconds": round3(self.seconds),
            "cpu_s": round3(self.cpu_s),
            "cores_used": round3(self.cores_used),
            "cores_available": self.cores_available,
            "peak_cores_used": self.peak_cores_used.map(round3),
            "busiest_thread": round3(self.busiest_thread),
            "unread_bytes": {
                "samples": self.unread_samples,
                "mean": self.unread_mean.round(),
                "max": self.unread_max,
            },
            "unread_ms": self.unread_ms.map(round3),
            "publish_lag_p99_ms": self.publish_lag_p99_ms.map(round3),
            "client_bound": self.bound(),
            "client_bound_reasons": self.reasons,
        })
    }

    /// The worse of two windows (throughput: over every step).
    pub fn any_bound(loads: &[ClientLoad]) -> Vec<String> {
        let mut v: Vec<String> = loads.iter().flat_map(|l| l.reasons.clone()).collect();
        v.dedup();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_net_tcp() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n\
   1: 0200007F:A000 0100007F:1F90 01 00000000:00000400 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1\n\
   2: 0100007F:A000 0100007F:1F90 01 00000000:00000010 00:00000000 00000000     0        0 3 1 0 20 4 30 10 -1\n";
        let a: SocketAddr = "127.0.0.2:40960".parse().unwrap();
        assert_eq!(parse_addr("0200007F:A000"), Some(a));
        let mine: HashSet<SocketAddr> = [a].into_iter().collect();
        assert_eq!(unread_in(table, &mine), 0x400);
        assert_eq!(
            parse_addr("00000000000000000000000001000000:1F90"),
            Some("[::1]:8080".parse().unwrap())
        );
    }

    #[test]
    fn the_rule_names_each_reason() {
        let mut l = ClientLoad {
            seconds: 5.0,
            cores_used: 0.95,
            cores_available: 1.0,
            unread_mean: 1e6,
            unread_ms: Some(40.0),
            publish_lag_p99_ms: Some(3.0),
            ..ClientLoad::default()
        };
        l.judge();
        assert_eq!(l.reasons.len(), 2, "{:?}", l.reasons);
        assert!(l.reasons[0].starts_with("cpu:"));
        assert!(l.reasons[1].starts_with("backlog:"));
        let mut idle = ClientLoad {
            cores_used: 0.2,
            cores_available: 1.0,
            unread_mean: 1e6,
            unread_ms: Some(2.0),
            ..ClientLoad::default()
        };
        idle.judge();
        assert!(!idle.bound());
        let mut blink = ClientLoad {
            seconds: 0.01,
            cores_used: 1.0,
            busiest_thread: 1.0,
            cores_available: 1.0,
            ..ClientLoad::default()
        };
        blink.judge();
        assert!(!blink.bound(), "{:?}", blink.reasons);
    }
}
