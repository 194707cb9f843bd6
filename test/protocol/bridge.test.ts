import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import t from 'tap';
import {
  BEEP_PATTERN,
  decodePayload,
  Deframer,
  directionOf,
  DISCARD_SAMPLE_BYTES,
  encodeFrame,
  encodePayload,
  KEYPAD_KEYS,
  LED_COLOUR,
  MAX_ENCODED,
  MAX_PAYLOAD,
  MESSAGE_TYPE,
  nextSeq,
  PROTOCOL_VERSION,
  type BridgeMessage,
  type DeframeResult,
  type Direction,
  type DiscardReason,
  type MessageType,
} from '../../src/protocol/bridge.js';
import { cobsDecode } from '../../src/protocol/cobs.js';
import { crc16CcittFalse } from '../../src/protocol/crc16.js';

// ---------------------------------------------------------------------------------------------------------
// Vectors and helpers

interface FrameVector {
  name: string;
  direction: Direction;
  seq: number;
  message: Record<string, unknown> & { type: MessageType };
  payloadHex: string;
  frameHex: string;
  decodeOnly?: boolean;
}
interface InvalidVector {
  name: string;
  frameHex: string;
  expect: DiscardReason;
}
const file = JSON.parse(readFileSync(new URL('../vectors/bridge-frames.json', import.meta.url), 'utf8')) as {
  format: string;
  frames: FrameVector[];
  invalid: InvalidVector[];
};

const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const concat = (parts: readonly Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

/** The JSON form of the vectors: every Uint8Array field as a hex string. */
function toJson(message: BridgeMessage): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(message).map(([k, v]) => [k, v instanceof Uint8Array ? hex(v) : (v as unknown)]),
  );
}
/** A message from its JSON form: the fields that are byte arrays in BridgeMessage are hex strings there. */
function fromJson(json: FrameVector['message']): BridgeMessage {
  const out = Object.fromEntries(
    Object.entries(json).map(([k, v]) => [k, k === 'data' || k === 'pixels' ? unhex(String(v)) : v]),
  );
  return out as unknown as BridgeMessage;
}

/** Results in a comparable form (byte arrays as hex). */
function plain(results: readonly DeframeResult[]): unknown[] {
  return results.map((r) =>
    r.kind === 'frame'
      ? { kind: r.kind, seq: r.seq, message: toJson(r.message) }
      : { kind: r.kind, reason: r.reason, bytes: hex(r.bytes), length: r.length },
  );
}

/** Feeds `bytes` to a new Deframer cut at `cuts` (positions, any order, duplicates allowed). */
function deframe(
  bytes: Uint8Array,
  cuts: readonly number[] = [],
  deframer = new Deframer(),
): DeframeResult[] {
  const at = [...new Set(cuts.map((c) => Math.min(Math.max(c, 0), bytes.length)))].sort((a, b) => a - b);
  const results: DeframeResult[] = [];
  let prev = 0;
  for (const c of [...at, bytes.length]) {
    results.push(...deframer.push(bytes.subarray(prev, c)));
    prev = c;
  }
  return results;
}
const everyByte = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

const frameOf = (v: FrameVector): Uint8Array => unhex(v.frameHex);
const vector = (name: string): FrameVector => {
  const v = file.frames.find((f) => f.name.startsWith(name));
  if (v === undefined) throw new Error(`no vector ${name}`);
  return v;
};
const KEY5 = vector('KEY 5, seq 0');
const KEY_HASH = vector('KEY # at seq 255');
const HEARTBEAT = vector('HEARTBEAT uptime 123456789');

const asFrame = (v: FrameVector): unknown => ({ kind: 'frame', seq: v.seq, message: v.message });

// ---------------------------------------------------------------------------------------------------------
// Constants

