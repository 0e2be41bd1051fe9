//! The Gray–Scott grid: the double-buffered `u`/`v` fields, their seeded
//! initial state, and the step: serial, row-parallel or in temporal blocks,
//! with bit-identical results on every path.
//!
//! The step reads only the current buffers and writes only the next ones, so
//! every row is a pure function of the previous state: splitting rows across
//! threads, or steps into blocks, cannot change a single bit. Nothing is
//! allocated per step (the blocking scratch once, on first use); the
//! buffers are swapped.

use rayon::prelude::*;

use crate::aligned::Field;
use crate::blocking::{self, Blocking, Scratch};
use crate::cell::Coeffs;
pub use crate::cell::FLUSH_TO_ZERO;
use crate::config::{Boundary, SimConfig};
use crate::growth::MaskCounts;
use crate::rng::SplitMix64;
use crate::simd::Kernel;
use crate::stencil::{step_rows, Params, Span, Whole};

/// Rows are handed to rayon in groups of at least this many cells, so a task
/// is worth its scheduling cost.
const PAR_MIN_CELLS_PER_TASK: usize = 8192;

/// Grids from this side up advance in temporal blocks by default: their
/// four buffers (`16·N²` bytes, 36 MiB at 1536²) outgrow a 32 MiB L3 cache.
/// Measured on such a machine: no gain up to 1024² (the kernel is
/// compute-bound while the fields stay in cache), 2× at 2048².
const BLOCKING_MIN_GRID: usize = 1536;
/// Steps per temporal block by default (best measured at 2048²).
const DEFAULT_BLOCK_DEPTH: usize = 8;
/// Rows per band of a temporal block by default (best measured at 2048²).
const DEFAULT_BLOCK_BAND: usize = 64;
/// Most steps per temporal block accepted.
const MAX_BLOCK_DEPTH: usize = 64;

/// Amplitude of the uniform noise of the initial state.
pub const INITIAL_NOISE: f64 = 0.02;

/// One task of a parallel step: its index, its output rows of both fields,
/// its rows' activation counts.
type Task<'a> = (usize, ((&'a mut [f32], &'a mut [f32]), &'a mut [u32]));

/// The two chemical fields on an N×N grid, double-buffered.
#[derive(Debug, Clone)]
pub struct Model {
    /// The SIMD kernel that runs the steps (detected once, at creation).
    kernel: Kernel,
    width: usize,
    params: Params,
    /// Temporal blocking of multi-step advances; `None` steps one by one.
    blocking: Option<Blocking>,
    /// One scratch per worker for the blocked advance, made on first use.
    scratch: Vec<Scratch>,
    u: Field,
    v: Field,
    u_next: Field,
    v_next: Field,
    /// Activations per row in the last tracked step.
    row_activations: Vec<u32>,
}

impl Model {
    /// The seeded initial state: `u = 1, v = 0` everywhere except a centred
    /// square of side `max(4, N/8)` where `u = 0.5, v = 0.25`; then every cell
    /// gets uniform noise, `u -= 0.02 * r1`, `v += 0.02 * r2` with
    /// `r1, r2` in `[0, 1)` drawn in row-major order from SplitMix64(seed).
    ///
    /// The caller has validated at least `config.validate_grid()`.
    pub(crate) fn new(config: &SimConfig) -> Self {
        let n = config.grid_size;
        let cells = n * n;
        let mut u = vec![1.0f32; cells];
        let mut v = vec![0.0f32; cells];
        let side = (n / 8).max(4).min(n);
        let start = (n - side) / 2;
        for y in start..start + side {
            u[y * n + start..y * n + start + side].fill(0.5);
            v[y * n + start..y * n + start + side].fill(0.25);
        }
        let mut rng = SplitMix64::new(config.seed);
        for (uc, vc) in u.iter_mut().zip(v.iter_mut()) {
            *uc = (f64::from(*uc) - INITIAL_NOISE * rng.next_f64()) as f32;
            *vc = (f64::from(*vc) + INITIAL_NOISE * rng.next_f64()) as f32;
        }
        Self {
            kernel: Kernel::detect(),
            width: n,
            params: Params {
                coeffs: Coeffs::new(config),
                boundary: config.boundary,
                height: n,
                threshold: config.activation_threshold as f32,
            },
            blocking: default_blocking(n),
            scratch: Vec::new(),
            u_next: Field::from_slice(&u),
            v_next: Field::from_slice(&v),
            u: Field::from_slice(&u),
            v: Field::from_slice(&v),
            row_activations: vec![0; n],
        }
    }

