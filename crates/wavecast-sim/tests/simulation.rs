//! End-to-end behaviour of the `Simulation` driver: determinism (seeds,
//! serial vs parallel), stability, growth bookkeeping, features, frames.

use wavecast_sim::{Boundary, Kernel, SimConfig, SimError, Simulation};

fn config(grid_size: usize) -> SimConfig {
    SimConfig {
        grid_size,
        ..SimConfig::default()
    }
}

fn run(config: SimConfig, steps: u64, parallel_threshold: usize) -> Simulation {
    let mut sim = Simulation::new(config).unwrap();
    sim.set_parallel_threshold(parallel_threshold);
    sim.step_n(steps);
    sim
}

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn same_seed_gives_identical_fields() {
    for boundary in [Boundary::Periodic, Boundary::Neumann] {
        let c = SimConfig {
            boundary,
            ..config(48)
        };
        let a = run(c.clone(), 300, usize::MAX);
        let b = run(c, 300, usize::MAX);
        assert_eq!(bits(a.potential()), bits(b.potential()));
        assert_eq!(bits(a.substrate()), bits(b.substrate()));
        assert_eq!(a.features(), b.features());
        assert_eq!(a.growth_events(), b.growth_events());
    }
}

#[test]
fn different_seeds_differ() {
    let a = run(
        SimConfig {
            seed: 1,
            ..config(32)
        },
        10,
        usize::MAX,
    );
    let b = run(
        SimConfig {
            seed: 2,
            ..config(32)
        },
        10,
        usize::MAX,
    );
    assert_ne!(bits(a.potential()), bits(b.potential()));
}

#[test]
fn parallel_and_serial_paths_are_bit_identical() {
    for (n, boundary) in [
        (128, Boundary::Periodic),
        (136, Boundary::Neumann),
        (33, Boundary::Periodic),
    ] {
        let c = SimConfig {
            boundary,
            ..config(n)
        };
        let serial = run(c.clone(), 120, usize::MAX);
        let parallel = run(c, 120, 0);
        assert_eq!(
            bits(serial.potential()),
            bits(parallel.potential()),
            "{n} {boundary:?}"
        );
        assert_eq!(
            bits(serial.substrate()),
            bits(parallel.substrate()),
            "{n} {boundary:?}"
        );
        assert_eq!(serial.growth_events(), parallel.growth_events());
    }
}

#[test]
fn step_and_step_n_agree() {
    let mut a = Simulation::new(config(32)).unwrap();
    for _ in 0..25 {
        a.step();
    }
    let b = run(config(32), 25, usize::MAX);
    assert_eq!(a.step_count(), 25);
    assert_eq!(bits(a.potential()), bits(b.potential()));
    assert_eq!(a.growth_events(), b.growth_events());
    let mut c = b.clone();
    c.step_n(0);
    assert_eq!(c.step_count(), 25);
}