t.test('constants of the contract', (t) => {
  t.equal(MAX_PAYLOAD, 1024);
  t.equal(MAX_ENCODED, 1029, '1024 bytes need at most 5 code bytes');
  t.equal(PROTOCOL_VERSION, 1);
  t.same(MESSAGE_TYPE, {
    hello: 0x01,
    key: 0x02,
    wiegand: 0x03,
    scan: 0x04,
    frame: 0x05,
    input: 0x06,
    heartbeat: 0x07,
    ack: 0x08,
    relay: 0x81,
    led: 0x82,
    beep: 0x83,
    ping: 0x84,
  });
  t.same(LED_COLOUR, { off: 0, green: 1, red: 2, amber: 3 });
  t.same(BEEP_PATTERN, { accept: 1, deny: 2, keyClick: 3, alarm: 4 });
  t.equal(KEYPAD_KEYS.join(''), '0123456789*#');
  t.equal(directionOf('key'), 'bridge->host');
  t.equal(directionOf('ping'), 'host->bridge');
  t.same([nextSeq(0), nextSeq(254), nextSeq(255)], [1, 255, 0], 'seq wraps at 255');
  t.end();
});

// ---------------------------------------------------------------------------------------------------------
// The vectors

t.test('the vector file covers every message type and every frame-level discard reason', (t) => {
  t.match(file.format, /normative/);
  t.same(
    new Set(file.frames.map((v) => v.message.type)),
    new Set(Object.keys(MESSAGE_TYPE)),
    'a frame vector per message type',
  );
  for (const v of file.frames) t.equal(v.direction, directionOf(v.message.type), `${v.name}: direction`);
  const reasons: DiscardReason[] = [
    'bad_cobs',
    'bad_crc',
    'unknown_type',
    'bad_length',
    'bad_value',
    'oversize',
    'too_short',
  ];
  t.same(new Set(file.invalid.map((v) => v.expect)), new Set(reasons), 'an invalid vector per reason');
  t.end();
});

t.test('frame vectors: encodePayload and encodeFrame produce the exact bytes', (t) => {
  for (const v of file.frames) {
    if (v.decodeOnly) continue;
    const message = fromJson(v.message);
    t.equal(hex(encodePayload(v.seq, message)), v.payloadHex, `${v.name}: payload`);
    t.equal(hex(encodeFrame(v.seq, message)), v.frameHex, `${v.name}: frame`);
  }
  t.end();
});

t.test('frame vectors: decodePayload and the Deframer return the message', (t) => {
  for (const v of file.frames) {
    const decoded = decodePayload(unhex(v.payloadHex));
    t.same(decoded.ok ? { seq: decoded.seq, message: toJson(decoded.message) } : decoded, {
      seq: v.seq,
      message: v.message,
    });
    t.same(plain(deframe(frameOf(v))), [asFrame(v)], `${v.name}: deframed`);
    t.same(
      plain(new Deframer({ direction: v.direction }).push(frameOf(v))),
      [asFrame(v)],
      `${v.name}: accepted from its own direction`,
    );
    const other: Direction = v.direction === 'bridge->host' ? 'host->bridge' : 'bridge->host';
    const [echo] = new Deframer({ direction: other }).push(frameOf(v));
    t.same(echo && { kind: echo.kind, reason: echo.kind === 'discarded' ? echo.reason : undefined }, {
      kind: 'discarded',
      reason: 'unknown_type',
    });
  }
  t.end();
});

t.test('the worked example of docs/serial-protocol.md', (t) => {
  t.equal(hex(encodeFrame(0, { type: 'key', key: '5' })), '02020435c40a00');
  t.equal(KEY5.frameHex, '02020435c40a00');
  t.end();
});

t.test('invalid vectors: dropped with the expected reason, every byte accounted for', (t) => {
  for (const v of file.invalid) {
    const bytes = unhex(v.frameHex);
    const run = bytes.subarray(0, -1);
    t.same(
      plain(deframe(bytes)),
      [
        {
          kind: 'discarded',
          reason: v.expect,
          bytes: hex(run.subarray(0, DISCARD_SAMPLE_BYTES)),
          length: run.length,
        },
      ],
      v.name,
    );
    // The same reason without the Deframer, for the runs that get as far as a payload.
    if (run.length <= MAX_ENCODED) {
      const payload = cobsDecode(run);
      const direct = payload === undefined ? 'bad_cobs' : decodePayload(payload);
      t.same(
        typeof direct === 'string' ? direct : direct.ok || direct.reason,
        v.expect,
        `${v.name} (direct)`,
      );
    }
  }
  t.end();
});

