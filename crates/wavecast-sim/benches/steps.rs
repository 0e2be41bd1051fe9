//! Criterion benchmarks on 64², 128², 256² and 512² grids (default
//! parameters, default parallel threshold): one Gray–Scott step
//! (`gray_scott_step`), 64 steps in one `step_n` call (`gray_scott_step_n64`,
//! temporal blocking where the grid's default has it), and one feature
//! extraction (`features`).
//!
//! Run with `cargo bench -p wavecast-sim --bench steps`. Throughput is
//! reported in cells (per step); steps/s = cells/s ÷ N².

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wavecast_sim::{SimConfig, Simulation};

fn steps(c: &mut Criterion) {
    let mut group = c.benchmark_group("gray_scott_step");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for n in [64usize, 128, 256, 512] {
        let config = SimConfig {
            grid_size: n,
            ..SimConfig::default()
        };
        let Ok(mut sim) = Simulation::new(config) else {
            panic!("default config with grid_size {n} must be valid");
        };
        group.throughput(Throughput::Elements((n * n) as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{n}x{n}")),
            &n,
            |b, _| {
                b.iter(|| {
                    sim.step();
                    black_box(sim.potential()[0])
                })
            },
        );
    }
    group.finish();
}

fn sim(n: usize) -> Simulation {
    let config = SimConfig {
        grid_size: n,
        ..SimConfig::default()
    };
    let Ok(sim) = Simulation::new(config) else {
        panic!("default config with grid_size {n} must be valid");
    };
    sim
}

fn step_n64(c: &mut Criterion) {
    let mut group = c.benchmark_group("gray_scott_step_n64");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for n in [64usize, 128, 256, 512] {
        let mut sim = sim(n);
        group.throughput(Throughput::Elements((64 * n * n) as u64));
        group.bench_function(BenchmarkId::from_parameter(format!("{n}x{n}")), |b| {
            b.iter(|| {
                sim.step_n(64);
                black_box(sim.potential()[0])
            })
        });
    }
    group.finish();
}

fn features(c: &mut Criterion) {
    let mut group = c.benchmark_group("features");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for n in [64usize, 128, 256, 512] {
        let mut sim = sim(n);
        sim.step_n(1000);
        group.throughput(Throughput::Elements((n * n) as u64));
        group.bench_function(BenchmarkId::from_parameter(format!("{n}x{n}")), |b| {
            b.iter(|| black_box(sim.features()))
        });
    }
    group.finish();
}

criterion_group!(benches, steps, step_n64, features);
criterion_main!(benches);