    /// Grid width (cells per row).
    pub fn width(&self) -> usize {
        self.width
    }

    /// Grid height (rows).
    pub fn height(&self) -> usize {
        self.params.height
    }

    /// The boundary rule.
    pub fn boundary(&self) -> Boundary {
        self.params.boundary
    }

    /// The substrate `u`, row-major.
    pub fn u(&self) -> &[f32] {
        &self.u
    }

    /// The activator / potential `v`, row-major.
    pub fn v(&self) -> &[f32] {
        &self.v
    }

    /// `v` as it was before the last step (equal to [`Model::v`] before the
    /// first step).
    pub fn previous_v(&self) -> &[f32] {
        &self.v_next
    }

    /// The SIMD kernel in use.
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// Selects the kernel; one this CPU lacks runs as the next slower one.
    pub(crate) fn set_kernel(&mut self, kernel: Kernel) {
        self.kernel = kernel;
    }

    /// Sets the temporal blocking of [`Model::advance`]: `depth` steps per
    /// block over bands of `band` rows; `depth < 2` or `band == 0` turns it
    /// off. Clamped to at most [`MAX_BLOCK_DEPTH`] steps and the grid's
    /// height, so the scratch stays small.
    pub(crate) fn set_blocking(&mut self, depth: usize, band: usize) {
        let (depth, band) = (depth.min(MAX_BLOCK_DEPTH), band.min(self.params.height));
        self.blocking = (depth >= 2 && band >= 1).then_some(Blocking { depth, band });
    }

    /// Activations per row in the last tracked step.
    pub(crate) fn row_activations(&self) -> &[u32] {
        &self.row_activations
    }

    /// Advances one explicit-Euler step; rows in parallel when `parallel`.
    ///
    /// With `track` it also counts the mask transitions of the step, row by
    /// row inside the kernel, and keeps each row's activations (see
    /// [`Model::row_activations`]); otherwise it returns zero counts.
    pub(crate) fn step(&mut self, parallel: bool, track: bool) -> MaskCounts {
        let (w, h, kernel, p) = (self.width, self.params.height, self.kernel, self.params);
        let input = Whole {
            u: &self.u,
            v: &self.v,
            width: w,
            height: self.params.height,
        };
        let rows_per_task = (PAR_MIN_CELLS_PER_TASK / w).max(1);
        let run = |(i, ((u, v), acts)): Task| {
            let first = (i * rows_per_task) as isize;
            let rows = first..first + (u.len() / w) as isize;
            let mut out = Span {
                u,
                v,
                width: w,
                first,
            };
            step_rows(kernel, &p, &input, &mut out, rows, track.then_some(acts))
        };
        let (un, vn, acts) = (
            &mut self.u_next[..],
            &mut self.v_next[..],
            &mut self.row_activations[..],
        );
        let counts = if parallel && h > rows_per_task {
            un.par_chunks_mut(rows_per_task * w)
                .zip(vn.par_chunks_mut(rows_per_task * w))
                .zip(acts.par_chunks_mut(rows_per_task))
                .enumerate()
                .map(run)
                .reduce(MaskCounts::default, std::ops::Add::add)
        } else {
            let first = (un, vn);
            step_rows(
                kernel,
                &p,
                &input,
                &mut Span {
                    u: first.0,
                    v: first.1,
                    width: w,
                    first: 0,
                },
                0..h as isize,
                track.then_some(acts),
            )
        };
        self.swap();
        counts
    }

    /// Advances `n` steps without tracking: in temporal blocks when
    /// blocking is on, otherwise one plain step at a time. Bit-identical to
    /// `n` calls of [`Model::step`].
    pub(crate) fn advance(&mut self, n: u64, parallel: bool) {
        let mut left = n;
        while left > 0 {
            let depth = self.blocking.map_or(1, |b| b.depth as u64).min(left);
            match self.blocking {
                Some(b) if depth >= 2 => self.step_block(
                    Blocking {
                        depth: depth as usize,
                        band: b.band,
                    },
                    parallel,
                ),
                _ => {
                    self.step(parallel, false);
                }
            }
            left -= depth;
        }
    }

    /// Advances `blocking.depth` steps in one temporal block.
    fn step_block(&mut self, blocking: Blocking, parallel: bool) {
        let (w, band, depth) = (self.width, blocking.band, blocking.depth);
        let workers = if parallel {
            rayon::current_num_threads().max(1)
        } else {
            1
        };
        if self.scratch.len() < workers || !self.scratch.iter().all(|s| s.fits(w, band, depth)) {
            self.scratch = vec![Scratch::new(w, band, depth); workers];
        }
        let input = Whole {
            u: &self.u,
            v: &self.v,
            width: w,
            height: self.params.height,
        };
        let out = (&mut self.u_next[..], &mut self.v_next[..]);
        let scratch = &mut self.scratch[..workers];
        blocking::advance(
            self.kernel,
            &self.params,
            &input,
            out,
            blocking,
            scratch,
            parallel,
        );
        self.swap();
    }

