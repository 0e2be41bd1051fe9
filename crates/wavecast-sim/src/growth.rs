//! Growth events: which cells of the active mask (`v > threshold`) switched
//! on in the last step, reported compactly.
//!
//! The mask is not stored: a cell is *activated* by a step when
//! `v_before <= t < v_after` and *deactivated* when `v_after <= t < v_before`.
//! The step kernel counts these per row while the row is still in cache
//! ([`count_row`]) and notes each row's activations; the bounded cell list
//! then visits only rows that had any. Counts are exact; the list holds the
//! first `growth_event_limit` cells in row-major order, in a buffer
//! allocated once, so tracking allocates nothing per step.

use serde::Serialize;

/// Mask transitions over some cells.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MaskCounts {
    /// Cells that became active.
    pub activated: usize,
    /// Cells that stopped being active.
    pub deactivated: usize,
    /// Cells active afterwards.
    pub active: usize,
}

impl std::ops::Add for MaskCounts {
    type Output = Self;

    /// The counts of two disjoint sets of cells together.
    fn add(self, other: Self) -> Self {
        Self {
            activated: self.activated + other.activated,
            deactivated: self.deactivated + other.deactivated,
            active: self.active + other.active,
        }
    }
}

/// Counts transitions between `before` and `after` (same length) at
/// threshold `t`. Branch-free; vectorises.
#[inline]
pub fn count_row(before: &[f32], after: &[f32], t: f32) -> MaskCounts {
    let (mut on, mut off, mut active) = (0usize, 0usize, 0usize);
    for (&p, &n) in before.iter().zip(after) {
        let (was, is) = (p > t, n > t);
        on += usize::from(is & !was);
        off += usize::from(was & !is);
        active += usize::from(is);
    }
    MaskCounts {
        activated: on,
        deactivated: off,
        active,
    }
}

/// The growth of the active mask in one step.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GrowthEvents {
    /// The step these events belong to (0 before any step).
    pub step: u64,
    /// Cells newly activated in the step (exact count).
    pub activated: usize,
    /// Cells that left the active mask in the step (exact count).
    pub deactivated: usize,
    /// Active cells after the step.
    pub active: usize,
    /// Up to `growth_event_limit` newly activated cells as `[x, y]`, in
    /// row-major order.
    pub cells: Vec<[u32; 2]>,
    /// True when `activated > cells.len()`: the list was cut at the limit.
    pub truncated: bool,
}

impl GrowthEvents {
    /// Empty events with room for `limit` cells.
    pub(crate) fn with_limit(limit: usize) -> Self {
        Self {
            cells: Vec::with_capacity(limit),
            ..Self::default()
        }
    }

    /// Records a step's events from its counts, the per-row activation
    /// counts, and the fields before and after it (row-major, `width` wide).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn record(
        &mut self,
        step: u64,
        counts: MaskCounts,
        row_activations: &[u32],
        before: &[f32],
        after: &[f32],
        width: usize,
        threshold: f32,
        limit: usize,
    ) {
        self.step = step;
        self.activated = counts.activated;
        self.deactivated = counts.deactivated;
        self.active = counts.active;
        self.cells.clear();
        let rows = row_activations
            .iter()
            .enumerate()
            .filter(|&(_, &k)| k > 0)
            .map(|(y, _)| y);
        for y in rows {
            if self.cells.len() >= limit {
                break;
            }
            let start = y * width;
            let (Some(b), Some(a)) = (
                before.get(start..start + width),
                after.get(start..start + width),
            ) else {
                break;
            };
            let newly = b
                .iter()
                .zip(a)
                .enumerate()
                .filter(|(_, (&p, &n))| p <= threshold && n > threshold)
                .take(limit - self.cells.len());
            for (x, _) in newly {
                self.cells.push([x as u32, y as u32]);
            }
        }
        self.truncated = self.activated > self.cells.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(g: &mut GrowthEvents, step: u64, before: &[f32], after: &[f32], w: usize) {
        let rows: Vec<u32> = before
            .chunks(w)
            .zip(after.chunks(w))
            .map(|(b, a)| count_row(b, a, 0.25).activated as u32)
            .collect();
        let counts = count_row(before, after, 0.25);
        let limit = g.cells.capacity();
        g.record(step, counts, &rows, before, after, w, 0.25, limit);
    }

    #[test]
    fn counts_and_bounded_list() {
        let w = 4;
        let before = [0.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.5, 0.0];
        let after = [0.5, 0.0, 0.5, 0.0, 0.5, 0.0, 0.5, 0.5];
        let mut g = GrowthEvents::with_limit(2);
        record(&mut g, 3, &before, &after, w);
        assert_eq!((g.step, g.activated, g.deactivated, g.active), (3, 4, 1, 5));
        assert_eq!(g.cells, vec![[0, 0], [2, 0]]);
        assert!(g.truncated);
        let mut g = GrowthEvents::with_limit(8);
        record(&mut g, 3, &before, &after, w);
        assert_eq!(g.cells, vec![[0, 0], [2, 0], [0, 1], [3, 1]]);
        assert!(!g.truncated);
        record(&mut g, 4, &after, &after, w);
        assert_eq!((g.activated, g.deactivated, g.active), (0, 0, 5));
        assert!(g.cells.is_empty() && !g.truncated);
    }

    #[test]
    fn serializes_compactly() {
        let mut g = GrowthEvents::with_limit(8);
        record(&mut g, 1, &[0.0, 0.0], &[1.0, 0.0], 2);
        let json = serde_json::to_string(&g).unwrap();
        assert_eq!(
            json,
            r#"{"step":1,"activated":1,"deactivated":0,"active":1,"cells":[[0,0]],"truncated":false}"#
        );
    }
}
