//! Prints a checksum of the potential after a number of steps, as JSON, to
//! compare with `bench/numpy_gray_scott.py --checksum N STEPS SEED`.
//!
//! ```text
//! cargo run --release -p wavecast-sim --example field_checksum -- N STEPS SEED
//! ```

use std::process::ExitCode;

use wavecast_sim::{SimConfig, Simulation};

/// FNV-1a over the little-endian bytes of the field.
fn fnv1a64(values: &[f32]) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for b in values.iter().flat_map(|x| x.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01B3);
    }
    h
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, default: T) -> Result<T, String> {
    match args.get(i) {
        Some(s) => s
            .parse()
            .map_err(|_| format!("argument {} ({s:?}) is not a number", i + 1)),
        None => Ok(default),
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let grid_size: usize = arg(&args, 0, 64)?;
    let steps: u64 = arg(&args, 1, 1000)?;
    let seed: u64 = arg(&args, 2, 42)?;
    let config = SimConfig {
        grid_size,
        seed,
        ..SimConfig::default()
    };
    let mut sim = Simulation::new(config).map_err(|e| e.to_string())?;
    sim.step_n(steps);
    let v = sim.potential();
    let sum: f64 = v.iter().map(|&x| f64::from(x)).sum();
    println!(
        "{{\"grid\": {grid_size}, \"steps\": {steps}, \"seed\": {seed}, \"v_sum\": {sum}, \"v_fnv1a\": \"{:016x}\"}}",
        fnv1a64(v)
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("field_checksum: {e}");
            ExitCode::FAILURE
        }
    }
}
