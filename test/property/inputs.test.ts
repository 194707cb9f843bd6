/**
 * Hostile input at the credential readers: Wiegand bursts, HID boot-keyboard reports (through the token
 * assembler the HID input uses), console lines and the camera's QR text. Properties: never throws, results
 * stay within their documented shapes and bounds, valid input still round-trips.
 */
import t from 'tap';
import fc from 'fast-check';
import {
  decodeWiegand,
  encodeWiegand,
  WIEGAND_FORMATS,
  CARD_MAPPINGS,
  type WiegandFormat,
} from '../../src/protocol/wiegand.js';
import { BootKeyboardDecoder, TokenAssembler, type KeyboardEvent } from '../../src/protocol/hid-keyboard.js';
import { parseConsoleLine } from '../../src/adapters/console-input.js';
import { MAX_QR_TEXT, qrText } from '../../src/adapters/camera/decoders.js';

const BITS = { h10301: 26, wiegand34: 34, corp1000: 35, h10304: 37 } as const;
const FIELDS: Record<WiegandFormat, { facility: number; card: number }> = {
  h10301: { facility: 8, card: 16 },
  wiegand34: { facility: 16, card: 16 },
  corp1000: { facility: 12, card: 20 },
  h10304: { facility: 16, card: 19 },
};
const formatOption = fc.constantFrom('auto' as const, ...WIEGAND_FORMATS);
const mappingOption = fc.constantFrom(...CARD_MAPPINGS);

t.test('property: Wiegand: any bit count and data never throw; results have their documented shape', (t) => {
  const weirdCount = fc.oneof(
    fc.integer({ min: -10, max: 300 }),
    fc.constantFrom(0, -0, NaN, Infinity, -Infinity, 2 ** 53, 26.5, Number.MAX_VALUE),
  );
  fc.assert(
    fc.property(
      weirdCount,
      fc.uint8Array({ maxLength: 64 }),
      formatOption,
      mappingOption,
      (bitCount, data, format, mapping) => {
        const r = decodeWiegand(bitCount, data, { format, mapping });
        if (r.kind === 'error') return ['parity', 'length', 'format'].includes(r.reason);
        if (r.kind === 'key') return /^[0-9*#]$/.test(r.key) && (bitCount === 4 || bitCount === 8);
        return (
          Object.values(BITS).includes(bitCount as 26) &&
          Number.isSafeInteger(r.cardNumber) &&
          r.value.length > 0 &&
          /^[0-9a-f]+$/i.test(r.value)
        );
      },
    ),
    { numRuns: 10_000 },
  );
  t.pass('10,000 random bursts');
  t.end();
});

t.test('property: Wiegand: a valid card with any one or two bits flipped is never a different card', (t) => {
  fc.assert(
    fc.property(
      fc.constantFrom(...WIEGAND_FORMATS),
      fc.nat(),
      fc.nat(),
      fc.array(fc.nat(), { minLength: 1, maxLength: 2 }),
      (format, f, c, flips) => {
        const { facility, card } = FIELDS[format];
        const frame = encodeWiegand(format, f % 2 ** facility, c % 2 ** card);
        const ok = decodeWiegand(frame.bitCount, frame.data, { format });
        if (ok.kind !== 'card' || ok.cardNumber !== c % 2 ** card) return false; // valid input round-trips
        const data = Uint8Array.from(frame.data);
        const positions = new Set(flips.map((p) => p % frame.bitCount));
        for (const p of positions) data[p >> 3] = (data[p >> 3] ?? 0) ^ (0x80 >> (p & 7));
        const r = decodeWiegand(frame.bitCount, data, { format });
        // One flipped bit always breaks a parity; two may cancel out (the format's known weakness), but then
        // the result is still a well-formed card, never an exception.
        if (positions.size === 1) return r.kind === 'error' && r.reason === 'parity';
        return r.kind === 'error' || r.kind === 'card';
      },
    ),
    { numRuns: 5000 },
  );
  t.pass('5000 corrupted cards');
  t.end();
});

/** The US-layout usage and shift that type each character, found by asking the decoder itself. */
function typingTable(): Map<string, { usage: number; shift: boolean }> {
  const table = new Map<string, { usage: number; shift: boolean }>();
  for (const shift of [false, true]) {
    for (let usage = 4; usage < 0x65; usage++) {
      const d = new BootKeyboardDecoder();
      const [ev] = d.push(Uint8Array.of(shift ? 0x02 : 0, 0, usage, 0, 0, 0, 0, 0));
      if (ev?.kind === 'char' && !table.has(ev.char)) table.set(ev.char, { usage, shift });
    }
  }
  return table;
}
const TYPING = typingTable();
const typable = fc.string({ unit: fc.constantFrom(...TYPING.keys()), minLength: 1, maxLength: 300 });

/** Reports a scanner sends for `text` + Enter: a press and a release per character. */
function reportsFor(text: string, reportId: boolean): Uint8Array[] {
  const out: Uint8Array[] = [];
  const report = (mod: number, usage: number): Uint8Array => {
    const r = Uint8Array.of(mod, 0, usage, 0, 0, 0, 0, 0);
    return reportId ? Uint8Array.of(1, ...r) : r;
  };
  for (const ch of text) {
    const k = TYPING.get(ch);
    if (k === undefined) throw new Error(`untypable ${ch}`);
    out.push(report(k.shift ? 0x02 : 0, k.usage), report(0, 0));
  }
  out.push(report(0, 0x28), report(0, 0));
  return out;
}

function tokens(reports: readonly Uint8Array[], reportId: boolean, maxLength = 2048) {
  const d = new BootKeyboardDecoder({ reportId });
  const a = new TokenAssembler({ maxLength });
  const out: ({ token: string } | { overflow: true })[] = [];
  const events: KeyboardEvent[] = [];
  for (const r of reports) {
    for (const ev of d.push(r)) {
      events.push(ev);
      const res = a.push(ev);
      if (res !== undefined) out.push(res);
    }
  }
  return { out, events };
}

t.test('property: HID: random reports of any length never throw; tokens stay printable and bounded', (t) => {
  const report = fc.oneof(
    { weight: 4, arbitrary: fc.uint8Array({ minLength: 8, maxLength: 8 }) },
    { weight: 2, arbitrary: fc.uint8Array({ minLength: 9, maxLength: 9 }) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 80 }) },
  );
  fc.assert(
    fc.property(
      fc.array(report, { maxLength: 200 }),
      fc.boolean(),
      fc.integer({ min: 1, max: 64 }),
      (reports, reportId, maxLength) => {
        const { out, events } = tokens(reports, reportId, maxLength);
        return (
          events.every(
            (e) =>
              e.kind === 'enter' ||
              (e.kind === 'char' && /^[\x20-\x7e]$/.test(e.char)) ||
              (e.kind === 'error' && (e.reason === 'rollover' || e.reason === 'length')),
          ) && out.every((o) => 'overflow' in o || (o.token.length >= 1 && o.token.length <= maxLength))
        );
      },
    ),
    { numRuns: 3000 },
  );
  t.pass('3000 report sequences');
  t.end();
});

