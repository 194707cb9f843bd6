import t from 'tap';
import fc from 'fast-check';
import {
  BootKeyboardDecoder,
  TokenAssembler,
  type KeyboardEvent,
  type TokenResult,
} from '../../src/protocol/hid-keyboard.js';

/** A report written as the bytes a USB analyser shows: "02 00 13 00 00 00 00 00". */
function r(hex: string): Uint8Array {
  const bytes = hex.trim().split(/\s+/);
  if (!bytes.every((b) => /^[0-9a-f]{2}$/i.test(b))) throw new Error(`bad report in test table: ${hex}`);
  return Uint8Array.from(bytes, (b) => Number.parseInt(b, 16));
}

/** A boot report with modifier byte `mod` and up to six key codes. */
function keys(mod: number, ...codes: number[]): Uint8Array {
  const out = new Uint8Array(8);
  out[0] = mod;
  out.set(codes, 2);
  return out;
}

const RELEASE = '00 00 00 00 00 00 00 00';

function feed(decoder: BootKeyboardDecoder, reports: readonly Uint8Array[]): KeyboardEvent[] {
  return reports.flatMap((rep) => decoder.push(rep));
}

/** The text the events spell, Enter as "\n", errors as "<reason>". */
function spell(events: readonly KeyboardEvent[]): string {
  return events
    .map((e) => (e.kind === 'char' ? e.char : e.kind === 'enter' ? '\n' : `<${e.reason}>`))
    .join('');
}

// A barcode scanner in keyboard mode typing "Pass-42!" + Enter: every character is a press report followed by
// an all-zero release report; Shift (left, 0x02) is in the modifier byte of the press report.
const PASS_42: readonly string[] = [
  '02 00 13 00 00 00 00 00', // P  (Shift + p, usage 0x13)
  RELEASE,
  '00 00 04 00 00 00 00 00', // a
  RELEASE,
  '00 00 16 00 00 00 00 00', // s
  RELEASE,
  '00 00 16 00 00 00 00 00', // s  (the same key again: only after a release)
  RELEASE,
  '00 00 2d 00 00 00 00 00', // -
  RELEASE,
  '00 00 21 00 00 00 00 00', // 4
  RELEASE,
  '00 00 1f 00 00 00 00 00', // 2
  RELEASE,
  '02 00 1e 00 00 00 00 00', // !  (Shift + 1)
  RELEASE,
  '00 00 28 00 00 00 00 00', // Enter
  RELEASE,
];

t.test('scanner typing "Pass-42!" + Enter', (t) => {
  const d = new BootKeyboardDecoder();
  const events = feed(d, PASS_42.map(r));
  t.equal(spell(events), 'Pass-42!\n');
  t.same(events.at(-1), { kind: 'enter' });
  const a = new TokenAssembler({ maxLength: 64 });
  const results = events.map((e) => a.push(e)).filter((x) => x !== undefined);
  t.same(results, [{ token: 'Pass-42!' }]);
  t.end();
});

t.test('a repeated report is no new press; the same key twice needs a release', (t) => {
  const d = new BootKeyboardDecoder();
  t.equal(spell(feed(d, [r('00 00 16 00 00 00 00 00'), r('00 00 16 00 00 00 00 00')])), 's');
  t.equal(spell(feed(d, [r(RELEASE), r(RELEASE)])), '', 'release reports yield nothing');
  t.equal(spell(feed(d, [r('00 00 16 00 00 00 00 00'), r(RELEASE), r('00 00 16 00 00 00 00 00')])), 'ss');
  t.end();
});

