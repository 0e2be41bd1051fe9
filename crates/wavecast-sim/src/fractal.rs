//! Box-counting fractal dimension of a boolean mask, by a log–log
//! least-squares fit of occupied-box counts against box size.
//!
//! For each box size `s` the grid is tiled by `s × s` boxes from the origin
//! (the last row/column of boxes may be partial) and `N(s)` counts the boxes
//! holding at least one set cell. The dimension is the slope of
//! `ln N(s)` against `ln(1/s)`, and `r_squared` is that fit's R².
//!
//! **Speed.** Powers of two are counted on a bit-packed mask
//! (`BitMask`, 64 cells to a word) as a pyramid: the occupancy at size
//! `2s` is the OR of 2×2 occupancies at size `s`, formed with word-wide ORs
//! and shifts, so all default sizes together cost about two passes over
//! `N²/64` words. Other sizes use the direct count on `bool`s. Both give the
//! same counts.
//!
//! **Box sizes.** [`box_counting_dimension`] uses powers of two,
//! `1, 2, 4, …` up to a quarter of the shorter side (so even the largest
//! boxes tile at least 4 per side and partial edge boxes weigh little).
//! For a set with its own natural scale (the Sierpinski carpet's 3) pass
//! powers of that scale to [`box_counting_dimension_with_sizes`]: when the
//! boxes align with the set's self-similar cells the counts are exact.

use serde::Serialize;

/// The result of a box-counting fit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BoxCount {
    /// Estimated dimension: the fitted slope of `ln N(s)` vs `ln(1/s)`.
    /// 0 for an empty mask or when fewer than two sizes have a set cell.
    pub dimension: f64,
    /// Coefficient of determination of the fit, in `[0, 1]`; 1 for an exact
    /// power law, 0 when there is nothing to fit.
    pub r_squared: f64,
    /// The box sizes used, ascending.
    pub box_sizes: Vec<usize>,
    /// Occupied boxes per size, aligned with `box_sizes`.
    pub counts: Vec<usize>,
}

/// The default box sizes for a `width × height` grid: powers of two from 1
/// up to `min(width, height) / 4`, and at least `[1, 2]` when the grid has a
/// side of 2 or more.
pub fn default_box_sizes(width: usize, height: usize) -> Vec<usize> {
    let side = width.min(height);
    let mut sizes = vec![1];
    let mut s = 2;
    while s <= side / 4 || (sizes.len() < 2 && s <= side) {
        sizes.push(s);
        s *= 2;
    }
    sizes
}

/// Box-counting dimension of `mask` (row-major, `width × height`) with the
/// default power-of-two box sizes (see [`default_box_sizes`]).
///
/// Cells past the end of a short `mask` count as unset; extra entries are
/// ignored.
pub fn box_counting_dimension(mask: &[bool], width: usize, height: usize) -> BoxCount {
    box_counting_dimension_with_sizes(mask, width, height, &default_box_sizes(width, height))
}

/// Box-counting dimension of `mask` with the given box sizes. Sizes of 0 or
/// larger than the grid's longer side are dropped, the rest sorted and
/// deduplicated.
pub fn box_counting_dimension_with_sizes(
    mask: &[bool],
    width: usize,
    height: usize,
    sizes: &[usize],
) -> BoxCount {
    let mut box_sizes: Vec<usize> = sizes
        .iter()
        .copied()
        .filter(|&s| s > 0 && s <= width.max(height))
        .collect();
    box_sizes.sort_unstable();
    box_sizes.dedup();
    let counts: Vec<usize> = if box_sizes.iter().all(|s| s.is_power_of_two()) {
        pyramid_counts(&BitMask::from_bools(mask, width, height), &box_sizes)
    } else {
        box_sizes
            .iter()
            .map(|&s| count_boxes(mask, width, height, s))
            .collect()
    };
    fitted(box_sizes, counts)
}

