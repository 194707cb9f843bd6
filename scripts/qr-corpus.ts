/**
 * QR corpus generator for the camera tests and `npm run bench`: pass payloads rendered with the `qrcode`
 * package onto a phone screen, placed in a cluttered grey scene and distorted the way a door camera sees
 * them (scaled, rotated, perspective-warped, blurred, darkened, noisy, with glare), at 640x480 and 1280x720.
 * Deterministic: the same seed gives the same pixels. Nothing large is committed: frames are made in memory
 * or written to a temp dir at test and bench time.
 *
 * bench/qr.ts imports it, so `npm run build` compiles it to dist/scripts/qr-corpus.js, which is also a CLI:
 *
 *   node dist/scripts/qr-corpus.js OUT_DIR [--seed N] [--per N] [--sizes 640x480,1280x720] [--jpeg]
 *
 * writes OUT_DIR/<distortion>-<WxH>-<n>.png (8-bit grey; .jpg with --jpeg) and OUT_DIR/manifest.json
 * ({ file, distortion, width, height, text } per frame; text null for a frame without a code).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import QRCode from 'qrcode';
import { Prng as BasePrng } from '../bench/stats.js';

export interface Frame {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

export interface CorpusFrame extends Frame {
  readonly name: string;
  readonly distortion: Distortion | 'nocode';
  /** The code's text; null for a frame without a code. */
  readonly text: string | null;
}