t.test('all vectors as one stream: whole, byte at a time, and in random splits', (t) => {
  const parts = [
    ...file.frames.filter((v) => !v.decodeOnly).map(frameOf),
    ...file.invalid.map((v) => unhex(v.frameHex)),
  ];
  const stream = concat(parts);
  const expected = plain(deframe(stream));
  t.equal(expected.length, parts.length, 'one result per frame');
  t.same(plain(deframe(stream, everyByte(stream.length))), expected, 'byte at a time');
  fc.assert(
    fc.property(fc.array(fc.nat({ max: stream.length }), { maxLength: 60 }), (cuts) => {
      assert.deepEqual(plain(deframe(stream, cuts)), expected);
    }),
    { numRuns: 200 },
  );
  t.pass('200 random splits');
  t.end();
});

// ---------------------------------------------------------------------------------------------------------
// Stream behaviour

t.test('garbage terminated by 0x00 before and between frames is discarded, frames survive', (t) => {
  const garbage = Uint8Array.from([0x13, 0x37, 0xfe]);
  const stream = concat([
    garbage,
    Uint8Array.of(0),
    frameOf(KEY5),
    garbage,
    Uint8Array.of(0),
    frameOf(HEARTBEAT),
  ]);
  const expected = [
    { kind: 'discarded', reason: 'bad_cobs', bytes: '1337fe', length: 3 },
    asFrame(KEY5),
    { kind: 'discarded', reason: 'bad_cobs', bytes: '1337fe', length: 3 },
    asFrame(HEARTBEAT),
  ];
  t.same(plain(deframe(stream)), expected);
  t.same(plain(deframe(stream, everyByte(stream.length))), expected, 'byte at a time');
  t.end();
});

t.test('garbage with no 0x00 of its own joins the next frame: one discard, later frames survive', (t) => {
  // Inherent to any delimiter framing, and the reason a sender may send a 0x00 before a frame (see the doc).
  const stream = concat([Uint8Array.of(0x41, 0x42), frameOf(KEY5), frameOf(HEARTBEAT)]);
  const results = plain(deframe(stream));
  t.equal(results.length, 2);
  t.match(results[0], { kind: 'discarded', length: 2 + frameOf(KEY5).length - 1 });
  t.same(results[1], asFrame(HEARTBEAT));
  t.end();
});

t.test('a bad-CRC frame between two good ones', (t) => {
  const bad = file.invalid.find((v) => v.expect === 'bad_crc');
  if (bad === undefined) throw new Error('no bad_crc vector');
  const stream = concat([frameOf(KEY5), unhex(bad.frameHex), frameOf(KEY_HASH)]);
  for (const cuts of [[], everyByte(stream.length)]) {
    t.same(
      plain(deframe(stream, cuts)).map((r) => (r as { kind: string; reason?: string }).reason ?? r),
      [asFrame(KEY5), 'bad_crc', asFrame(KEY_HASH)],
    );
  }
  t.end();
});

t.test('a truncated frame ended by a 0x00 (e.g. the bridge rebooted mid-frame) then a good one', (t) => {
  const hb = frameOf(HEARTBEAT);
  for (let cut = 1; cut < hb.length - 1; cut++) {
    const stream = concat([hb.subarray(0, cut), Uint8Array.of(0), frameOf(KEY5)]);
    const results = deframe(stream);
    t.equal(results.length, 2, `cut after ${cut} bytes: two results`);
    t.match(results[0], { kind: 'discarded', length: cut });
    t.same(plain(results.slice(1)), [asFrame(KEY5)], `cut after ${cut} bytes: the good frame survives`);
  }
  t.end();
});

