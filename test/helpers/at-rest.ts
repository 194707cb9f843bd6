/**
 * Credentials that a byte scan can find without false positives, and the scan itself: every file under a
 * directory, for the ASCII bytes of every value (SQLite stores text as UTF-8, and these values are ASCII,
 * so their UTF-8 bytes are their ASCII bytes; doorpass never writes UTF-16).
 *
 * - PINs: 12 digits starting with 9. The only long digit runs doorpass writes are epoch milliseconds
 *   (13 digits, "17…"/"18…" until 2033): no 12-digit window of one starts with 9.
 * - Card numbers: 16 digits starting with 8 (no 16-digit window fits in a 13-digit run).
 * - QR texts: "DPQR-" and 16 letters/digits (the prefix appears nowhere else).
 * Hashes are random bytes: the chance that one spells a given 12-digit value is ~1e-29.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { pass, type Json } from './fixtures.js';

export interface Secrets {
  readonly pins: Set<string>;
  readonly cards: Set<string>;
  readonly qrs: Set<string>;
}

const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';

/** Pass `i`'s credentials: unique by construction (bijections of the index). */
export function secretCredentials(i: number, salt = 0): { type: 'pin' | 'card' | 'qr'; value: string }[] {
  const pin = '9' + String((i * 7919 + salt * 1_000_003 + 12_345) % 1e11).padStart(11, '0');
  const card = '8' + String((i * 104_729 + salt * 999_983 + 67_890) % 1e15).padStart(15, '0');
  let x = (i + 1) * 2_654_435_761 + salt * 40_503;
  let qr = 'DPQR-';
  for (let k = 0; k < 10; k++) {
    x = (x * 1_103_515_245 + 12_345) % 2_147_483_648;
    qr += ALPHABET[x % 32];
  }
  // 10 scrambled characters, then the index in base 32 (6 characters): unique, 21 characters in all.
  qr += encode32(i + salt * 1_000_000);
  const kinds = i % 3;
  return kinds === 0
    ? [
        { type: 'pin', value: pin },
        { type: 'qr', value: qr },
      ]
    : kinds === 1
      ? [
          { type: 'pin', value: pin },
          { type: 'card', value: card },
        ]
      : [
          { type: 'card', value: card },
          { type: 'qr', value: qr },
        ];
}

function encode32(n: number): string {
  let s = '';
  for (let k = 0; k < 6; k++) {
    s = (ALPHABET[n % 32] ?? 'A') + s;
    n = Math.floor(n / 32);
  }
  return s;
}

/** `count` live passes (ids `<prefix>-<i>`) holding secretCredentials(i, salt). */
export function secretPasses(count: number, now: number, prefix = 's', salt = 0): Json[] {
  const validFrom = new Date(now - 86_400_000).toISOString();
  const validUntil = new Date(now + 30 * 86_400_000).toISOString();
  const out: Json[] = [];
  for (let i = 0; i < count; i++) {
    out.push(pass({ id: `${prefix}-${i}`, validFrom, validUntil, credentials: secretCredentials(i, salt) }));
  }
  return out;
}

export function secretsOf(passes: readonly Json[]): Secrets {
  const s: Secrets = { pins: new Set(), cards: new Set(), qrs: new Set() };
  for (const p of passes) {
    for (const c of p['credentials'] as { type: string; value: string }[]) {
      (c.type === 'pin' ? s.pins : c.type === 'card' ? s.cards : s.qrs).add(c.value);
    }
  }
  return s;
}

/** Every regular file under `dir` (recursively). */
export function allFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const f = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...allFiles(f));
    else if (e.isFile()) out.push(f);
  }
  return out;
}

/** Searches one buffer for the values; returns the values found. */
export function findSecrets(buf: Buffer, secrets: Secrets): string[] {
  const found: string[] = [];
  const text = buf.toString('latin1');
  for (const m of text.matchAll(/[0-9]{12,}/g)) {
    const run = m[0];
    for (let k = 0; k + 12 <= run.length; k++) {
      const w = run.slice(k, k + 12);
      if (secrets.pins.has(w)) found.push(w);
      const c = run.slice(k, k + 16);
      if (c.length === 16 && secrets.cards.has(c)) found.push(c);
    }
  }
  for (let at = text.indexOf('DPQR-'); at >= 0; at = text.indexOf('DPQR-', at + 1)) {
    const v = text.slice(at, at + 21);
    if (secrets.qrs.has(v)) found.push(v);
  }
  return found;
}

/** Scans every file under `dir`; returns `file: value` for each value found (empty: none). */
export function scanDir(dir: string, secrets: Secrets): { files: string[]; hits: string[] } {
  const files = allFiles(dir);
  const hits: string[] = [];
  for (const f of files) {
    if (statSync(f).size === 0) continue;
    for (const v of findSecrets(readFileSync(f), secrets)) hits.push(`${path.relative(dir, f)}: ${v}`);
  }
  return { files, hits };
}