/** The benchmark's seeded PRNG (mulberry32, bench/stats.ts), with the draws the distortions need. */
export class Prng extends BasePrng {
  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Standard normal (Box-Muller). */
  gauss(): number {
    const u = Math.max(this.next(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  /** A fast standard normal for per-pixel sensor noise: one draw indexes a fixed table of normal samples. */
  fastGauss(): number {
    return NORMAL_TABLE[(this.next() * NORMAL_TABLE.length) | 0]!;
  }
}

/** 64k standard normal samples (fixed seed), for per-pixel noise at a fraction of Box-Muller's cost. */
const NORMAL_TABLE = ((): Float32Array => {
  const rng = new Prng(0x6a055);
  const t = new Float32Array(65536);
  for (let i = 0; i < t.length; i++) t[i] = rng.gauss();
  return t;
})();

const HEX = '0123456789abcdef';
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
function pickChars(rng: Prng, n: number, alphabet: string): string {
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(rng.next() * alphabet.length)];
  return s;
}

/**
 * A pass payload of about `length` characters, shaped like the ones the cloud issues: short visitor codes
 * (`DPV1:vp-2026-0501-7f3a:9c1e55d0b2a44f7e`, docs/pass-format.md) and longer signed tokens (base64url).
 */
export function passPayload(rng: Prng, length: number): string {
  const id = `vp-2026-${String(rng.int(101, 1231)).padStart(4, '0')}-${pickChars(rng, 4, HEX)}`;
  const head = `DPV1:${id}:`;
  if (length <= head.length + 16) return head + pickChars(rng, 16, HEX);
  if (length <= 64) return head + pickChars(rng, length - head.length, HEX);
  const sig = pickChars(rng, 43, B64URL);
  const body = pickChars(rng, Math.max(8, length - head.length - sig.length - 1), B64URL);
  return `${head}${body}.${sig}`;
}

export interface Modules {
  readonly size: number;
  /** size*size, row-major, 1 = dark. */
  readonly data: Uint8Array;
}

/** The module matrix of `text` (error correction M, as wallet apps use). */
export function qrModules(text: string, errorCorrectionLevel: 'L' | 'M' | 'Q' | 'H' = 'M'): Modules {
  const qr = QRCode.create(text, { errorCorrectionLevel });
  return { size: qr.modules.size, data: Uint8Array.from(qr.modules.data) };
}

/** The distortions reported one by one (decode rate per distortion). */
export const DISTORTIONS = [
  'clean',
  'small',
  'rotated',
  'perspective',
  'blur',
  'dark',
  'noise',
  'glare',
  'clutter',
  'mixed',
] as const;
export type Distortion = (typeof DISTORTIONS)[number];

/**
 * A scene. codeFrac: the code's width (quiet zone included) as a fraction of the frame width; cx, cy: where
 * the code's centre lies (0..1 of the free space); angle in degrees; perspective: corner jitter as a fraction
 * of the phone's width; blur: box radius in px at 640 wide (scaled with the frame); gain/offset: exposure
 * (I' = I * gain + offset); noise: sigma in grey levels; glare: 0..1 strength of a specular blob over the
 * code; clutter: number of background shapes; invert: light modules on a dark screen; phone: draw the phone
 * at all (a frame without a code may still show a phone with a blank screen).
 */
export interface SceneParams {
  readonly text: string | null;
  readonly codeFrac: number;
  readonly cx: number;
  readonly cy: number;
  readonly angle: number;
  readonly perspective: number;
  readonly blur: number;
  readonly gain: number;
  readonly offset: number;
  readonly noise: number;
  readonly glare: number;
  readonly clutter: number;
  readonly invert: boolean;
  readonly phone: boolean;
}

export const DEFAULT_SCENE: SceneParams = {
  text: null,
  codeFrac: 0.3,
  cx: 0.5,
  cy: 0.5,
  angle: 0,
  perspective: 0,
  blur: 0,
  gain: 1,
  offset: 0,
  noise: 2,
  glare: 0,
  clutter: 12,
  invert: false,
  phone: true,
};

/** Parameters for one frame of `distortion`, drawn from `rng`. */
export function distortionParams(rng: Prng, distortion: Distortion): Partial<SceneParams> {
  const base = {
    codeFrac: rng.range(0.2, 0.38),
    angle: rng.range(-8, 8),
    perspective: rng.range(0, 0.04),
    noise: rng.range(1.5, 4),
    clutter: rng.int(6, 14),
    gain: rng.range(0.85, 1),
  };
  switch (distortion) {
    case 'clean':
      return { ...base, angle: rng.range(-3, 3), perspective: 0, noise: 1.5, clutter: 0 };
    case 'small':
      return { ...base, codeFrac: rng.range(0.09, 0.16) };
    case 'rotated':
      return { ...base, angle: rng.range(0, 360) };
    case 'perspective':
      return { ...base, perspective: rng.range(0.1, 0.22), angle: rng.range(-20, 20) };
    case 'blur':
      return { ...base, blur: rng.range(0.6, 1.5) };
    case 'dark':
      return { ...base, gain: rng.range(0.12, 0.25), offset: rng.range(2, 10), noise: rng.range(1.5, 3) };
    case 'noise':
      return { ...base, noise: rng.range(8, 18) };
    case 'glare':
      return { ...base, glare: rng.range(0.55, 0.9) };
    case 'clutter':
      return { ...base, clutter: rng.int(60, 120), codeFrac: rng.range(0.14, 0.26) };
    case 'mixed':
      return {
        ...base,
        codeFrac: rng.range(0.15, 0.3),
        angle: rng.range(0, 360),
        perspective: rng.range(0.03, 0.1),
        blur: rng.range(0.3, 1),
        gain: rng.range(0.45, 0.85),
        noise: rng.range(4, 9),
        glare: rng.next() < 0.4 ? rng.range(0.3, 0.6) : 0,
        clutter: rng.int(20, 60),
      };
  }
}

// ---- geometry ---------------------------------------------------------------------------------------------

type Point = readonly [number, number];
type Matrix3 = readonly number[];

/** The homography mapping the four `src` points onto the four `dst` points (row-major 3x3, h33 = 1). */
function homography(src: readonly Point[], dst: readonly Point[]): Matrix3 {
  const a: number[][] = [];
  const b: number[] = [];
  for (let i = 0; i < 4; i++) {
    const [x, y] = src[i]!;
    const [u, v] = dst[i]!;
    a.push([x, y, 1, 0, 0, 0, -u * x, -u * y]);
    b.push(u);
    a.push([0, 0, 0, x, y, 1, -v * x, -v * y]);
    b.push(v);
  }
  // Gauss-Jordan elimination with partial pivoting.
  for (let c = 0; c < 8; c++) {
    let p = c;
    for (let r = c + 1; r < 8; r++) if (Math.abs(a[r]![c]!) > Math.abs(a[p]![c]!)) p = r;
    [a[c], a[p]] = [a[p]!, a[c]!];
    [b[c], b[p]] = [b[p]!, b[c]!];
    const pivot = a[c]!;
    for (let r = 0; r < 8; r++) {
      if (r === c) continue;
      const row = a[r]!;
      const f = row[c]! / pivot[c]!;
      for (let k = c; k < 8; k++) row[k] = row[k]! - f * pivot[k]!;
      b[r] = b[r]! - f * b[c]!;
    }
  }
  return [...b.map((v, i) => v / a[i]![i]!), 1];
}

function invert3(m: Matrix3): Matrix3 {
  const [a, b, c, d, e, f, g, h, i] = m as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const A = e * i - f * h;
  const B = -(d * i - f * g);
  const C = d * h - e * g;
  const det = a * A + b * B + c * C;
  return [
    A / det,
    -(b * i - c * h) / det,
    (b * f - c * e) / det,
    B / det,
    (a * i - c * g) / det,
    -(a * f - c * d) / det,
    C / det,
    -(a * h - b * g) / det,
    (a * e - b * d) / det,
  ];
}

function apply(m: Matrix3, u: number, v: number): Point {
  const w = m[6]! * u + m[7]! * v + m[8]!;
  return [(m[0]! * u + m[1]! * v + m[2]!) / w, (m[3]! * u + m[4]! * v + m[5]!) / w];
}

// ---- drawing ----------------------------------------------------------------------------------------------

function fillRect(
  f: Float32Array,
  width: number,
  height: number,
  x0: number,
  y0: number,
  w: number,
  h: number,
  level: number,
): void {
  const xa = Math.max(0, Math.round(x0));
  const xb = Math.min(width, Math.round(x0 + w));
  const ya = Math.max(0, Math.round(y0));
  const yb = Math.min(height, Math.round(y0 + h));
  if (xb <= xa) return;
  for (let y = ya; y < yb; y++) f.fill(level, y * width + xa, y * width + xb);
}

/** A cluttered grey background: a lighting gradient, shapes, stripes, text-like rows and finder-like decoys. */
function background(rng: Prng, width: number, height: number, clutter: number): Float32Array {
  const f = new Float32Array(width * height);
  const g0 = rng.range(70, 170);
  const gx = rng.range(-60, 60) / width;
  const gy = rng.range(-60, 60) / height;
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) f[y * width + x] = g0 + gx * x + gy * y;
  const s = width / 640;
  for (let k = 0; k < clutter; k++) {
    const kind = rng.next();
    const level = rng.range(10, 245);
    const x0 = rng.range(-50, width);
    const y0 = rng.range(-50, height);
    if (kind < 0.45) {
      fillRect(f, width, height, x0, y0, rng.range(8, 160) * s, rng.range(8, 160) * s, level);
    } else if (kind < 0.65) {
      const r = rng.range(6, 60) * s;
      for (let y = Math.max(0, Math.floor(y0 - r)); y < Math.min(height, y0 + r); y++)
        for (let x = Math.max(0, Math.floor(x0 - r)); x < Math.min(width, x0 + r); x++)
          if ((x - x0) ** 2 + (y - y0) ** 2 <= r * r) f[y * width + x] = level;
    } else if (kind < 0.8) {
      // Stripes (a radiator, blinds, a poster with a barcode).
      const w = rng.range(40, 200) * s;
      const h = rng.range(20, 120) * s;
      const period = rng.range(3, 14) * s;
      const other = rng.range(10, 245);
      for (let y = Math.max(0, Math.floor(y0)); y < Math.min(height, y0 + h); y++)
        for (let x = Math.max(0, Math.floor(x0)); x < Math.min(width, x0 + w); x++)
          f[y * width + x] = Math.floor((x - x0) / period) % 2 === 0 ? level : other;
    } else if (kind < 0.92) {
      // Text-like rows of small blocks.
      const rows = rng.int(2, 6);
      const size = rng.range(3, 8) * s;
      for (let r = 0; r < rows; r++) {
        let x = x0;
        const y = y0 + r * size * 2;
        const n = rng.int(5, 30);
        for (let i = 0; i < n; i++) {
          const w = rng.range(0.6, 2.5) * size;
          fillRect(f, width, height, x, y, w, size, level < 128 ? level : 255 - level);
          x += w + size * rng.range(0.3, 1.2);
        }
      }
    } else {
      // A finder-like decoy (1:1:3:1:1 nested squares): what a QR detector looks for first.
      const m = rng.range(2, 6) * s;
      fillRect(f, width, height, x0, y0, 7 * m, 7 * m, 20);
      fillRect(f, width, height, x0 + m, y0 + m, 5 * m, 5 * m, 235);
      fillRect(f, width, height, x0 + 2 * m, y0 + 2 * m, 3 * m, 3 * m, 20);
    }
  }
  return f;
}

interface Placed {
  readonly codeCentre: Point;
  readonly codePx: number;
}

/**
 * Draws a phone showing the code (a blank screen when `modules` is null) into `f`, anti-aliased (2x2
 * samples per pixel). Geometry in phone units; the phone's corners are mapped by a homography.
 */
function drawPhone(
  rng: Prng,
  f: Float32Array,
  width: number,
  height: number,
  modules: Modules | null,
  p: SceneParams,
): Placed {
  const quiet = 4;
  const codePx = p.codeFrac * width;
  const phoneW = codePx / 0.78;
  const phoneH = phoneW * 2;
  const bezel = phoneW * 0.05;
  const screenW = phoneW - 2 * bezel;
  const codeX = bezel + (screenW - codePx) / 2;
  const codeY = phoneH * 0.3;
  const n = modules === null ? 21 : modules.size;
  const module = codePx / (n + 2 * quiet);
  const screen = rng.range(205, 250);
  const ink = rng.range(15, 45);
  const body = rng.range(15, 40);
  const light = p.invert ? ink : screen;
  const dark = p.invert ? screen : ink;
  const texture = (u: number, v: number): number => {
    if (u < 0 || v < 0 || u >= phoneW || v >= phoneH) return -1;
    if (u < bezel || u >= phoneW - bezel || v < bezel * 2 || v >= phoneH - bezel * 2) return body;
    const cu = u - codeX;
    const cv = v - codeY;
    if (cu >= 0 && cv >= 0 && cu < codePx && cv < codePx) {
      if (modules === null) return light;
      const mx = Math.floor(cu / module) - quiet;
      const my = Math.floor(cv / module) - quiet;
      if (mx < 0 || my < 0 || mx >= n || my >= n) return light;
      return modules.data[my * n + mx] === 1 ? dark : light;
    }
    // Wallet UI: a title bar and lines of text above and below the code.
    if (v - bezel * 2 < phoneH * 0.06) return p.invert ? 60 : 120;
    const line = Math.floor((v - phoneH * 0.1) / (phoneW * 0.05));
    if (v < codeY - module && v > phoneH * 0.1 && line % 2 === 0 && u < phoneW * (0.3 + 0.1 * (line % 5)))
      return p.invert ? 200 : 70;
    if (v > codeY + codePx + module * 2 && line % 3 === 0 && u < phoneW * 0.7) return p.invert ? 200 : 90;
    return light;
  };
  // Rotate the phone around the code's centre, put that centre at (cx, cy), jitter the corners.
  const ucode = codeX + codePx / 2;
  const vcode = codeY + codePx / 2;
  const margin = (codePx / 2) * 1.45;
  const cx = margin + p.cx * Math.max(0, width - 2 * margin);
  const cy = margin + p.cy * Math.max(0, height - 2 * margin);
  const a = (p.angle * Math.PI) / 180;
  const cos = Math.cos(a);
  const sin = Math.sin(a);
  const src: Point[] = [
    [0, 0],
    [phoneW, 0],
    [phoneW, phoneH],
    [0, phoneH],
  ];
  const jitter = p.perspective * phoneW;
  const dst: Point[] = src.map(([u, v]) => {
    const du = u - ucode;
    const dv = v - vcode;
    return [
      cx + du * cos - dv * sin + rng.range(-jitter, jitter),
      cy + du * sin + dv * cos + rng.range(-jitter, jitter),
    ];
  });
  const h = homography(src, dst);
  const inv = invert3(h);
  const xs = dst.map((d) => d[0]);
  const ys = dst.map((d) => d[1]);
  const x0 = Math.max(0, Math.floor(Math.min(...xs)));
  const x1 = Math.min(width - 1, Math.ceil(Math.max(...xs)));
  const y0 = Math.max(0, Math.floor(Math.min(...ys)));
  const y1 = Math.min(height - 1, Math.ceil(Math.max(...ys)));
  const [i0, i1, i2, i3, i4, i5, i6, i7, i8] = inv as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      let sum = 0;
      let hits = 0;
      for (let s = 0; s < 4; s++) {
        const X = x + (s & 1 ? 0.75 : 0.25);
        const Y = y + (s & 2 ? 0.75 : 0.25);
        const w = i6 * X + i7 * Y + i8;
        const t = texture((i0 * X + i1 * Y + i2) / w, (i3 * X + i4 * Y + i5) / w);
        if (t >= 0) {
          sum += t;
          hits++;
        }
      }
      if (hits > 0) {
        const i = y * width + x;
        f[i] = (sum + (4 - hits) * f[i]!) / 4;
      }
    }
  }
  return { codeCentre: apply(h, ucode, vcode), codePx };
}