    fn swap(&mut self) {
        std::mem::swap(&mut self.u, &mut self.u_next);
        std::mem::swap(&mut self.v, &mut self.v_next);
    }

    /// True when every value of both fields is finite.
    pub fn is_finite(&self) -> bool {
        // Chunked so the inner test vectorises; stops at the first bad chunk.
        self.u
            .chunks(1024)
            .chain(self.v.chunks(1024))
            .all(|c| c.iter().fold(true, |ok, x| ok & x.is_finite()))
    }
}

/// The default temporal blocking for an N×N grid: on where the four field
/// buffers outgrow the last-level cache, off where they fit (measured: see
/// docs/mfn.md, Performance).
fn default_blocking(n: usize) -> Option<Blocking> {
    (n >= BLOCKING_MIN_GRID).then_some(Blocking {
        depth: DEFAULT_BLOCK_DEPTH,
        band: DEFAULT_BLOCK_BAND,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::{after, before, laplacian, react};

    /// The textbook version: modulo / clamp indexing for every cell, scalar.
    fn reference_step(m: &Model) -> (Vec<f32>, Vec<f32>) {
        let (w, h, b) = (m.width, m.height(), m.boundary());
        let mut un = vec![0.0; w * h];
        let mut vn = vec![0.0; w * h];
        for y in 0..h {
            for x in 0..w {
                let lap = |f: &[f32]| {
                    let at = |xx: usize, yy: usize| f[yy * w + xx];
                    let (l, r) = (before(x, w, b), after(x, w, b));
                    let (up, dn) = (before(y, h, b), after(y, h, b));
                    laplacian(at(x, y), at(l, y), at(r, y), at(x, up), at(x, dn))
                };
                let i = y * w + x;
                let (a, c) = react(&m.params.coeffs, m.u[i], m.v[i], lap(&m.u), lap(&m.v));
                un[i] = a;
                vn[i] = c;
            }
        }
        (un, vn)
    }

    /// A model whose fields are random: ordinary values, values around the
    /// flush bound and the activation threshold, zeros of both signs.
    fn random_model(n: usize, boundary: Boundary, seed: u64) -> Model {
        let mut m = Model::new(&SimConfig {
            grid_size: n,
            boundary,
            ..Default::default()
        });
        let mut rng = SplitMix64::new(seed);
        let mut draw = || {
            let r = rng.next_f64();
            let pick = (r * 8.0) as u32;
            let x = rng.next_f64();
            // Within the scheme's stable range, so a few steps stay finite.
            match pick {
                0 => (x * 2e-15 - 1e-15) as f32,
                1 => 0.25 + (x as f32 - 0.5) * 1e-6,
                2 => -0.0,
                3 => (x * 1e-30) as f32,
                _ => (x * 0.45) as f32,
            }
        };
        for i in 0..n * n {
            m.u[i] = draw();
            m.v[i] = draw();
        }
        m
    }

    /// Asserts equal bits, naming the first differing cell (not the whole
    /// field).
    fn same(got: &[f32], want: &[f32], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}");
        if let Some(i) = (0..got.len()).find(|&i| got[i].to_bits() != want[i].to_bits()) {
            panic!("{what}: cell {i}: {} vs {}", got[i], want[i]);
        }
    }

    #[test]
    fn every_kernel_matches_the_reference_bit_for_bit() {
        // 31 to 33: around the 32 cells (two blocks of 16) below which
        // AVX-512 rows take the AVX2 blocks.
        for n in [8, 9, 10, 11, 17, 31, 32, 33, 40, 130] {
            for boundary in [Boundary::Periodic, Boundary::Neumann] {
                let start = random_model(n, boundary, n as u64);
                let (ru, rv) = reference_step(&start);
                for kernel in Kernel::ALL {
                    for parallel in [false, true] {
                        let mut m = start.clone();
                        m.set_kernel(kernel);
                        m.step(parallel, true);
                        let what = format!("{n} {boundary:?} {kernel:?} parallel={parallel}");
                        same(&m.u, &ru, &what);
                        same(&m.v, &rv, &what);
                        assert!(m.is_finite(), "{what}");
                    }
                }
            }
        }
    }

    #[test]
    fn every_kernel_tracks_the_same_transitions() {
        for n in [8, 13, 64] {
            let start = random_model(n, Boundary::Periodic, 7);
            let before = start.v.clone();
            for kernel in Kernel::ALL {
                for parallel in [false, true] {
                    let mut m = start.clone();
                    m.set_kernel(kernel);
                    let counts = m.step(parallel, true);
                    let want = crate::growth::count_row(&before, &m.v, 0.25);
                    assert_eq!(counts, want, "{n} {kernel:?} parallel={parallel}");
                    let rows: Vec<u32> = before
                        .chunks(n)
                        .zip(m.v.chunks(n))
                        .map(|(b, a)| crate::growth::count_row(b, a, 0.25).activated as u32)
                        .collect();
                    assert_eq!(m.row_activations(), &rows[..]);
                }
            }
        }
    }

    #[test]
    fn steps_of_a_real_run_match_the_reference() {
        for boundary in [Boundary::Periodic, Boundary::Neumann] {
            let mut m = Model::new(&SimConfig {
                grid_size: 40,
                boundary,
                ..Default::default()
            });
            for _ in 0..50 {
                let (ru, rv) = reference_step(&m);
                m.step(true, false);
                same(&m.u, &ru, "u");
                same(&m.v, &rv, "v");
            }
        }
    }

    #[test]
    fn temporal_blocks_match_plain_steps() {
        let cases = [
            (8, 4, 3),
            (9, 2, 1),
            (24, 3, 5),
            (40, 4, 8),
            (40, 5, 64),
            (67, 6, 16),
        ];
        for (n, depth, band) in cases {
            for boundary in [Boundary::Periodic, Boundary::Neumann] {
                let start = random_model(n, boundary, 3);
                let mut plain = start.clone();
                for _ in 0..2 * depth + 1 {
                    plain.step(false, false);
                }
                for kernel in Kernel::ALL {
                    for parallel in [false, true] {
                        let mut m = start.clone();
                        m.set_kernel(kernel);
                        m.set_blocking(depth, band);
                        m.advance(2 * depth as u64 + 1, parallel);
                        let what = format!("{n} {depth} {band} {boundary:?} {kernel:?} {parallel}");
                        same(&m.u, &plain.u, &what);
                        same(&m.v, &plain.v, &what);
                        assert!(m.is_finite(), "{what}");
                    }
                }
            }
        }
    }

    #[test]
    fn non_finite_values_spread_alike_on_every_path() {
        let mut start = random_model(24, Boundary::Periodic, 11);
        start.u[100] = f32::INFINITY;
        start.v[300] = f32::NAN;
        start.v[301] = 3.0e38;
        let same = |a: &[f32], b: &[f32]| {
            a.iter()
                .zip(b)
                .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
        };
        let mut plain = start.clone();
        plain.set_kernel(Kernel::Scalar);
        plain.advance(6, false);
        assert!(!plain.is_finite());
        for kernel in Kernel::ALL {
            let mut m = start.clone();
            m.set_kernel(kernel);
            m.set_blocking(3, 5);
            m.advance(6, true);
            assert!(same(&m.u, &plain.u) && same(&m.v, &plain.v), "{kernel:?}");
        }
    }

    #[test]
    fn neighbours() {
        assert_eq!(before(0, 8, Boundary::Periodic), 7);
        assert_eq!(after(7, 8, Boundary::Periodic), 0);
        assert_eq!(before(0, 8, Boundary::Neumann), 0);
        assert_eq!(after(7, 8, Boundary::Neumann), 7);
        assert_eq!(
            (
                before(3, 8, Boundary::Neumann),
                after(3, 8, Boundary::Periodic)
            ),
            (2, 4)
        );
    }

    #[test]
    fn neumann_conserves_pure_diffusion() {
        // With no reaction (F = k = 0 and v = 0 the u equation is pure
        // diffusion) zero flux keeps the total of u.
        let config = SimConfig {
            grid_size: 16,
            feed: 0.0,
            kill: 0.0,
            boundary: Boundary::Neumann,
            ..Default::default()
        };
        let mut m = Model::new(&config);
        m.v.fill(0.0);
        let total = |m: &Model| m.u.iter().map(|&x| f64::from(x)).sum::<f64>();
        let before_sum = total(&m);
        for _ in 0..200 {
            m.step(false, false);
        }
        assert!(
            (total(&m) - before_sum).abs() < 1e-2,
            "{} vs {before_sum}",
            total(&m)
        );
    }
}
