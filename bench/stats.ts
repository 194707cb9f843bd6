/**
 * Small helpers for the benchmark: a seeded PRNG, percentiles, timing and the JSON-lines figure output.
 * Figures go to stdout (one JSON object per line, nothing else); everything else goes to stderr.
 */
import { writeSync } from 'node:fs';

/** mulberry32: a tiny, fast, seeded 32-bit PRNG (deterministic choice of credentials and pass shapes). */
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform integer in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new RangeError('pick() from an empty list');
    return item;
  }

  /** A string of `length` decimal digits (leading zeros allowed). */
  digits(length: number): string {
    let s = '';
    for (let i = 0; i < length; i++) s += String(Math.floor(this.next() * 10));
    return s;
  }

  /** A string of `length` characters from `alphabet`. */
  text(length: number, alphabet: string): string {
    let s = '';
    for (let i = 0; i < length; i++) s += alphabet[Math.floor(this.next() * alphabet.length)] ?? '';
    return s;
  }
}

/** Nearest-rank percentile of an already sorted array (p in 0..100). */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] ?? Number.NaN;
}

/** Nanoseconds since an arbitrary origin, as a number (safe: < 2^53 ns is 104 days of uptime). */
export function nowNs(): number {
  return Number(process.hrtime.bigint());
}

/** Progress and diagnostics: stderr only, so stdout stays pure JSON lines. */
export function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

export interface Figure {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly baseline: string;
  readonly baselineValue: number;
  readonly ratio: number;
}

/** Rounds to `digits` significant digits (enough for benchmark figures, stable to read). */
export function round(value: number, digits = 4): number {
  if (!Number.isFinite(value) || value === 0) return value;
  const magnitude = Math.floor(Math.log10(Math.abs(value)));
  const factor = 10 ** Math.max(0, digits - 1 - magnitude);
  return Math.round(value * factor) / factor;
}

/** Prints one figure (with its baseline from the same run) as a JSON line on stdout. */
export function emit(
  name: string,
  value: number,
  unit: string,
  baseline: string,
  baselineValue: number,
): Figure {
  const figure: Figure = {
    name,
    value: round(value),
    unit,
    baseline,
    baselineValue: round(baselineValue),
    ratio: round(value / baselineValue, 3),
  };
  // Synchronous write: figures are never lost or interleaved with stderr if the process exits early.
  writeSync(1, `${JSON.stringify(figure)}\n`);
  return figure;
}