/** Box blur of radius r (fractional radii weigh the outer taps), horizontal then vertical, twice: ~Gaussian. */
function blur(f: Float32Array, width: number, height: number, radius: number): void {
  const lo = Math.floor(radius);
  const frac = radius - lo;
  const span = 2 * lo + 1 + 2 * frac;
  const line = (
    input: Float32Array,
    output: Float32Array,
    start: number,
    step: number,
    count: number,
  ): void => {
    for (let i = 0; i < count; i++) {
      let s = 0;
      for (let k = -lo; k <= lo; k++) s += input[start + step * Math.min(count - 1, Math.max(0, i + k))]!;
      if (frac > 0) {
        s += frac * input[start + step * Math.max(0, i - lo - 1)]!;
        s += frac * input[start + step * Math.min(count - 1, i + lo + 1)]!;
      }
      output[start + step * i] = s / span;
    }
  };
  const tmp = new Float32Array(f.length);
  for (let pass = 0; pass < 2; pass++) {
    for (let y = 0; y < height; y++) line(f, tmp, y * width, 1, width);
    for (let x = 0; x < width; x++) line(tmp, f, x, width, height);
  }
}

/** Renders one grey frame. */
export function renderScene(rng: Prng, width: number, height: number, params: Partial<SceneParams>): Frame {
  const p: SceneParams = { ...DEFAULT_SCENE, ...params };
  const f = background(rng, width, height, p.clutter);
  let placed: Placed | null = null;
  if (p.phone) placed = drawPhone(rng, f, width, height, p.text === null ? null : qrModules(p.text), p);
  if (p.glare > 0 && placed !== null) {
    // A specular highlight: an elongated blob over part of the code, washing it out towards white.
    const [gx, gy] = placed.codeCentre;
    const cx = gx + rng.range(-0.25, 0.25) * placed.codePx;
    const cy = gy + rng.range(-0.25, 0.25) * placed.codePx;
    const sx = placed.codePx * rng.range(0.18, 0.4);
    const sy = placed.codePx * rng.range(0.1, 0.3);
    const a = rng.range(0, Math.PI);
    const ca = Math.cos(a);
    const sa = Math.sin(a);
    const reach = 3 * Math.max(sx, sy);
    for (let y = Math.max(0, Math.floor(cy - reach)); y < Math.min(height, cy + reach); y++) {
      for (let x = Math.max(0, Math.floor(cx - reach)); x < Math.min(width, cx + reach); x++) {
        const dx = x - cx;
        const dy = y - cy;
        const u = (dx * ca + dy * sa) / sx;
        const v = (-dx * sa + dy * ca) / sy;
        const i = y * width + x;
        f[i] = f[i]! + p.glare * Math.exp(-(u * u + v * v) / 2) * (255 - f[i]!);
      }
    }
  }
  if (p.blur > 0) blur(f, width, height, p.blur * (width / 640));
  const out = new Uint8Array(width * height);
  const { gain, offset, noise } = p;
  for (let i = 0; i < out.length; i++) {
    const v = f[i]! * gain + offset + (noise > 0 ? noise * rng.fastGauss() : 0) + 0.5;
    out[i] = v < 0 ? 0 : v > 255 ? 255 : v; // a Uint8Array truncates: + 0.5 rounds
  }
  return { width, height, data: out };
}