t.test('consecutive 0x00 (empty frames) are ignored silently', (t) => {
  const z = (n: number): Uint8Array => new Uint8Array(n);
  const stream = concat([z(3), frameOf(KEY5), z(5), frameOf(KEY_HASH), z(1)]);
  t.same(plain(deframe(stream)), [asFrame(KEY5), asFrame(KEY_HASH)]);
  const d = new Deframer();
  t.same(d.push(z(1000)), []);
  t.equal(d.pending, 0);
  t.end();
});

t.test('oversize: a long run is discarded as one result, without unbounded buffering', (t) => {
  const long = new Uint8Array(100_000).map((_, i) => (i % 255) + 1);
  const d = new Deframer();
  let results: DeframeResult[] = [];
  for (let at = 0; at < long.length; at += 777) {
    results.push(...d.push(long.subarray(at, at + 777)));
    // pending counts what was skipped too; the kept part never exceeds MAX_ENCODED (checked via the sample).
  }
  t.same(results, [], 'nothing before the delimiter');
  t.equal(d.pending, 100_000);
  results = d.push(concat([Uint8Array.of(0), frameOf(KEY5)]));
  t.same(plain(results), [
    {
      kind: 'discarded',
      reason: 'oversize',
      bytes: hex(long.subarray(0, DISCARD_SAMPLE_BYTES)),
      length: 100_000,
    },
    asFrame(KEY5),
  ]);
  t.equal(d.pending, 0);
  t.end();
});

t.test('oversize boundary: MAX_ENCODED bytes are decoded, one more is oversize', (t) => {
  const largest = file.frames.filter((v) => unhex(v.payloadHex).length === MAX_PAYLOAD);
  t.ok(largest.length >= 2, 'vectors with a 1024-byte payload');
  for (const v of largest) t.same(plain(deframe(frameOf(v))), [asFrame(v)], v.name);
  const run = new Uint8Array(MAX_ENCODED).fill(1);
  t.match(deframe(concat([run, Uint8Array.of(0)])), [{ reason: 'oversize', length: MAX_ENCODED }]);
  const longer = new Uint8Array(MAX_ENCODED + 1).fill(2);
  t.match(deframe(concat([longer, Uint8Array.of(0)])), [{ reason: 'oversize', length: MAX_ENCODED + 1 }]);
  t.end();
});

t.test('flush(): pending bytes are discarded as truncated, not lost', (t) => {
  const d = new Deframer();
  const kf = frameOf(KEY5);
  t.same(d.push(kf.subarray(0, 4)), []);
  t.equal(d.pending, 4);
  t.same(plain(d.flush()), [
    { kind: 'discarded', reason: 'truncated', bytes: hex(kf.subarray(0, 4)), length: 4 },
  ]);
  t.equal(d.pending, 0);
  t.same(d.flush(), [], 'nothing pending, nothing to report');
  t.same(plain(d.push(kf)), [asFrame(KEY5)], 'the next frame decodes');
  t.end();
});

t.test('results do not alias the Deframer buffer or the input chunk', (t) => {
  const d = new Deframer();
  const wiegand = vector('WIEGAND 26-bit');
  const chunk = frameOf(wiegand);
  const [first] = d.push(chunk);
  chunk.fill(0xaa);
  d.push(frameOf(vector('FRAME 4x2')));
  t.same(first && plain([first]), [asFrame(wiegand)]);
  t.end();
});

// ---------------------------------------------------------------------------------------------------------
// Encoder checks

