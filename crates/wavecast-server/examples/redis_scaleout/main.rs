//! Scale-out on Redis, measured: one `redis-server`, several
//! `wavecast serve` nodes on it, and load-generator worker processes
//! holding subscribers spread over the nodes and over several 127.0.0.x
//! source addresses. Everything runs on 127.0.0.1 and is killed when the
//! run ends, fails, or passes its deadline.
//!
//! ```sh
//! cargo build --release -p wavecast -p wavecast-server --example redis_scaleout
//! # 100,000 subscribers on 6 nodes, 6 workers, 30 publishes 1 s apart:
//! target/release/examples/redis_scaleout --subscribers 100000 --nodes 6 \
//!     --workers 6 --src-ips 16 --publishes 30 --interval-ms 1000
//! # Publishes/s of one node into Redis, 256 HTTP publishes in flight:
//! target/release/examples/redis_scaleout publish-rate --concurrency 256 --seconds 10
//! ```
//!
//! The run (`scaleout`, the default):
//! 1. starts Redis and the nodes (each allows `--max-connections`, by
//!    default its share plus 10 %), and the workers (each at most 19,000
//!    subscribers: the machine allows 20,000 open files per process);
//! 2. waits until every worker has tried all its connections;
//! 3. publishes `--publishes` times, each through `POST /api/publish` of a
//!    random node, `--interval-ms` apart, each carrying its sequence
//!    number and its send time;
//! 4. waits until every subscriber has every publication (at most
//!    `--drain-s`), then prints one JSON report: delivered %, p50 and p99
//!    over publications of the time until the last subscriber had it,
//!    p50/p99 of single deliveries, and the CPU of every process (Redis,
//!    each node, each worker) and of the whole machine during the
//!    publishing window, with the load average.
//!
//! Options take `--name value`; see [`Opts`] users for the names and
//! defaults. `--deadline-s` (default 900) bounds the whole run.

mod cluster;
mod http;
mod procs;
mod rate;
mod run;
mod stats;
mod worker;

use std::collections::HashMap;

/// `--name value` options.
pub struct Opts(HashMap<String, String>);

impl Opts {
    fn parse(args: &[String]) -> Result<Opts, String> {
        let mut map = HashMap::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let name = a
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument {a:?}"))?;
            let value = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
            map.insert(name.to_string(), value.clone());
        }
        Ok(Opts(map))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn num(&self, name: &str, default: u64) -> Result<u64, String> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .replace('_', "")
                .parse()
                .map_err(|_| format!("--{name} must be a whole number, not {v:?}")),
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, rest) = match args.first().map(String::as_str) {
        Some(m @ ("worker" | "publish-rate" | "scaleout")) => (m, &args[1..]),
        _ => ("scaleout", &args[..]),
    };
    let opts = match Opts::parse(rest) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("redis_scaleout: {e}");
            std::process::exit(2);
        }
    };
    let code = match mode {
        "worker" => worker::main(&opts),
        "publish-rate" => report(rate::main(&opts)),
        _ => report(run::main(&opts)),
    };
    std::process::exit(code);
}

fn report(r: Result<serde_json::Value, String>) -> i32 {
    match r {
        Ok(v) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&v).unwrap_or_else(|_| v.to_string())
            );
            if v["ok"] == false {
                1
            } else {
                0
            }
        }
        Err(e) => {
            eprintln!("redis_scaleout: {e}");
            1
        }
    }
}