t.test("a fast typist's overlapping reports", (t) => {
  const d = new BootKeyboardDecoder();
  // A held while B is pressed: a, then b once; releasing A while B is held adds nothing.
  const events = feed(d, [
    r('00 00 04 00 00 00 00 00'),
    r('00 00 04 05 00 00 00 00'),
    r('00 00 05 00 00 00 00 00'),
    r('00 00 05 00 00 00 00 00'),
    r(RELEASE),
  ]);
  t.equal(spell(events), 'ab');
  // The slot a key sits in does not matter: B moving to slot 0 is not a new press.
  t.equal(spell(feed(d, [keys(0, 0x04), keys(0, 0x05, 0x04), keys(0, 0x04, 0x05)])), 'ab');
  // Several new keys in one report come out in slot order.
  d.reset();
  t.equal(spell(d.push(keys(0, 0x06, 0x07, 0x08))), 'cde');
  // A code repeated inside one report counts once.
  d.reset();
  t.equal(spell(d.push(keys(0, 0x09, 0x09))), 'f');
  t.end();
});

t.test('shift: upper case and the US symbols on digits and punctuation', (t) => {
  const digits = [0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27];
  const punct = [0x2d, 0x2e, 0x2f, 0x30, 0x31, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x2c];
  const typeAll = (mod: number, codes: readonly number[]): string => {
    const d = new BootKeyboardDecoder();
    return spell(codes.flatMap((c) => [...d.push(keys(mod, c)), ...d.push(keys(0))]));
  };
  t.equal(typeAll(0, digits), '1234567890');
  t.equal(typeAll(0x02, digits), '!@#$%^&*()', 'left shift');
  t.equal(typeAll(0x20, digits), '!@#$%^&*()', 'right shift');
  t.equal(typeAll(0x22, digits), '!@#$%^&*()', 'both shifts');
  t.equal(typeAll(0, punct), "-=[]\\;'`,./ ");
  t.equal(typeAll(0x02, punct), '_+{}|:"~<>? ');
  const letters = Array.from({ length: 26 }, (_, i) => 0x04 + i);
  t.equal(typeAll(0, letters), 'abcdefghijklmnopqrstuvwxyz');
  t.equal(typeAll(0x20, letters), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ');
  // Shift + digit as a scanner sends it: "02 00 1f ..." is '@'.
  const d = new BootKeyboardDecoder();
  t.same(d.push(r('02 00 1f 00 00 00 00 00')), [{ kind: 'char', char: '@' }]);
  t.end();
});

t.test('shift counts at the moment of the press', (t) => {
  const d = new BootKeyboardDecoder();
  // 'a' pressed, then Shift added while 'a' is held: no new char; then 'b' pressed under Shift: 'B'.
  t.equal(spell(feed(d, [keys(0, 0x04), keys(0x02, 0x04), keys(0x02, 0x04, 0x05), keys(0)])), 'aB');
  t.end();
});

t.test('keypad keys and both Enters', (t) => {
  const d = new BootKeyboardDecoder();
  const codes = [0x54, 0x55, 0x56, 0x57, 0x59, 0x5a, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f, 0x60, 0x61, 0x62, 0x63];
  const events = codes.flatMap((c) => [...d.push(keys(0, c)), ...d.push(keys(0))]);
  t.equal(spell(events), '/*-+1234567890.');
  t.same(d.push(keys(0, 0x58)), [{ kind: 'enter' }], 'keypad Enter 0x58');
  t.same(d.push(keys(0, 0x28)), [{ kind: 'enter' }], 'Enter 0x28 (keypad Enter still held)');
  // Shift does not change keypad keys.
  d.reset();
  t.equal(spell(d.push(keys(0x02, 0x59, 0x62))), '10');
  t.end();
});

t.test('other keys are ignored', (t) => {
  const d = new BootKeyboardDecoder();
  const ignored = [
    0x29, // Escape
    0x2a, // Backspace
    0x2b, // Tab
    0x32, // Non-US # and ~ (no such key on the US layout)
    0x39, // Caps Lock
    0x3a, // F1
    0x45, // F12
    0x4f, // Right arrow
    0x52, // Up arrow
    0x53, // Num Lock
    0x64, // Non-US \ and |
    0x65, // Application
    0xe0, // Left Control as a key code (not the modifier byte)
    0xff,
    0x02, // POSTFail
    0x03, // ErrorUndefined
  ];
  for (const c of ignored) {
    t.same(d.push(keys(0, c)), [], `0x${c.toString(16)}`);
    t.same(d.push(keys(0)), []);
  }
  // An ignored key held does not disturb the next press.
  t.equal(spell(feed(d, [keys(0, 0x3a), keys(0, 0x3a, 0x04)])), 'a');
  t.end();
});

t.test('Ctrl, Alt or GUI chords are not text', (t) => {
  const d = new BootKeyboardDecoder();
  for (const mod of [0x01, 0x04, 0x08, 0x10, 0x40, 0x80, 0x03]) {
    t.same(d.push(keys(mod, 0x06)), [], `modifier 0x${mod.toString(16)} + c`);
    t.same(d.push(keys(0)), []);
  }
  // The chorded key stays held: releasing Ctrl while still holding it does not type it.
  t.same(feed(d, [keys(0x01, 0x06), keys(0, 0x06)]), []);
  t.end();
});

t.test('rollover is one error and no chars', (t) => {
  const d = new BootKeyboardDecoder();
  const rollover = r('00 00 01 01 01 01 01 01');
  const events = feed(d, [r('00 00 04 00 00 00 00 00'), rollover, rollover, rollover]);
  t.same(events, [
    { kind: 'char', char: 'a' },
    { kind: 'error', reason: 'rollover' },
  ]);
  // Modifiers in the rollover report do not matter either.
  t.same(d.push(r('02 00 01 01 01 01 01 01')), [], 'still in rollover');
  // Back to a normal report: 'a' was held before and is still held, not a new press; 'b' is new.
  t.equal(spell(d.push(r('00 00 04 05 00 00 00 00'))), 'b');
  // A second rollover later is reported again.
  t.same(d.push(rollover), [{ kind: 'error', reason: 'rollover' }]);
  // A malformed report with ErrorRollOver in some slots only is treated as rollover too (no chars).
  d.reset();
  t.same(d.push(r('00 00 04 01 00 00 00 00')), [{ kind: 'error', reason: 'rollover' }]);
  t.end();
});

t.test('9-byte report-ID form', (t) => {
  const d = new BootKeyboardDecoder({ reportId: true });
  const events = feed(d, [
    r('01 02 00 13 00 00 00 00 00'), // report ID 1, Shift + p
    r('01 00 00 00 00 00 00 00 00'),
    r('01 00 00 1e 00 00 00 00 00'), // 1
    r('01 00 00 58 00 00 00 00 00'), // keypad Enter, '1' released
  ]);
  t.equal(spell(events), 'P1\n');
  t.same(
    d.push(r('00 00 04 00 00 00 00 00')),
    [{ kind: 'error', reason: 'length' }],
    '8 bytes with reportId',
  );
  const plain = new BootKeyboardDecoder();
  t.same(
    plain.push(r('01 00 00 04 00 00 00 00 00')),
    [{ kind: 'error', reason: 'length' }],
    '9 bytes without',
  );
  t.end();
});

t.test('garbage lengths are one length error each and leave the state alone', (t) => {
  const d = new BootKeyboardDecoder();
  t.equal(spell(d.push(keys(0, 0x04))), 'a');
  for (const n of [0, 1, 2, 7, 9, 16, 64]) {
    t.same(d.push(new Uint8Array(n).fill(0x04)), [{ kind: 'error', reason: 'length' }], `${n} bytes`);
  }
  t.same(d.push(keys(0, 0x04)), [], "'a' is still held");
  t.end();
});

t.test('the reserved byte is ignored', (t) => {
  const d = new BootKeyboardDecoder();
  t.equal(spell(d.push(r('00 ff 04 00 00 00 00 00'))), 'a');
  t.end();
});

t.test('reset forgets held keys and rollover', (t) => {
  const d = new BootKeyboardDecoder();
  d.push(keys(0, 0x04));
  d.reset();
  t.equal(spell(d.push(keys(0, 0x04))), 'a');
  d.push(r('00 00 01 01 01 01 01 01'));
  d.reset();
  t.same(d.push(r('00 00 01 01 01 01 01 01')), [{ kind: 'error', reason: 'rollover' }]);
  t.end();
});

function chars(s: string): KeyboardEvent[] {
  return Array.from(s, (char) => ({ kind: 'char', char }) as const);
}
const ENTER: KeyboardEvent = { kind: 'enter' };

function run(a: TokenAssembler, events: readonly KeyboardEvent[]): TokenResult[] {
  return events.map((e) => a.push(e)).filter((x) => x !== undefined);
}

t.test('TokenAssembler: tokens end at Enter, empty tokens are ignored', (t) => {
  const a = new TokenAssembler({ maxLength: 8 });
  t.same(run(a, [ENTER, ENTER]), []);
  t.same(run(a, [...chars('1234'), ENTER, ENTER, ...chars('abc'), ENTER]), [
    { token: '1234' },
    { token: 'abc' },
  ]);
  t.same(run(a, [...chars('12345678'), ENTER]), [{ token: '12345678' }], 'exactly maxLength');
  t.end();
});

t.test('TokenAssembler: overflow is reported once, then skipped to Enter', (t) => {
  const a = new TokenAssembler({ maxLength: 4 });
  t.same(run(a, [...chars('abcdefgh'), ENTER]), [{ overflow: true }]);
  t.same(run(a, [...chars('ok'), ENTER]), [{ token: 'ok' }], 'the next token is intact');
  t.end();
});

t.test('TokenAssembler: an error mid-token discards it up to Enter', (t) => {
  const a = new TokenAssembler({ maxLength: 16 });
  const rollover: KeyboardEvent = { kind: 'error', reason: 'rollover' };
  const length: KeyboardEvent = { kind: 'error', reason: 'length' };
  t.same(run(a, [...chars('12'), rollover, ...chars('34'), ENTER]), []);
  t.same(run(a, [...chars('56'), ENTER]), [{ token: '56' }]);
  t.same(run(a, [...chars('7'), length, ENTER, ...chars('8'), ENTER]), [{ token: '8' }]);
  // An error while idle does not swallow the next scan.
  t.same(run(a, [length, rollover, ...chars('90'), ENTER]), [{ token: '90' }]);
  t.end();
});

t.test('TokenAssembler: reset and bad options', (t) => {
  const a = new TokenAssembler({ maxLength: 2 });
  run(a, chars('abc'));
  a.reset();
  t.same(run(a, [...chars('x'), ENTER]), [{ token: 'x' }], 'reset ends the skip');
  for (const maxLength of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    t.throws(() => new TokenAssembler({ maxLength }), RangeError, `maxLength ${maxLength}`);
  }
  t.end();
});

t.test('property: random reports never throw; events are well formed; a repeat adds nothing', (t) => {
  const report = fc.oneof(
    fc.uint8Array({ minLength: 8, maxLength: 8 }),
    fc.uint8Array({ minLength: 9, maxLength: 9 }),
    fc.uint8Array({ maxLength: 12 }),
    // Realistic: few keys, often zero slots.
    fc
      .tuple(fc.nat(255), fc.array(fc.constantFrom(0, 0, 1, 4, 5, 0x1e, 0x28, 0x58, 0x3a), { maxLength: 6 }))
      .map(([mod, codes]) => keys(mod, ...codes)),
  );
  fc.assert(
    fc.property(fc.boolean(), fc.array(report, { maxLength: 30 }), fc.nat(64), (reportId, reports, max) => {
      const d = new BootKeyboardDecoder({ reportId });
      const a = new TokenAssembler({ maxLength: max + 1 });
      for (const rep of reports) {
        const events = d.push(rep);
        for (const e of events) {
          if (e.kind === 'char' && e.char.length !== 1) return false;
          if (e.kind === 'error' && e.reason !== 'rollover' && e.reason !== 'length') return false;
          const out = a.push(e);
          if (out !== undefined && 'token' in out && (out.token.length === 0 || out.token.length > max + 1)) {
            return false;
          }
        }
        const again = d.push(rep);
        const validLength = rep.length === (reportId ? 9 : 8);
        if (validLength && again.length !== 0) return false;
        if (!validLength && spell(again) !== '<length>') return false;
      }
      return true;
    }),
    { numRuns: 1000 },
  );
  t.pass('no throw');
  t.end();
});