t.test('encode: values out of range throw RangeError', (t) => {
  const bad: [string, number, BridgeMessage][] = [
    ['seq -1', -1, { type: 'ping' }],
    ['seq 256', 256, { type: 'ping' }],
    ['seq 1.5', 1.5, { type: 'ping' }],
    ['hello.protocol 256', 0, { type: 'hello', protocol: 256, firmware: '' }],
    ['hello.firmware lone surrogate', 0, { type: 'hello', protocol: 1, firmware: 'v\ud800' }],
    ['key A', 0, { type: 'key', key: 'A' as '0' }],
    ['key 55', 0, { type: 'key', key: '55' as '5' }],
    ['wiegand 0 bits', 0, { type: 'wiegand', bitCount: 0, data: new Uint8Array(0) }],
    ['wiegand 256 bits', 0, { type: 'wiegand', bitCount: 256, data: new Uint8Array(32) }],
    ['wiegand data too short', 0, { type: 'wiegand', bitCount: 26, data: new Uint8Array(3) }],
    ['wiegand data too long', 0, { type: 'wiegand', bitCount: 8, data: new Uint8Array(2) }],
    ['wiegand padding bit set', 0, { type: 'wiegand', bitCount: 26, data: Uint8Array.of(0, 0, 0, 0x20) }],
    ['scan empty', 0, { type: 'scan', text: '' }],
    ['scan text not a string', 0, { type: 'scan', text: 42 as unknown as string }],
    ['scan lone low surrogate', 0, { type: 'scan', text: '\udc00x' }],
    ['scan payload 1025 bytes', 0, { type: 'scan', text: 'A'.repeat(1021) }],
    [
      'frame chunkIndex = chunkCount',
      0,
      {
        type: 'frame',
        frameId: 1,
        chunkIndex: 2,
        chunkCount: 2,
        width: 1,
        height: 1,
        pixels: new Uint8Array(1),
      },
    ],
    [
      'frame chunkCount 0',
      0,
      {
        type: 'frame',
        frameId: 1,
        chunkIndex: 0,
        chunkCount: 0,
        width: 1,
        height: 1,
        pixels: new Uint8Array(1),
      },
    ],
    [
      'frame width 65536',
      0,
      {
        type: 'frame',
        frameId: 1,
        chunkIndex: 0,
        chunkCount: 1,
        width: 65536,
        height: 1,
        pixels: new Uint8Array(1),
      },
    ],
    [
      'frame 1011 pixels',
      0,
      {
        type: 'frame',
        frameId: 1,
        chunkIndex: 0,
        chunkCount: 1,
        width: 1,
        height: 1,
        pixels: new Uint8Array(1011),
      },
    ],
    ['input 256', 0, { type: 'input', input: 256, level: 0 }],
    ['input level 2', 0, { type: 'input', input: 1, level: 2 as 1 }],
    ['heartbeat -1', 0, { type: 'heartbeat', uptimeMs: -1 }],
    ['heartbeat 2^32', 0, { type: 'heartbeat', uptimeMs: 2 ** 32 }],
    ['heartbeat NaN', 0, { type: 'heartbeat', uptimeMs: NaN }],
    ['ack 256', 0, { type: 'ack', seq: 256 }],
    ['relay channel -1', 0, { type: 'relay', channel: -1, ms: 1 }],
    ['relay ms 65536', 0, { type: 'relay', channel: 0, ms: 65536 }],
    ['led colour 4', 0, { type: 'led', colour: 4 as 3, ms: 1 }],
    ['beep 0', 0, { type: 'beep', pattern: 0 as 1 }],
    ['beep 5', 0, { type: 'beep', pattern: 5 as 1 }],
    ['unknown type', 0, { type: 'open-sesame' } as unknown as BridgeMessage],
  ];
  for (const [name, seq, message] of bad) {
    t.throws(() => encodeFrame(seq, message), RangeError, name);
    t.throws(() => encodePayload(seq, message), RangeError, `${name} (payload)`);
  }
  t.end();
});

t.test('encode: the largest bodies fit exactly', (t) => {
  const scan: BridgeMessage = { type: 'scan', text: 'A'.repeat(1020) };
  t.equal(encodePayload(0, scan).length, MAX_PAYLOAD);
  // With no zero in the payload (the CRC varies with seq) the encoding is the worst case, MAX_ENCODED.
  const seq = everyByte(256).find((s) => !encodePayload(s, scan).includes(0));
  t.equal(
    seq !== undefined && encodeFrame(seq, scan).length,
    MAX_ENCODED + 1,
    'worst case plus the delimiter',
  );
  const frame: BridgeMessage = {
    type: 'frame',
    frameId: 0,
    chunkIndex: 0,
    chunkCount: 1,
    width: 0,
    height: 0,
    pixels: new Uint8Array(1010),
  };
  t.equal(encodePayload(0, frame).length, MAX_PAYLOAD);
  t.equal(encodePayload(0, { type: 'wiegand', bitCount: 255, data: new Uint8Array(32) }).length, 37);
  t.end();
});