#[test]
fn beyond_the_bound_is_refused_naming_it() {
    let err = Simulation::new(SimConfig {
        du: 0.3,
        ..config(32)
    })
    .unwrap_err();
    assert!(matches!(err, SimError::DiffusionUnstable { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("stability bound dt * max(Du, Dv) <= h^2/4 = 0.25"),
        "{msg}"
    );
    let boxed: Box<dyn std::error::Error> = Box::new(err);
    assert!(boxed.to_string().contains("0.25"));
}

#[test]
fn within_the_bound_stays_finite() {
    // The common Gray–Scott presets (du, dv, feed, kill, dt), a smaller
    // step, and fast diffusion near the bounds.
    let presets = [
        (0.16, 0.08, 0.035, 0.065, 1.0), // default, self-replicating spots
        (0.14, 0.06, 0.035, 0.065, 1.0),
        (0.16, 0.08, 0.060, 0.062, 1.0), // coral
        (0.19, 0.05, 0.060, 0.062, 1.0), // fingerprint
        (0.10, 0.10, 0.018, 0.050, 1.0), // spirals
        (0.16, 0.08, 0.020, 0.055, 1.0),
        (0.16, 0.08, 0.050, 0.065, 1.0), // worms
        (0.16, 0.08, 0.035, 0.060, 1.0), // zebrafish
        (0.16, 0.08, 0.035, 0.065, 0.5),
        (0.22, 0.11, 0.035, 0.065, 1.0),
        (0.10, 0.23, 0.035, 0.065, 1.0),
    ];
    for (du, dv, feed, kill, dt) in presets {
        for boundary in [Boundary::Periodic, Boundary::Neumann] {
            let c = SimConfig {
                du,
                dv,
                feed,
                kill,
                dt,
                boundary,
                ..config(32)
            };
            let sim = run(c, 2000, usize::MAX);
            assert!(sim.is_finite(), "{du} {dv} {feed} {kill} {dt} {boundary:?}");
            let f = sim.features();
            assert!(f.potential_max <= 1.5 && f.potential_min >= -0.5, "{f:?}");
        }
    }
}

#[test]
fn unchecked_run_beyond_the_bound_blows_up() {
    let c = SimConfig {
        du: 0.5,
        dv: 0.5,
        dt: 1.0,
        ..config(32)
    };
    assert!(Simulation::new(c.clone()).is_err());
    let mut sim = Simulation::new_unchecked(c).unwrap();
    sim.step_n(200);
    assert!(!sim.is_finite() || sim.potential().iter().any(|x| x.abs() > 1e6));
    // Still no panic in features or frames.
    let _ = sim.features();
    let _ = sim.quantize_u8();
    // The grid size is still checked.
    assert!(Simulation::new_unchecked(config(4)).is_err());
}

#[test]
fn the_pattern_grows_from_the_seed() {
    let mut sim = Simulation::new(config(64)).unwrap();
    let initial = sim.features();
    assert_eq!(initial.step, 0);
    assert!(initial.active_nodes > 0);
    let mut active = sim.growth_events().active;
    let mut activated_total = 0;
    for i in 0..3000 {
        let before = sim.potential().to_vec();
        sim.step();
        let g = sim.growth_events();
        if i % 10 == 0 {
            // The bounded list is the first activated cells, row-major.
            let brute: Vec<[u32; 2]> = before
                .iter()
                .zip(sim.potential())
                .enumerate()
                .filter(|(_, (&b, &a))| b <= 0.25 && a > 0.25)
                .map(|(j, _)| [(j % 64) as u32, (j / 64) as u32])
                .take(256)
                .collect();
            assert_eq!(g.cells, brute, "step {}", i + 1);
        }
        // Bookkeeping: active(t) = active(t-1) + activated - deactivated.
        assert_eq!(g.active + g.deactivated, active + g.activated);
        assert_eq!(g.cells.len(), g.activated.min(256));
        assert_eq!(g.truncated, g.activated > g.cells.len());
        active = g.active;
        activated_total += g.activated;
    }
    let f = sim.features();
    assert_eq!(f.step, 3000);
    assert_eq!(f.active_nodes, active);
    assert!(activated_total > 0);
    assert!(
        f.active_nodes > 2 * initial.active_nodes,
        "{initial:?} → {f:?}"
    );
    assert!(
        f.fractal_dimension > 0.5 && f.fractal_dimension <= 2.05,
        "{f:?}"
    );
    assert!(f.fractal_r_squared > 0.8, "{f:?}");
    assert!(f.potential_std > 0.01, "{f:?}");
}

#[test]
fn growth_list_is_bounded_by_the_limit() {
    let c = SimConfig {
        growth_event_limit: 3,
        activation_threshold: 0.0,
        ..config(32)
    };
    let mut sim = Simulation::new(c).unwrap();
    sim.step();
    let g = sim.growth_events();
    assert!(g.cells.len() <= 3);
    assert_eq!(g.truncated, g.activated > g.cells.len());
}

#[test]
fn features_serialize_in_snake_case() {
    let sim = run(config(32), 50, usize::MAX);
    let json: serde_json::Value = serde_json::to_value(sim.features()).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in [
        "step",
        "potential_mean",
        "potential_std",
        "potential_min",
        "potential_max",
        "active_nodes",
        "active_ratio",
        "fractal_dimension",
        "fractal_r_squared",
        "energy",
        "gradient_energy",
        "spatial_variance",
    ] {
        assert!(keys.contains(&key), "{key} missing from {keys:?}");
    }
    let f = sim.features();
    assert!((f.spatial_variance - f.potential_std.powi(2)).abs() < 1e-12);
    assert!(f.potential_min <= f.potential_mean && f.potential_mean <= f.potential_max);
    assert!((f.active_ratio - f.active_nodes as f64 / 1024.0).abs() < 1e-12);
}

#[test]
fn frames_are_one_byte_per_cell() {
    let mut sim = run(config(256), 10, usize::MAX);
    let q = sim.quantize_u8();
    assert_eq!((q.width, q.height, q.data.len()), (256, 256, 65_536));
    let f = sim.features();
    assert_eq!(f64::from(q.min), f.potential_min);
    assert_eq!(f64::from(q.max), f.potential_max);
    for (i, &x) in sim.potential().iter().enumerate().step_by(97) {
        assert!((q.dequantize(i).unwrap() - x).abs() <= q.resolution() * 1.01);
    }
    let q16 = sim.quantize_u16();
    assert_eq!(q16.to_le_bytes().len(), 2 * 65_536);
    // Reusing a frame buffer.
    let mut frame = q;
    sim.step();
    sim.quantize_into(&mut frame);
    assert_eq!(frame, sim.quantize_u8());
}

#[test]
fn config_from_client_json() {
    let c: SimConfig = serde_json::from_str(r#"{"grid_size": 96, "F": 0.06, "k": 0.062}"#).unwrap();
    let sim = Simulation::new(c).unwrap();
    assert_eq!(sim.grid_size(), 96);
    assert_eq!(sim.config().feed, 0.06);
    let e = serde_json::from_str::<SimConfig>(r#"{"grid_size": 96, "speed": 2}"#).unwrap_err();
    assert!(e.to_string().contains("speed"));
    let c: SimConfig = serde_json::from_str(r#"{"grid_size": 4096}"#).unwrap();
    let e = Simulation::new(c).unwrap_err();
    assert_eq!(e.field(), "grid_size");
}

/// FNV-1a over the little-endian bytes of a field, as `field_checksum`
/// and `bench/numpy_gray_scott.py --checksum` print it.
fn fnv1a64(values: &[f32]) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for b in values.iter().flat_map(|x| x.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01B3);
    }
    h
}

#[test]
fn every_path_matches_the_numpy_reference_bit_for_bit() {
    // (N, steps, seed, FNV-1a of v) printed by
    // `python3 bench/numpy_gray_scott.py --checksum N STEPS SEED` (NumPy
    // 2.4.6, float32, periodic).
    let golden = [
        (64, 1000, 42, 0xc642_01f8_5624_a86a_u64),
        (37, 700, 3, 0x5a63_7a4d_67c6_69ba),
    ];
    for (n, steps, seed, want) in golden {
        for kernel in Kernel::ALL {
            // Plain steps serial and parallel, and temporal blocks.
            for (parallel, blocking) in [
                (usize::MAX, (0, 0)),
                (0, (0, 0)),
                (0, (4, 8)),
                (usize::MAX, (3, 5)),
            ] {
                let mut sim = Simulation::new(SimConfig {
                    grid_size: n,
                    seed,
                    ..SimConfig::default()
                })
                .unwrap();
                sim.set_kernel(kernel);
                sim.set_parallel_threshold(parallel);
                sim.set_temporal_blocking(blocking.0, blocking.1);
                sim.step_n(steps);
                assert_eq!(
                    fnv1a64(sim.potential()),
                    want,
                    "{n} {steps} {seed} {kernel:?} parallel {parallel} blocking {blocking:?}"
                );
            }
        }
    }
}

#[test]
fn step_by_step_and_blocked_runs_agree_with_growth_events() {
    for boundary in [Boundary::Periodic, Boundary::Neumann] {
        let c = SimConfig {
            boundary,
            ..config(48)
        };
        let mut one = Simulation::new(c.clone()).unwrap();
        one.set_temporal_blocking(0, 0);
        for _ in 0..77 {
            one.step();
        }
        let mut blocked = Simulation::new(c).unwrap();
        blocked.set_temporal_blocking(4, 7);
        blocked.step_n(77);
        assert_eq!(bits(one.potential()), bits(blocked.potential()));
        assert_eq!(bits(one.substrate()), bits(blocked.substrate()));
        assert_eq!(one.growth_events(), blocked.growth_events());
        assert_eq!(one.features(), blocked.features());
        // Absurd settings are capped, not a panic or a huge allocation.
        let mut capped = Simulation::new(SimConfig {
            boundary,
            ..config(48)
        })
        .unwrap();
        capped.set_temporal_blocking(usize::MAX, usize::MAX);
        capped.step_n(77);
        assert_eq!(bits(one.potential()), bits(capped.potential()));
    }
}
