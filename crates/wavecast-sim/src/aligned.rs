//! Field storage that starts on a 64-byte cache-line boundary.
//!
//! A plain `Vec<f32>` of a large field comes from `mmap` through the
//! allocator's 16-byte chunk header, so it starts 16 bytes past a line:
//! then half the vector loads of row cells straddle two cache lines, and
//! such a load costs about twice an aligned one (measured on Zen 3: 24
//! 256-bit loads at a 4-byte offset took 23 cycles, aligned 13). With the
//! field on a line boundary and rows a multiple of 16 cells (every grid the
//! kernels meet in practice), the centre, up and down loads and the stores
//! of every block are aligned; only the left and right neighbour loads
//! still straddle a line, one time in two.
//!
//! Invariant: a [`Field`] derefs to exactly `len` `f32`, starting on a
//! 64-byte boundary; the padding after them is never read.

use std::fmt;
use std::ops::{Deref, DerefMut};

/// One cache line of `f32`.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([f32; LINE]);

/// `f32` per cache line.
const LINE: usize = 16;

const _: () = assert!(
    std::mem::size_of::<Line>() == 4 * LINE,
    "a line has no padding"
);

/// `len` `f32` on a cache-line boundary.
#[derive(Clone, Default)]
pub(crate) struct Field {
    lines: Vec<Line>,
    len: usize,
}

impl Field {
    /// A copy of `x`, cache-line aligned.
    pub(crate) fn from_slice(x: &[f32]) -> Self {
        let mut f = Self::zeros(x.len());
        f.copy_from_slice(x);
        f
    }

    /// `len` zeros, cache-line aligned.
    pub(crate) fn zeros(len: usize) -> Self {
        Self {
            lines: vec![Line([0.0; LINE]); len.div_ceil(LINE)],
            len,
        }
    }
}

impl Deref for Field {
    type Target = [f32];

    fn deref(&self) -> &[f32] {
        // SAFETY: `Line` is `repr(C)` around `[f32; LINE]` with no padding
        // (size 64 = 16 × 4, alignment 64), so the lines are
        // `lines.len() * LINE >= len` contiguous, initialised `f32`, borrowed
        // from `self` for the returned lifetime.
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast::<f32>(), self.len) }
    }
}

impl DerefMut for Field {
    fn deref_mut(&mut self) -> &mut [f32] {
        // SAFETY: as in `deref`, borrowed mutably from `self`.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<f32>(), self.len) }
    }
}

impl fmt::Debug for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_start_on_a_line_and_keep_their_values() {
        for len in [0, 1, 15, 16, 17, 4096, 65_536 + 3] {
            let x: Vec<f32> = (0..len).map(|i| i as f32 * 0.5).collect();
            let mut f = Field::from_slice(&x);
            assert_eq!(&f[..], &x[..]);
            assert_eq!(f.as_ptr() as usize % 64, 0, "len {len}");
            if let Some(first) = f.first_mut() {
                *first = -1.0;
            }
            assert_eq!(f.clone().len(), len);
        }
    }
}