t.test('decode: Wiegand padding is tolerated and cleared; the data is a copy', (t) => {
  const v = file.frames.find((f) => f.decodeOnly === true && f.message.type === 'wiegand');
  if (v === undefined) throw new Error('no tolerant Wiegand vector');
  t.same(plain(deframe(frameOf(v))), [asFrame(v)], 'the decode-only vector');
  // 3 bits "101" with the five padding bits set, CRC recomputed so that only the padding is unusual.
  const payload = Uint8Array.of(MESSAGE_TYPE.wiegand, 3, 3, 0xbf, 0, 0);
  const crc = crc16CcittFalse(payload.subarray(0, 4));
  payload.set([crc >> 8, crc & 0xff], 4);
  const decoded = decodePayload(payload);
  t.same(decoded.ok && toJson(decoded.message), { type: 'wiegand', bitCount: 3, data: 'a0' });
  payload.fill(0);
  t.same(decoded.ok && toJson(decoded.message), { type: 'wiegand', bitCount: 3, data: 'a0' }, 'a copy');
  t.end();
});

t.test('decodePayload: size checks come first', (t) => {
  t.same(decodePayload(new Uint8Array(MAX_PAYLOAD + 1)), { ok: false, reason: 'oversize' });
  t.same(decodePayload(new Uint8Array(3)), { ok: false, reason: 'too_short' });
  t.same(decodePayload(new Uint8Array(4)), { ok: false, reason: 'bad_crc' });
  t.same(decodePayload(unhex(KEY5.payloadHex), 'host->bridge'), { ok: false, reason: 'unknown_type' });
  t.end();
});

// ---------------------------------------------------------------------------------------------------------
// Properties

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const text = (minLength: number, maxLength: number): fc.Arbitrary<string> =>
  fc.string({ unit: 'binary', minLength, maxLength }); // ≤ 4 UTF-8 bytes per code point

const messageArb: fc.Arbitrary<BridgeMessage> = fc.oneof(
  fc.record({ type: fc.constant('hello' as const), protocol: u8, firmware: text(0, 200) }),
  fc.record({ type: fc.constant('key' as const), key: fc.constantFrom(...KEYPAD_KEYS) }),
  fc.integer({ min: 1, max: 255 }).chain((bitCount) =>
    fc.uint8Array({ minLength: Math.ceil(bitCount / 8), maxLength: Math.ceil(bitCount / 8) }).map((data) => {
      const unused = (8 - (bitCount % 8)) % 8;
      data[data.length - 1] = (data[data.length - 1] ?? 0) & (0xff << unused);
      return { type: 'wiegand' as const, bitCount, data };
    }),
  ),
  fc.record({ type: fc.constant('scan' as const), text: text(1, 250) }),
  fc.integer({ min: 1, max: 0xffff }).chain((chunkCount) =>
    fc.record({
      type: fc.constant('frame' as const),
      frameId: u16,
      chunkIndex: fc.integer({ min: 0, max: chunkCount - 1 }),
      chunkCount: fc.constant(chunkCount),
      width: u16,
      height: u16,
      pixels: fc.uint8Array({ maxLength: MAX_PAYLOAD - 14 }),
    }),
  ),
  fc.record({
    type: fc.constant('input' as const),
    input: u8,
    level: fc.constantFrom(0 as const, 1 as const),
  }),
  fc.record({
    type: fc.constant('heartbeat' as const),
    uptimeMs: fc.tuple(u16, u16).map(([hi, lo]) => hi * 0x10000 + lo),
  }),
  fc.record({ type: fc.constant('ack' as const), seq: u8 }),
  fc.record({ type: fc.constant('relay' as const), channel: u8, ms: u16 }),
  fc.record({
    type: fc.constant('led' as const),
    colour: fc.constantFrom(...Object.values(LED_COLOUR)),
    ms: u16,
  }),
  fc.record({ type: fc.constant('beep' as const), pattern: fc.constantFrom(...Object.values(BEEP_PATTERN)) }),
  fc.record({ type: fc.constant('ping' as const) }),
);

