//! The cost of one feature extraction (`Simulation::features()`: statistics,
//! gradient energy, active mask and box counting) next to one step, per
//! grid size, printed as JSON lines: median microseconds over interleaved
//! short bursts.
//!
//! ```text
//! cargo run --release -p wavecast-sim --example features_cost -- [SIZES] [ROUNDS] [WARMUP_STEPS]
//! ```
//!
//! Defaults: sizes `64,128,256,512`, 15 rounds, 1000 steps first (so the
//! pattern has spread). Pin to one core (`taskset -c 1`) for one-core figures.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

use wavecast_sim::{SimConfig, Simulation};

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(0.0)
}

/// Microseconds per call of `f` over a burst of about 20 ms.
fn burst(mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut calls = 0u32;
    while start.elapsed().as_secs_f64() < 0.02 {
        f();
        calls += 1;
    }
    start.elapsed().as_secs_f64() * 1e6 / f64::from(calls)
}

fn measure(n: usize, rounds: usize, warmup: u64) -> Result<(), String> {
    let config = SimConfig {
        grid_size: n,
        ..SimConfig::default()
    };
    let mut sim = Simulation::new(config).map_err(|e| e.to_string())?;
    sim.set_parallel_threshold(usize::MAX);
    sim.step_n(warmup);
    let (mut feat, mut step) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        feat.push(burst(|| {
            black_box(sim.features());
        }));
        let mut stepper = sim.clone();
        step.push(burst(|| stepper.step()));
    }
    let (f, s) = (median(&mut feat), median(&mut step));
    let active = sim.features().active_nodes;
    println!(
        "{{\"grid\": {n}, \"features_us\": {f:.2}, \"step_us\": {s:.2}, \"features_per_step\": {:.2}, \"active_nodes\": {active}}}",
        f / s
    );
    Ok(())
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sizes: Vec<usize> = match args.first() {
        Some(s) => s
            .split(',')
            .map(|x| x.trim().parse().map_err(|e| format!("size {x:?}: {e}")))
            .collect::<Result<_, _>>()?,
        None => vec![64, 128, 256, 512],
    };
    let number = |i: usize, default: u64| -> Result<u64, String> {
        args.get(i).map_or(Ok(default), |s| {
            s.parse().map_err(|e| format!("{s:?}: {e}"))
        })
    };
    let rounds = number(1, 15)? as usize;
    let warmup = number(2, 1000)?;
    for n in sizes {
        measure(n, rounds, warmup)?;
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("features_cost: {e}");
            ExitCode::FAILURE
        }
    }
}