/// Box-counting dimension of a packed mask with the default sizes.
pub(crate) fn box_counting_bits(mask: &BitMask) -> BoxCount {
    let box_sizes = default_box_sizes(mask.width, mask.height);
    let counts = pyramid_counts(mask, &box_sizes);
    fitted(box_sizes, counts)
}

fn fitted(box_sizes: Vec<usize>, counts: Vec<usize>) -> BoxCount {
    let (dimension, r_squared) = fit(&box_sizes, &counts);
    BoxCount {
        dimension,
        r_squared,
        box_sizes,
        counts,
    }
}

/// A boolean grid packed 64 cells to a word, bit `x % 64` of word `x / 64`
/// of its row; every row padded to whole words with zero bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BitMask {
    pub width: usize,
    pub height: usize,
    words_per_row: usize,
    words: Vec<u64>,
}

impl BitMask {
    /// An all-clear mask.
    pub(crate) fn new(width: usize, height: usize) -> Self {
        let words_per_row = width.div_ceil(64);
        Self {
            width,
            height,
            words_per_row,
            words: vec![0; words_per_row * height],
        }
    }

    /// Packs `mask` (row-major; missing cells unset, extra ones ignored).
    pub(crate) fn from_bools(mask: &[bool], width: usize, height: usize) -> Self {
        let mut out = Self::new(width, height);
        for (y, row) in mask.chunks(width.max(1)).take(height).enumerate() {
            let words = out.row_mut(y);
            for (x, &set) in row.iter().enumerate() {
                words[x / 64] |= u64::from(set) << (x % 64);
            }
        }
        out
    }

    /// The words of row `y`.
    pub(crate) fn row_mut(&mut self, y: usize) -> &mut [u64] {
        let at = y * self.words_per_row;
        &mut self.words[at..at + self.words_per_row]
    }

    /// Set cells.
    pub(crate) fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }
}

/// Occupied boxes for each of `sizes` (ascending powers of two), by the
/// pyramid described in the module docs.
fn pyramid_counts(mask: &BitMask, sizes: &[usize]) -> Vec<usize> {
    let max = sizes.last().copied().unwrap_or(0);
    let mut found = Vec::with_capacity(sizes.len());
    let wpr = mask.words_per_row;
    let mut level = mask.words.clone();
    let (mut rows, mut s) = (mask.height, 1);
    let mut record = |s: usize, count: usize| {
        if sizes.contains(&s) {
            found.push(count);
        }
    };
    record(1, mask.count());
    // Sizes up to 64: bit `bx·s` of a row's words holds box `bx`.
    while s < 64 && 2 * s <= max {
        let keep = (u128::from(u64::MAX) / ((1u128 << (2 * s)) - 1)) as u64;
        let new_rows = rows.div_ceil(2);
        for r in 0..new_rows {
            for i in 0..wpr {
                let below = if 2 * r + 1 < rows {
                    level[(2 * r + 1) * wpr + i]
                } else {
                    0
                };
                let t = level[2 * r * wpr + i] | below;
                level[r * wpr + i] = (t | (t >> s)) & keep;
            }
        }
        (rows, s) = (new_rows, 2 * s);
        let count = level[..rows * wpr]
            .iter()
            .map(|w| w.count_ones() as usize)
            .sum();
        record(s, count);
    }
    // Beyond 64: one flag per box, 2×2 boxes merged per level.
    let mut cols = wpr;
    while 2 * s <= max {
        let (new_rows, new_cols) = (rows.div_ceil(2), cols.div_ceil(2));
        let at = |r: usize, c: usize| {
            if r < rows && c < cols {
                level[r * cols + c]
            } else {
                0
            }
        };
        let merged: Vec<u64> = (0..new_rows * new_cols)
            .map(|k| {
                let (r, c) = (2 * (k / new_cols), 2 * (k % new_cols));
                u64::from(at(r, c) | at(r, c + 1) | at(r + 1, c) | at(r + 1, c + 1) != 0)
            })
            .collect();
        (level, rows, cols, s) = (merged, new_rows, new_cols, 2 * s);
        record(s, level.iter().filter(|&&w| w != 0).count());
    }
    found
}

