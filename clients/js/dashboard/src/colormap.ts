/**
 * A 256-entry perceptual colour map (viridis, interpolated from 9 stops)
 * and the heatmap painter for decoded simulation fields.
 */
import type { DecodedField } from 'wavecast';

const STOPS: Array<[number, number, number]> = [
  [68, 1, 84],
  [71, 44, 122],
  [59, 81, 139],
  [44, 113, 142],
  [33, 144, 141],
  [39, 173, 129],
  [92, 200, 99],
  [170, 220, 50],
  [253, 231, 37],
];

export const VIRIDIS: Uint8ClampedArray = (() => {
  const lut = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const x = (i / 255) * (STOPS.length - 1);
    const k = Math.min(STOPS.length - 2, Math.floor(x));
    const t = x - k;
    for (let c = 0; c < 3; c++) lut[i * 3 + c] = STOPS[k][c] + (STOPS[k + 1][c] - STOPS[k][c]) * t;
  }
  return lut;
})();

/** Paints the field's levels into an RGBA buffer of the same size. */
export function paintField(field: DecodedField, target: ImageData): void {
  const { levels } = field;
  const out = target.data;
  for (let i = 0, j = 0; i < levels.length; i++, j += 4) {
    const l = levels[i] * 3;
    out[j] = VIRIDIS[l];
    out[j + 1] = VIRIDIS[l + 1];
    out[j + 2] = VIRIDIS[l + 2];
    out[j + 3] = 255;
  }
}