t.test('property: HID: a scan round-trips, also after garbage ended by Enter', (t) => {
  fc.assert(
    fc.property(
      typable,
      fc.boolean(),
      fc.array(fc.uint8Array({ minLength: 8, maxLength: 8 }), { maxLength: 20 }),
      (text, reportId, garbage) => {
        const prefix = reportId ? [1] : [];
        const junk = garbage.map((g) => Uint8Array.of(...prefix, ...g));
        // Garbage may leave keys held and a partial or skipped token: all keys up, Enter, all keys up end it.
        const up = Uint8Array.of(...prefix, 0, 0, 0, 0, 0, 0, 0, 0);
        const enter = [up, Uint8Array.of(...prefix, 0, 0, 0x28, 0, 0, 0, 0, 0), up];
        const { out } = tokens([...junk, ...enter, ...reportsFor(text, reportId)], reportId);
        const last = out.at(-1);
        return last !== undefined && 'token' in last && last.token === text;
      },
    ),
    { numRuns: 3000 },
  );
  t.pass('3000 scans');
  t.end();
});

t.test('HID: an endless scan without Enter is one overflow, then the next scan is intact', (t) => {
  const long = 'A'.repeat(100_000);
  const reports = reportsFor(long, false).slice(0, -2); // no Enter
  const { out } = tokens([...reports, ...reportsFor('x', false), ...reportsFor('ok-42', false)], false);
  t.strictSame(out, [{ overflow: true }, { token: 'ok-42' }], 'the tail up to Enter is skipped, not a token');
  t.end();
});

t.test('property: console lines: any text (huge, control characters) parses without throwing', (t) => {
  const line = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc
      .tuple(fc.constantFrom('pin:', 'card:', 'qr:', ' ', '#', ''), fc.string({ maxLength: 50 }))
      .map(([a, b]) => a + b),
    fc.integer({ min: 1, max: 2_000_000 }).map((n) => '9'.repeat(n)),
  );
  fc.assert(
    fc.property(line, (l) => {
      const r = parseConsoleLine(l);
      if (r === undefined) return l.trim() === '';
      return ['pin', 'card', 'qr'].includes(r.type) && typeof r.value === 'string';
    }),
    { numRuns: 5000 },
  );
  fc.assert(
    fc.property(fc.stringMatching(/^\d{1,12}$/), (pin) => {
      const a = parseConsoleLine(`${pin}#`);
      const b = parseConsoleLine(`pin:${pin}`);
      return a?.type === 'pin' && a.value === pin && b?.type === 'pin' && b.value === pin;
    }),
    { numRuns: 1000 },
  );
  t.pass('5000 random lines; 1000 PINs round-trip');
  t.end();
});

t.test('property: QR text from a decoded code: any bytes give text or a reason, never a throw', (t) => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 3000 }),
        fc.string({ maxLength: 3000 }).map((s) => Buffer.from(s)),
      ),
      (b) => {
        const r = qrText(b);
        if ('invalid' in r) return typeof r.invalid === 'string' && r.invalid.length < 80;
        return r.text.length >= 1 && r.text.length <= MAX_QR_TEXT;
      },
    ),
    { numRuns: 5000 },
  );
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: MAX_QR_TEXT }), (s) => {
      const r = qrText(new TextEncoder().encode(s));
      return s.length <= MAX_QR_TEXT ? 'text' in r && r.text === s : 'invalid' in r;
    }),
    { numRuns: 2000 },
  );
  t.pass('5000 random codes; 2000 texts round-trip');
  t.end();
});