/** A frame without a code: the cluttered scene, sometimes with a phone showing a blank screen. */
export function noCodeScene(
  rng: Prng,
  width: number,
  height: number,
  params: Partial<SceneParams> = {},
): Frame {
  return renderScene(rng, width, height, {
    text: null,
    phone: rng.next() < 0.3,
    clutter: rng.int(10, 60),
    noise: rng.range(2, 8),
    ...params,
  });
}

/** Payload lengths in the corpus: a short visitor code, a medium and a long signed token. */
export const PAYLOAD_LENGTHS = [40, 90, 160] as const;

export interface CorpusOptions {
  readonly seed?: number;
  readonly perDistortion?: number;
  /** Frames without a code per size. */
  readonly noCode?: number;
  readonly sizes?: readonly (readonly [number, number])[];
  readonly distortions?: readonly Distortion[];
}

function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * The corpus: `perDistortion` frames of each distortion at each size, then `noCode` frames without a code
 * per size. One generator per (distortion, size), so adding one does not change the others' frames.
 */
export function generateCorpus(options: CorpusOptions = {}): CorpusFrame[] {
  const seed = options.seed ?? 0x51c0de;
  const perDistortion = options.perDistortion ?? 8;
  const noCode = options.noCode ?? 4;
  const sizes = options.sizes ?? [
    [640, 480],
    [1280, 720],
  ];
  const frames: CorpusFrame[] = [];
  for (const [width, height] of sizes) {
    for (const distortion of options.distortions ?? DISTORTIONS) {
      const rng = new Prng(seed ^ hash(`${distortion}@${width}x${height}`));
      for (let i = 0; i < perDistortion; i++) {
        const text = passPayload(rng, PAYLOAD_LENGTHS[i % PAYLOAD_LENGTHS.length]!);
        const params = { ...distortionParams(rng, distortion), text, cx: rng.next(), cy: rng.next() };
        const frame = renderScene(rng, width, height, params);
        frames.push({ name: `${distortion}-${width}x${height}-${i}`, distortion, text, ...frame });
      }
    }
    const rng = new Prng(seed ^ hash(`nocode@${width}x${height}`));
    for (let i = 0; i < noCode; i++) {
      const frame = noCodeScene(rng, width, height);
      frames.push({ name: `nocode-${width}x${height}-${i}`, distortion: 'nocode', text: null, ...frame });
    }
  }
  return frames;
}

