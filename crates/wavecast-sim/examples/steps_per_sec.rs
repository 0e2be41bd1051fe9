//! Quick steps/s measurement without criterion, printed as JSON.
//!
//! ```text
//! cargo run --release -p wavecast-sim --example steps_per_sec -- [SIZES] [REPEATS] [SECONDS]
//! ```
//!
//! Defaults: sizes `64,128,256,512`, 5 repeats of about 1 s each per size;
//! the median is reported. Each timed step is a full [`Simulation::step`]
//! (growth tracking included), on the default parallel path and forced
//! serial.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use wavecast_sim::{SimConfig, Simulation};

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

/// Steps per second over one run of about `seconds`.
fn run_once(sim: &mut Simulation, seconds: f64) -> f64 {
    let budget = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut steps = 0u64;
    let mut batch = 1u64;
    while start.elapsed() < budget {
        for _ in 0..batch {
            sim.step();
        }
        steps += batch;
        batch = (batch * 2).min(1024);
    }
    steps as f64 / start.elapsed().as_secs_f64()
}

fn measure(n: usize, repeats: usize, seconds: f64, serial: bool) -> Result<Vec<f64>, String> {
    let config = SimConfig {
        grid_size: n,
        ..SimConfig::default()
    };
    let mut sim = Simulation::new(config).map_err(|e| e.to_string())?;
    if serial {
        sim.set_parallel_threshold(usize::MAX);
    }
    run_once(&mut sim, 0.2); // warm-up
    Ok((0..repeats).map(|_| run_once(&mut sim, seconds)).collect())
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
    println!("  \"repeats\": {repeats},");
    println!("  \"seconds_per_run\": {seconds},");
    println!("  \"results\": [");
    for (i, &n) in sizes.iter().enumerate() {
        let default_runs = measure(n, repeats, seconds, false)?;
        let serial_runs = measure(n, repeats, seconds, true)?;
        let comma = if i + 1 < sizes.len() { "," } else { "" };
        println!(
            "    {{\"grid\": {n}, \"steps_per_sec\": {:.1}, \"runs\": {}, \
             \"serial_steps_per_sec\": {:.1}, \"serial_runs\": {}}}{comma}",
            median(default_runs.clone()),
            list(&default_runs),
            median(serial_runs.clone()),
            list(&serial_runs),
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
