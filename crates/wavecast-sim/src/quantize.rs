//! Compact quantised snapshots of the potential field for streaming: one
//! byte (or two) per cell plus the `[min, max]` scale, so a 256² frame is
//! 64 KiB raw (about 87 KiB as base64) instead of megabytes of JSON floats.

/// A field quantised to `T` (`u8` or `u16`) over `[min, max]`.
///
/// Cell `i` stands for `min + data[i] * (max - min) / T::MAX`. A constant
/// field has `min == max` and all zeros. Non-finite cells (possible only in
/// an unchecked run) are ignored for the scale and stored as 0.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QuantizedField<T = u8> {
    /// Cells per row.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// The value that level 0 stands for.
    pub min: f32,
    /// The value that the top level stands for.
    pub max: f32,
    /// Levels, row-major.
    pub data: Vec<T>,
}

/// A quantisation level type.
pub trait Level: Copy + Default {
    /// The top level, as `f32`.
    const TOP: f32;
    /// The level nearest to `x` in `[0, TOP]` (saturating; NaN gives 0).
    fn from_scaled(x: f32) -> Self;
    /// The level as `f32`.
    fn to_f32(self) -> f32;
}

impl Level for u8 {
    const TOP: f32 = u8::MAX as f32;
    fn from_scaled(x: f32) -> Self {
        (x + 0.5) as u8
    }
    fn to_f32(self) -> f32 {
        f32::from(self)
    }
}

impl Level for u16 {
    const TOP: f32 = u16::MAX as f32;
    fn from_scaled(x: f32) -> Self {
        (x + 0.5) as u16
    }
    fn to_f32(self) -> f32 {
        f32::from(self)
    }
}

impl<T: Level> QuantizedField<T> {
    /// Quantises `values` (row-major, `width × height`).
    pub fn from_values(values: &[f32], width: usize, height: usize) -> Self {
        let mut out = Self::default();
        out.fill_from(values, width, height);
        out
    }

    /// Re-quantises into this buffer, reusing its allocation.
    pub fn fill_from(&mut self, values: &[f32], width: usize, height: usize) {
        let (min, max) = values
            .iter()
            .filter(|x| x.is_finite())
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &x| {
                (lo.min(x), hi.max(x))
            });
        let (min, max) = if min <= max { (min, max) } else { (0.0, 0.0) };
        let range = max - min;
        let scale = if range > 0.0 && range.is_finite() {
            T::TOP / range
        } else {
            0.0
        };
        self.width = width;
        self.height = height;
        self.min = min;
        self.max = max;
        self.data.clear();
        self.data.extend(values.iter().map(|&x| {
            if x.is_finite() {
                T::from_scaled((x - min) * scale)
            } else {
                T::default()
            }
        }));
    }

    /// The value cell `i` stands for (`None` past the end).
    pub fn dequantize(&self, i: usize) -> Option<f32> {
        let level = self.data.get(i)?;
        Some(self.min + level.to_f32() * (self.max - self.min) / T::TOP)
    }

    /// Largest error a cell can carry: half a level.
    pub fn resolution(&self) -> f32 {
        0.5 * (self.max - self.min) / T::TOP
    }
}

impl QuantizedField<u16> {
    /// The levels as little-endian bytes, for a binary frame or base64.
    pub fn to_le_bytes(&self) -> Vec<u8> {
        self.data.iter().flat_map(|l| l.to_le_bytes()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_within_half_a_level() {
        let values: Vec<f32> = (0..1000)
            .map(|i| (i as f32 * 0.37).sin() * 0.3 + 0.2)
            .collect();
        let q8 = QuantizedField::<u8>::from_values(&values, 100, 10);
        let q16 = QuantizedField::<u16>::from_values(&values, 100, 10);
        assert_eq!(q8.data.len(), 1000);
        assert_eq!(*q8.data.iter().max().unwrap(), 255);
        assert_eq!(*q8.data.iter().min().unwrap(), 0);
        for (i, &x) in values.iter().enumerate() {
            assert!((q8.dequantize(i).unwrap() - x).abs() <= q8.resolution() * 1.01);
            assert!((q16.dequantize(i).unwrap() - x).abs() <= q16.resolution() * 1.01 + 1e-6);
        }
        assert_eq!(q16.to_le_bytes().len(), 2000);
    }

    #[test]
    fn constant_and_non_finite() {
        let q = QuantizedField::<u8>::from_values(&[0.3; 16], 4, 4);
        assert_eq!((q.min, q.max), (0.3, 0.3));
        assert!(q.data.iter().all(|&l| l == 0));
        assert_eq!(q.dequantize(3), Some(0.3));
        let q = QuantizedField::<u8>::from_values(&[f32::NAN, 1.0, f32::INFINITY, 0.0], 2, 2);
        assert_eq!((q.min, q.max), (0.0, 1.0));
        assert_eq!(q.data, vec![0, 255, 0, 0]);
        let q = QuantizedField::<u8>::from_values(&[f32::NAN; 4], 2, 2);
        assert_eq!((q.min, q.max, q.data.clone()), (0.0, 0.0, vec![0; 4]));
    }
}