/** 8-bit grey PNG bytes of a frame. */
export function encodePng(frame: Frame): Buffer {
  const png = new PNG({ width: frame.width, height: frame.height, colorType: 0, inputColorType: 0 });
  png.data = Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength);
  return PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false });
}

/** JPEG bytes of a frame (baseline; grey written as RGB). */
export function encodeJpeg(frame: Frame, quality = 85): Buffer {
  const rgba = Buffer.alloc(frame.width * frame.height * 4);
  for (let i = 0; i < frame.data.length; i++) {
    const v = frame.data[i]!;
    rgba[i * 4] = v;
    rgba[i * 4 + 1] = v;
    rgba[i * 4 + 2] = v;
    rgba[i * 4 + 3] = 255;
  }
  return jpeg.encode({ data: rgba, width: frame.width, height: frame.height }, quality).data;
}

export interface ManifestEntry {
  readonly file: string;
  readonly distortion: string;
  readonly width: number;
  readonly height: number;
  readonly text: string | null;
}

/** Writes frames to `dir` (a PNG or JPEG each, plus manifest.json); returns the manifest. */
export function writeCorpus(
  dir: string,
  frames: readonly CorpusFrame[],
  format: 'png' | 'jpeg' = 'png',
): ManifestEntry[] {
  mkdirSync(dir, { recursive: true });
  const manifest = frames.map((fr) => {
    const file = `${fr.name}.${format === 'jpeg' ? 'jpg' : 'png'}`;
    writeFileSync(path.join(dir, file), format === 'jpeg' ? encodeJpeg(fr) : encodePng(fr));
    return { file, distortion: fr.distortion, width: fr.width, height: fr.height, text: fr.text };
  });
  writeFileSync(path.join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

function main(argv: readonly string[]): void {
  const args = [...argv];
  const out = args.shift();
  if (out === undefined || out.startsWith('-')) {
    process.stderr.write(
      'usage: node dist/scripts/qr-corpus.js OUT_DIR [--seed N] [--per N] [--sizes 640x480,1280x720] [--jpeg]\n',
    );
    process.exit(2);
  }
  const opt = (name: string, fallback: string): string => {
    const i = args.indexOf(name);
    return i >= 0 ? (args[i + 1] ?? fallback) : fallback;
  };
  const sizes = opt('--sizes', '640x480,1280x720')
    .split(',')
    .map((s) => s.split('x').map(Number) as [number, number]);
  const frames = generateCorpus({
    seed: Number(opt('--seed', String(0x51c0de))),
    perDistortion: Number(opt('--per', '8')),
    sizes,
  });
  const manifest = writeCorpus(out, frames, args.includes('--jpeg') ? 'jpeg' : 'png');
  process.stderr.write(`wrote ${manifest.length} frames to ${out}\n`);
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2));
}
