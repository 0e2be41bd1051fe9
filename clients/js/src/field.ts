/**
 * Decoding of the `u8-base64` field of `simulation_state` (docs/mfn.md §4):
 * `width × height` levels in row-major order, `value = min + level · (max − min) / 255`.
 */

export interface EncodedField {
  data: string;
  encoding: string;
  width: number;
  height: number;
  min: number;
  max: number;
}

export interface DecodedField {
  width: number;
  height: number;
  min: number;
  max: number;
  /** One level (0-255) per cell, row-major. */
  levels: Uint8Array;
}

/** Decodes a field; returns an error message when it is malformed. */
export function decodeField(field: unknown): DecodedField | string {
  const f = field as Partial<EncodedField> | null;
  if (!f || typeof f !== 'object') return 'field: not an object';
  if (f.encoding !== 'u8-base64') return `field: unknown encoding ${JSON.stringify(f.encoding)}`;
  const { width, height, min, max, data } = f;
  if (!Number.isInteger(width) || !Number.isInteger(height) || (width as number) <= 0 || (height as number) <= 0) {
    return 'field: width and height must be positive whole numbers';
  }
  if (typeof data !== 'string') return 'field: data must be a base64 string';
  let binary: string;
  try {
    binary = atob(data);
  } catch {
    return 'field: data is not valid base64';
  }
  const size = (width as number) * (height as number);
  if (binary.length !== size) return `field: ${binary.length} levels for a ${width}x${height} grid`;
  const levels = new Uint8Array(size);
  for (let i = 0; i < size; i++) levels[i] = binary.charCodeAt(i);
  return {
    width: width as number,
    height: height as number,
    min: typeof min === 'number' ? min : 0,
    max: typeof max === 'number' ? max : 0,
    levels,
  };
}

/** The value of a level: `min + level · (max − min) / 255`. */
export function levelValue(field: DecodedField, level: number): number {
  return field.min + (level * (field.max - field.min)) / 255;
}
