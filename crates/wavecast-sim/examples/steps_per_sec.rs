//! Quick steps/s measurement without criterion, printed as JSON.
//!
//! ```text
//! cargo run --release -p wavecast-sim --example steps_per_sec -- [SIZES] [REPEATS] [SECONDS]
//! ```
//!
//! Defaults: sizes `64,128,256,512`, 5 repeats of about 1 s each per size;
//! the median is reported. Three ways of stepping are timed:
//! `steps_per_sec`: one [`Simulation::step`] per call (growth tracking in
//! every step) on the default parallel path; `serial_steps_per_sec`: the
//! same forced serial; `batch_steps_per_sec`: [`Simulation::step_n`] of
//! [`BATCH`] steps per call (default path, temporal blocking where the
//! grid's default has it; growth tracked in the last step of each call).
//! The kernel is the fastest this CPU runs (printed).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use wavecast_sim::{Kernel, SimConfig, Simulation};

/// Steps per call of the batched measurement.
const BATCH: u64 = 64;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        xs[n / 2]
    } else {
        0.5 * (xs[n / 2 - 1] + xs[n / 2])
    }
}

/// Steps per second over one run of about `seconds`, `per_call` steps per
/// call (`1`: `step()`).
fn run_once(sim: &mut Simulation, seconds: f64, per_call: u64) -> f64 {
    let budget = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut steps = 0u64;
    let mut calls = 1u64;
    while start.elapsed() < budget {
        for _ in 0..calls {
            if per_call == 1 {
                sim.step();
            } else {
                sim.step_n(per_call);
            }
        }
        steps += calls * per_call;
        calls = (calls * 2).min((1024 / per_call).max(1));
    }
    steps as f64 / start.elapsed().as_secs_f64()
}

fn measure(
    n: usize,
    repeats: usize,
    seconds: f64,
    (serial, per_call): (bool, u64),
) -> Result<Vec<f64>, String> {
    let config = SimConfig {
        grid_size: n,
        ..SimConfig::default()
    };
    let mut sim = Simulation::new(config).map_err(|e| e.to_string())?;
    if serial {
        sim.set_parallel_threshold(usize::MAX);
    }
    run_once(&mut sim, 0.2, per_call); // warm-up
    Ok((0..repeats)
        .map(|_| run_once(&mut sim, seconds, per_call))
        .collect())
}

fn list(xs: &[f64]) -> String {
    let items: Vec<String> = xs.iter().map(|x| format!("{x:.1}")).collect();
    format!("[{}]", items.join(", "))
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
    let repeats: usize = match args.get(1) {
        Some(s) => s.parse().map_err(|e| format!("repeats {s:?}: {e}"))?,
        None => 5,
    };
    let seconds: f64 = match args.get(2) {
        Some(s) => s.parse().map_err(|e| format!("seconds {s:?}: {e}"))?,
        None => 1.0,
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("{{");
    println!("  \"cores\": {cores},");
    println!("  \"rayon_threads\": {},", rayon::current_num_threads());
    println!("  \"kernel\": \"{}\",", Kernel::detect().name());
    println!("  \"repeats\": {repeats},");
    println!("  \"seconds_per_run\": {seconds},");
    println!("  \"results\": [");
    for (i, &n) in sizes.iter().enumerate() {
        let default_runs = measure(n, repeats, seconds, (false, 1))?;
        let serial_runs = measure(n, repeats, seconds, (true, 1))?;
        let batch_runs = measure(n, repeats, seconds, (false, BATCH))?;
        let comma = if i + 1 < sizes.len() { "," } else { "" };
        println!(
            "    {{\"grid\": {n}, \"steps_per_sec\": {:.1}, \"runs\": {}, \
             \"serial_steps_per_sec\": {:.1}, \"serial_runs\": {}, \
             \"batch_steps_per_sec\": {:.1}, \"batch_runs\": {}}}{comma}",
            median(default_runs.clone()),
            list(&default_runs),
            median(serial_runs.clone()),
            list(&serial_runs),
            median(batch_runs.clone()),
            list(&batch_runs),
        );
    }
    println!("  ]");
    println!("}}");
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("steps_per_sec: {e}");
            ExitCode::FAILURE
        }
    }
}