t.test('property: encode then deframe under random chunking is the identity', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(u8, messageArb, fc.nat({ max: 2 })), { minLength: 1, maxLength: 8 }),
      fc.array(fc.nat({ max: 20_000 }), { maxLength: 30 }),
      (items, cuts) => {
        // Extra 0x00 between frames (the resync idiom) must change nothing.
        const stream = concat(
          items.flatMap(([seq, m, zeros]) => [new Uint8Array(zeros), encodeFrame(seq, m)]),
        );
        const results = deframe(stream, cuts);
        assert.deepEqual(
          plain(results),
          items.map(([seq, m]) => ({ kind: 'frame', seq, message: toJson(m) })),
        );
      },
    ),
    { numRuns: 300 },
  );
  t.pass('300 random streams');
  t.end();
});

t.test('property: random byte soup never throws and every byte is accounted for', (t) => {
  const soupPart = fc.oneof(
    fc.uint8Array({ maxLength: 40 }),
    fc.array(fc.constantFrom(0, 1, 2, 0xff), { maxLength: 40 }).map((a) => Uint8Array.from(a)),
    fc.uint8Array({ minLength: 1000, maxLength: 2500 }).map((b) => b.map((x) => x | 1)), // oversize runs
    fc.tuple(u8, messageArb).map(([seq, m]) => encodeFrame(seq, m)),
    fc.tuple(u8, messageArb, fc.nat()).map(([seq, m, cut]) => {
      const f = encodeFrame(seq, m);
      return f.subarray(0, cut % f.length); // a frame cut short
    }),
  );
  fc.assert(
    fc.property(
      fc.array(soupPart, { maxLength: 10 }),
      fc.array(fc.nat({ max: 30_000 }), { maxLength: 30 }),
      fc.constantFrom<Direction | undefined>(undefined, 'bridge->host'),
      (parts, cuts, direction) => {
        const soup = concat(parts);
        const deframer = new Deframer(direction === undefined ? {} : { direction });
        const results = deframe(soup, cuts, deframer);
        // Independently split the soup at each 0x00: each non-empty run is one result, in order.
        const runs: Uint8Array[] = [];
        let start = 0;
        for (let i = 0; i < soup.length; i++) {
          if (soup[i] !== 0) continue;
          if (i > start) runs.push(soup.subarray(start, i));
          start = i + 1;
        }
        assert.equal(results.length, runs.length);
        assert.equal(deframer.pending, soup.length - start, 'the bytes after the last 0x00 are pending');
        let accounted = 0;
        results.forEach((r, i) => {
          const run = runs[i] ?? new Uint8Array(0);
          accounted += run.length;
          if (r.kind === 'discarded') {
            assert.equal(r.length, run.length);
            assert.equal(hex(r.bytes), hex(run.subarray(0, DISCARD_SAMPLE_BYTES)));
          } else {
            const payload = cobsDecode(run);
            assert.ok(payload !== undefined && run.length <= MAX_ENCODED);
            assert.deepEqual(
              plain([r]),
              plain([
                { kind: 'frame', ...(decodePayload(payload) as { seq: number; message: BridgeMessage }) },
              ]),
            );
          }
        });
        const zeros = soup.filter((b) => b === 0).length;
        assert.equal(accounted + zeros + deframer.pending, soup.length);
        const flushed = deframer.flush();
        assert.equal(flushed.length, soup.length - start > 0 ? 1 : 0);
      },
    ),
    { numRuns: 300 },
  );
  t.pass('300 random soups');
  t.end();
});
