/**
 * Cheap work done on a frame before the decoder sees it (in the decode worker): cut the region of interest,
 * halve frames wider than a limit, and skip frames that did not change since the last decode. Pure functions
 * and one small state machine, no I/O.
 */
import type { GreyFrame } from './frame.js';

/** A region of interest as fractions of the frame (0..1), so it survives a change of resolution. */
export interface RegionOfInterest {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** The pixel rectangle of `roi` in a `width` x `height` frame (whole pixels, at least 1x1, inside). */
export function roiRect(
  roi: RegionOfInterest,
  width: number,
  height: number,
): { x: number; y: number; width: number; height: number } {
  const clamp = (v: number): number => Math.min(1, Math.max(0, v));
  const x0 = Math.min(width - 1, Math.floor(clamp(roi.x) * width));
  const y0 = Math.min(height - 1, Math.floor(clamp(roi.y) * height));
  const x1 = Math.max(x0 + 1, Math.ceil(clamp(roi.x + roi.width) * width));
  const y1 = Math.max(y0 + 1, Math.ceil(clamp(roi.y + roi.height) * height));
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/** The region of interest as its own frame (rows copied); the frame itself when the region is all of it. */
export function crop(frame: GreyFrame, roi: RegionOfInterest | undefined): GreyFrame {
  if (roi === undefined) return frame;
  const r = roiRect(roi, frame.width, frame.height);
  if (r.x === 0 && r.y === 0 && r.width === frame.width && r.height === frame.height) return frame;
  const out = new Uint8Array(r.width * r.height);
  for (let y = 0; y < r.height; y++) {
    const from = (r.y + y) * frame.width + r.x;
    out.set(frame.data.subarray(from, from + r.width), y * r.width);
  }
  return { width: r.width, height: r.height, data: out };
}

/** Halves the frame (2x2 box average) until it is at most `maxWidth` wide; `maxWidth` 0 or less: as is. */
export function downscale(frame: GreyFrame, maxWidth: number): GreyFrame {
  let f = frame;
  while (maxWidth > 0 && f.width > maxWidth && f.width >= 2 && f.height >= 2) f = half(f);
  return f;
}

function half(frame: GreyFrame): GreyFrame {
  const w = frame.width >> 1;
  const h = frame.height >> 1;
  const src = frame.data;
  const sw = frame.width;
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    let i = 2 * y * sw;
    const o = y * w;
    for (let x = 0; x < w; x++, i += 2) {
      out[o + x] =
        ((src[i] as number) +
          (src[i + 1] as number) +
          (src[i + sw] as number) +
          (src[i + sw + 1] as number) +
          2) >>
        2;
    }
  }
  return { width: w, height: h, data: out };
}

/** Blocks across and down in a frame's signature. */
export const SIGNATURE_COLS = 16;
export const SIGNATURE_ROWS = 12;

/**
 * A coarse signature of the frame: the mean grey of each of 16x12 blocks, from every 4th pixel of every 4th
 * row (about 1/16 of the frame: ~20k reads at 640x480). Averaging makes it insensitive to sensor noise; a
 * phone moved into a block changes that block's mean by tens of levels.
 */
export function signature(frame: GreyFrame): Uint8Array {
  const { width, height, data } = frame;
  const sums = new Float64Array(SIGNATURE_COLS * SIGNATURE_ROWS);
  const counts = new Uint32Array(SIGNATURE_COLS * SIGNATURE_ROWS);
  const step = width >= 64 && height >= 48 ? 4 : 1;
  for (let y = 0; y < height; y += step) {
    const by = Math.min(SIGNATURE_ROWS - 1, Math.floor((y * SIGNATURE_ROWS) / height)) * SIGNATURE_COLS;
    const row = y * width;
    for (let x = 0; x < width; x += step) {
      const b = by + Math.min(SIGNATURE_COLS - 1, Math.floor((x * SIGNATURE_COLS) / width));
      sums[b] = (sums[b] as number) + (data[row + x] as number);
      counts[b] = (counts[b] as number) + 1;
    }
  }
  const out = new Uint8Array(sums.length);
  for (let i = 0; i < out.length; i++) {
    const c = counts[i] as number;
    out[i] = c === 0 ? 0 : Math.round((sums[i] as number) / c);
  }
  return out;
}

/** The largest difference between two signatures' blocks (255 when they cannot be compared). */
export function signatureDistance(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return 255;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs((a[i] as number) - (b[i] as number));
    if (d > max) max = d;
  }
  return max;
}

export interface ChangeGateOptions {
  /** A block mean that moved by at least this many grey levels is a change. */
  readonly threshold: number;
  /** Decode at least this often even in a scene that does not change (ms, frame time). */
  readonly maxSkipMs: number;
  /** How many decodes of a still scene that found nothing come before frames start being skipped. */
  readonly settleFrames: number;
}

export const DEFAULT_CHANGE_GATE: ChangeGateOptions = { threshold: 6, maxSkipMs: 1000, settleFrames: 2 };

/**
 * Decides whether a frame needs decoding. A frame is compared with the last frame that was decoded, not with
 * the previous frame, so a slow drift still ends in a decode. A still scene whose last decode found codes
 * reuses that result (the codes are still in view); a still scene without codes is skipped only after
 * `settleFrames` decodes found nothing in it, so a phone that just stopped moving is decoded again even if
 * the first still frame was blurred; and nothing is skipped for longer than `maxSkipMs`.
 */
export class ChangeGate {
  private last: Uint8Array | undefined;
  private lastDecodeAt = Number.NEGATIVE_INFINITY;
  private stillEmpty = 0;
  private lastFound = false;

  constructor(private readonly options: ChangeGateOptions = DEFAULT_CHANGE_GATE) {}

  /** 'reuse': the scene did not change; the last result stands. 'decode': decode this frame. */
  check(sig: Uint8Array, at: number): 'decode' | 'reuse' {
    if (this.last === undefined || signatureDistance(sig, this.last) >= this.options.threshold) {
      this.stillEmpty = 0;
      return 'decode';
    }
    if (at - this.lastDecodeAt >= this.options.maxSkipMs) return 'decode';
    if (this.lastFound) return 'reuse';
    return this.stillEmpty >= this.options.settleFrames ? 'reuse' : 'decode';
  }

  /** Records the decode of a frame (its signature, time and whether it found any code). */
  decoded(sig: Uint8Array, at: number, found: boolean): void {
    const still = this.last !== undefined && signatureDistance(sig, this.last) < this.options.threshold;
    this.stillEmpty = found ? 0 : still ? this.stillEmpty + 1 : 1;
    this.last = sig;
    this.lastDecodeAt = at;
    this.lastFound = found;
  }
}
