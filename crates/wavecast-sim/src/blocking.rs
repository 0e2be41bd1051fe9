//! Temporal blocking: several steps per band of rows while the band is in
//! cache, instead of one sweep over the whole field per step.
//!
//! The grid is cut into bands of `band` rows. To advance a band by `k`
//! steps, level `j` (after `j` steps) is computed on the band widened by
//! `k − j` rows on each side (the rows that level `j + 1` still needs), from
//! level `j − 1`: level 0 is read from the input field, levels `1 .. k − 1`
//! live in two small ping-pong buffers, level `k` is written straight into
//! the output field. Neighbouring bands recompute a few overlapping rows
//! (about `k² / band` of the work) but never share state, so bands run in
//! any order and on any thread.
//!
//! Invariant: every cell of every level is computed by the same row kernel
//! from the same neighbour values as in the plain step, so a blocked run is
//! bit-identical to the same number of plain steps, for every band height,
//! depth, kernel and thread count.

use std::ops::Range;

use rayon::prelude::*;

use crate::aligned::Field;
use crate::config::Boundary;
use crate::simd::Kernel;
use crate::stencil::{step_rows, Params, Span, Whole};

/// The two ping-pong buffers of one worker: intermediate levels of both
/// fields, `band + 2k` rows each.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scratch {
    u: [Field; 2],
    v: [Field; 2],
}

impl Scratch {
    /// Buffers for bands of `band` rows of `width`, at most `depth` steps.
    pub(crate) fn new(width: usize, band: usize, depth: usize) -> Self {
        let len = (band + 2 * depth) * width;
        Self {
            u: [Field::zeros(len), Field::zeros(len)],
            v: [Field::zeros(len), Field::zeros(len)],
        }
    }

    /// Whether these buffers hold bands of `band` rows of `width` at `depth`.
    pub(crate) fn fits(&self, width: usize, band: usize, depth: usize) -> bool {
        self.u[0].len() >= (band + 2 * depth) * width
    }
}

/// One worker's job: its index, its output rows of both fields, its scratch.
type Job<'a> = (usize, ((&'a mut [f32], &'a mut [f32]), &'a mut Scratch));

/// How to block: steps per block and rows per band.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Blocking {
    /// Steps per block (`>= 2`).
    pub depth: usize,
    /// Rows per band (`>= 1`).
    pub band: usize,
}

/// The rows of level `j` of a `depth`-step block over band `y0..y1`.
fn level_rows(p: &Params, y0: isize, y1: isize, margin: isize) -> Range<isize> {
    let (lo, hi) = (y0 - margin, y1 + margin);
    match p.boundary {
        Boundary::Periodic => lo..hi,
        Boundary::Neumann => lo.max(0)..hi.min(p.height as isize),
    }
}

/// Advances band `y0..y0 + out rows` by `depth` steps from `input` into
/// `out` (that band's rows of the output fields).
fn band(
    kernel: Kernel,
    p: &Params,
    input: &Whole,
    out: &mut Span<&mut [f32]>,
    depth: usize,
    scratch: &mut Scratch,
) {
    let width = input.width;
    let (y0, y1) = (out.first, out.first + (out.u.len() / width) as isize);
    let first = y0 - depth as isize;
    let Scratch {
        u: [u_even, u_odd],
        v: [v_even, v_odd],
    } = scratch;
    for j in 1..=depth {
        let rows = level_rows(p, y0, y1, (depth - j) as isize);
        let (src_u, src_v, dst_u, dst_v) = if j % 2 == 1 {
            (&**u_even, &**v_even, &mut **u_odd, &mut **v_odd)
        } else {
            (&**u_odd, &**v_odd, &mut **u_even, &mut **v_even)
        };
        let src = Span {
            u: src_u,
            v: src_v,
            width,
            first,
        };
        let mut dst = Span {
            u: dst_u,
            v: dst_v,
            width,
            first,
        };
        match (j == 1, j == depth) {
            (true, true) => step_rows(kernel, p, input, out, rows, None),
            (true, false) => step_rows(kernel, p, input, &mut dst, rows, None),
            (false, true) => step_rows(kernel, p, &src, out, rows, None),
            (false, false) => step_rows(kernel, p, &src, &mut dst, rows, None),
        };
    }
}

/// Advances the whole field `depth` steps from `input` into `(u_out,
/// v_out)`, band by band; in parallel over `scratch.len()` workers when
/// `parallel` (one scratch per worker, all fitting `blocking`).
pub(crate) fn advance(
    kernel: Kernel,
    p: &Params,
    input: &Whole,
    (u_out, v_out): (&mut [f32], &mut [f32]),
    blocking: Blocking,
    scratch: &mut [Scratch],
    parallel: bool,
) {
    let width = input.width;
    let bands = p.height.div_ceil(blocking.band);
    let workers = if parallel { scratch.len().max(1) } else { 1 };
    let group = bands.div_ceil(workers) * blocking.band * width;
    let run = |(i, ((u, v), s)): Job| {
        let first_row = i * group / width;
        for (b, (u, v)) in u
            .chunks_mut(blocking.band * width)
            .zip(v.chunks_mut(blocking.band * width))
            .enumerate()
        {
            let first = (first_row + b * blocking.band) as isize;
            let mut out = Span { u, v, width, first };
            band(kernel, p, input, &mut out, blocking.depth, s);
        }
    };
    if workers > 1 {
        u_out
            .par_chunks_mut(group)
            .zip(v_out.par_chunks_mut(group))
            .zip(scratch.par_iter_mut())
            .enumerate()
            .for_each(run);
    } else if let Some(s) = scratch.first_mut() {
        run((0, ((u_out, v_out), s)));
    }
}
