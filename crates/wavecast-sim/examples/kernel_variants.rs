//! Compares the step kernel's variants on one thread: each SIMD kernel,
//! one step per call against `step_n` batches, and temporal blocking depths
//! and band heights (on AVX2 and AVX-512 where the CPU runs them). Prints JSON lines, one per grid and variant, with the
//! median and best steps/s over interleaved short bursts (round-robin over
//! the variants, so a busy machine slows them alike).
//!
//! ```text
//! cargo run --release -p wavecast-sim --example kernel_variants -- [SIZES] [ROUNDS] [BURST_MS] [FILTER]
//! ```
//!
//! Defaults: sizes `256,512`, 15 rounds, bursts of 100 ms, every variant
//! (FILTER keeps the variants whose name contains it). Run it pinned to
//! one core (`taskset -c 1`) for one-core figures.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use wavecast_sim::{Kernel, SimConfig, Simulation};

/// One way of stepping.
#[derive(Clone)]
struct Variant {
    name: String,
    kernel: Kernel,
    /// Steps per call (`1`: `step()`, with growth tracking each step).
    batch: u64,
    /// `(depth, band)`; depth 0 turns blocking off.
    blocking: (usize, usize),
}

fn variants() -> Vec<Variant> {
    let mut out = Vec::new();
    for kernel in Kernel::ALL.into_iter().filter(|k| k.is_supported()) {
        out.push(Variant {
            name: format!("step/{}", kernel.name()),
            kernel,
            batch: 1,
            blocking: (0, 0),
        });
    }
    // The batches on each wide-vector kernel this CPU runs (AVX2 and
    // AVX-512 side by side), else on the detected one.
    let mut wide: Vec<Kernel> = [Kernel::Avx2, Kernel::Avx512]
        .into_iter()
        .filter(|k| k.is_supported())
        .collect();
    if wide.is_empty() {
        wide.push(Kernel::detect());
    }
    let blockings = [(0, 0), (2, 16), (4, 16), (4, 32), (4, 64), (8, 32), (8, 64)];
    for kernel in wide {
        for (depth, band) in blockings {
            out.push(Variant {
                name: format!("step_n64/{}/block{depth}x{band}", kernel.name()),
                kernel,
                batch: 64,
                blocking: (depth, band),
            });
        }
    }
    out
}

/// Steps per second over one burst of about `burst`.
fn burst(sim: &mut Simulation, v: &Variant, burst: Duration) -> f64 {
    let start = Instant::now();
    let mut steps = 0;
    while start.elapsed() < burst {
        sim.step_n(v.batch);
        steps += v.batch;
    }
    steps as f64 / start.elapsed().as_secs_f64()
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => xs[n / 2],
        _ => 0.5 * (xs[n / 2 - 1] + xs[n / 2]),
    }
}

fn measure(n: usize, rounds: usize, ms: u64, only: &str) -> Result<(), String> {
    let vs: Vec<Variant> = variants()
        .into_iter()
        .filter(|v| v.name.contains(only))
        .collect();
    let mut sims = Vec::new();
    for v in &vs {
        let config = SimConfig {
            grid_size: n,
            ..SimConfig::default()
        };
        let mut sim = Simulation::new(config).map_err(|e| e.to_string())?;
        sim.set_parallel_threshold(usize::MAX);
        sim.set_kernel(v.kernel);
        sim.set_temporal_blocking(v.blocking.0, v.blocking.1);
        burst(&mut sim, v, Duration::from_millis(50)); // warm-up
        sims.push(sim);
    }
    let mut rates = vec![Vec::new(); vs.len()];
    for _ in 0..rounds {
        for (i, v) in vs.iter().enumerate() {
            rates[i].push(burst(&mut sims[i], v, Duration::from_millis(ms)));
        }
    }
    for (v, r) in vs.iter().zip(&mut rates) {
        let best = r.iter().copied().fold(0.0, f64::max);
        println!(
            "{{\"grid\": {n}, \"variant\": \"{}\", \"median_steps_per_sec\": {:.0}, \"best_steps_per_sec\": {best:.0}, \"ns_per_cell_median\": {:.3}}}",
            v.name,
            median(r),
            1e9 / (median(r) * (n * n) as f64),
        );
    }
    Ok(())
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sizes: Vec<usize> = match args.first() {
        Some(s) => s
            .split(',')
            .map(|x| x.trim().parse().map_err(|e| format!("size {x:?}: {e}")))
            .collect::<Result<_, _>>()?,
        None => vec![256, 512],
    };
    let number = |i: usize, default: u64| -> Result<u64, String> {
        args.get(i).map_or(Ok(default), |s| {
            s.parse().map_err(|e| format!("{s:?}: {e}"))
        })
    };
    let rounds = number(1, 15)? as usize;
    let ms = number(2, 100)?;
    let only = args.get(3).map_or("", String::as_str);
    for n in sizes {
        measure(n, rounds, ms, only)?;
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kernel_variants: {e}");
            ExitCode::FAILURE
        }
    }
}