/// Number of `s × s` boxes holding at least one set cell.
fn count_boxes(mask: &[bool], width: usize, height: usize, s: usize) -> usize {
    let boxes_x = width.div_ceil(s);
    let mut occupied = vec![false; boxes_x];
    let mut count = 0;
    for y0 in (0..height).step_by(s) {
        occupied.fill(false);
        for y in y0..(y0 + s).min(height) {
            let start = y * width;
            if start >= mask.len() {
                break;
            }
            let row = &mask[start..(start + width).min(mask.len())];
            for (bx, chunk) in row.chunks(s).enumerate() {
                if !occupied[bx] && chunk.iter().any(|&b| b) {
                    occupied[bx] = true;
                }
            }
        }
        count += occupied.iter().filter(|&&o| o).count();
    }
    count
}

/// Least-squares slope and R² of `ln N` against `ln(1/s)` over the sizes
/// with `N > 0`.
fn fit(sizes: &[usize], counts: &[usize]) -> (f64, f64) {
    let points: Vec<(f64, f64)> = sizes
        .iter()
        .zip(counts)
        .filter(|(_, &n)| n > 0)
        .map(|(&s, &n)| (-(s as f64).ln(), (n as f64).ln()))
        .collect();
    if points.len() < 2 {
        return (0.0, 0.0);
    }
    let len = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / len;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / len;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    let syy: f64 = points.iter().map(|p| (p.1 - mean_y).powi(2)).sum();
    let slope = sxy / sxx;
    let intercept = mean_y - slope * mean_x;
    let ss_res: f64 = points
        .iter()
        .map(|p| (p.1 - (intercept + slope * p.0)).powi(2))
        .sum();
    // A flat, exactly fitted series (one occupied box at every scale) is a
    // perfect fit of dimension 0.
    let r_squared = if ss_res <= 1e-12 * syy.max(1.0) {
        1.0
    } else {
        (1.0 - ss_res / syy).clamp(0.0, 1.0)
    };
    (slope, r_squared)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOLERANCE: f64 = 0.05;

    fn powers(base: usize, count: u32) -> Vec<usize> {
        (0..count).map(|k| base.pow(k)).collect()
    }

    /// Sierpinski carpet of side 3^level: a cell is removed when, at some
    /// digit position, both base-3 digits of x and y are 1.
    fn carpet(level: u32) -> (Vec<bool>, usize) {
        let n = 3usize.pow(level);
        let mut mask = vec![true; n * n];
        for y in 0..n {
            for x in 0..n {
                let (mut a, mut b) = (x, y);
                while a > 0 || b > 0 {
                    if a % 3 == 1 && b % 3 == 1 {
                        mask[y * n + x] = false;
                        break;
                    }
                    a /= 3;
                    b /= 3;
                }
            }
        }
        (mask, n)
    }

    /// Sierpinski triangle of side 2^level from Pascal's triangle mod 2:
    /// C(y, x) is odd iff x's bits are a subset of y's (Lucas).
    fn triangle(level: u32) -> (Vec<bool>, usize) {
        let n = 1usize << level;
        let mut mask = vec![false; n * n];
        for y in 0..n {
            for x in 0..=y {
                mask[y * n + x] = x & !y == 0;
            }
        }
        (mask, n)
    }

    fn assert_close(got: &BoxCount, want: f64) {
        assert!(
            (got.dimension - want).abs() <= TOLERANCE,
            "dimension {} vs {want} ({got:?})",
            got.dimension
        );
    }

    #[test]
    fn filled_square_is_two() {
        let n = 512;
        let mut mask = vec![false; n * n];
        for y in 128..384 {
            mask[y * n + 128..y * n + 384].fill(true);
        }
        let bc = box_counting_dimension(&mask, n, n);
        assert_close(&bc, 2.0);
        assert!(bc.r_squared > 0.999, "{bc:?}");
        // The whole grid, too.
        let bc = box_counting_dimension(&vec![true; 729 * 729], 729, 729);
        assert_close(&bc, 2.0);
    }

    #[test]
    fn lines_are_one() {
        let n = 512;
        let mut horizontal = vec![false; n * n];
        horizontal[200 * n..201 * n].fill(true);
        let bc = box_counting_dimension(&horizontal, n, n);
        assert_close(&bc, 1.0);
        assert!(bc.r_squared > 0.999, "{bc:?}");

        let mut diagonal = vec![false; n * n];
        for i in 0..n {
            diagonal[i * n + i] = true;
        }
        assert_close(&box_counting_dimension(&diagonal, n, n), 1.0);
    }

    #[test]
    fn sierpinski_carpet() {
        let want = 8f64.ln() / 3f64.ln();
        let (mask, n) = carpet(6);
        // Boxes aligned with the carpet's thirds: exact counts 8^(6-k).
        let bc = box_counting_dimension_with_sizes(&mask, n, n, &powers(3, 6));
        assert_eq!(bc.counts, vec![262_144, 32_768, 4_096, 512, 64, 8]);
        assert_close(&bc, want);
        assert!(bc.r_squared > 0.9999, "{bc:?}");
        // The default power-of-two boxes still land within the tolerance.
        assert_close(&box_counting_dimension(&mask, n, n), want);
    }

    #[test]
    fn sierpinski_triangle() {
        let want = 3f64.ln() / 2f64.ln();
        let (mask, n) = triangle(9);
        let bc = box_counting_dimension(&mask, n, n);
        assert_eq!(bc.box_sizes, powers(2, 8));
        assert_eq!(bc.counts[0], 19_683); // 3^9 odd entries
        assert_close(&bc, want);
        assert!(bc.r_squared > 0.9999, "{bc:?}");
    }

    #[test]
    fn degenerate_masks() {
        let empty = box_counting_dimension(&[false; 64], 8, 8);
        assert_eq!((empty.dimension, empty.r_squared), (0.0, 0.0));
        let mut point = vec![false; 64 * 64];
        point[64 * 10 + 10] = true;
        let bc = box_counting_dimension(&point, 64, 64);
        assert_eq!((bc.dimension, bc.r_squared), (0.0, 1.0));
        // A short mask does not panic; missing cells are unset.
        let bc = box_counting_dimension(&[true; 10], 8, 8);
        assert!(bc.dimension.is_finite());
        let bc = box_counting_dimension(&[], 0, 0);
        assert_eq!(bc.dimension, 0.0);
    }

    #[test]
    fn pyramid_matches_direct_counts() {
        let mut rng = crate::rng::SplitMix64::new(5);
        for (w, h) in [
            (8, 8),
            (37, 53),
            (64, 64),
            (100, 100),
            (130, 70),
            (512, 300),
            (1000, 9),
        ] {
            for density in [0.001, 0.05, 0.5] {
                let mask: Vec<bool> = (0..w * h).map(|_| rng.next_f64() < density).collect();
                let sizes: Vec<usize> =
                    (0..11).map(|k| 1 << k).filter(|&s| s <= w.max(h)).collect();
                let bits = BitMask::from_bools(&mask, w, h);
                let direct: Vec<usize> =
                    sizes.iter().map(|&s| count_boxes(&mask, w, h, s)).collect();
                assert_eq!(pyramid_counts(&bits, &sizes), direct, "{w}x{h} {density}");
                assert_eq!(bits.count(), mask.iter().filter(|&&b| b).count());
            }
        }
    }

    #[test]
    fn default_sizes() {
        assert_eq!(default_box_sizes(64, 64), vec![1, 2, 4, 8, 16]);
        assert_eq!(default_box_sizes(8, 8), vec![1, 2]);
        assert_eq!(default_box_sizes(729, 729), powers(2, 8));
        assert_eq!(default_box_sizes(1, 1), vec![1]);
    }
}
