//! Criterion benchmark: Gray–Scott steps per second on 64², 128², 256² and
//! 512² grids (default parameters, default parallel threshold).
//!
//! Run with `cargo bench -p wavecast-sim --bench steps`. Throughput is
//! reported in cells; steps/s = cells/s ÷ N².

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

criterion_group!(benches, steps);
criterion_main!(benches);
