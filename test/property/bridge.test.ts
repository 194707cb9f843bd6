/**
 * Hostile input on the serial bridge: the Deframer (COBS, CRC, message catalogue) fed random bytes, mutated
 * valid frames, oversize runs and arbitrary chunking. Properties: never throws, every byte is accounted for,
 * memory stays bounded, and valid frames that follow the garbage still decode.
 */
import t from 'tap';
import fc from 'fast-check';
import {
  Deframer,
  decodePayload,
  encodeFrame,
  MAX_ENCODED,
  MAX_PAYLOAD,
  type BridgeToHostMessage,
  type DeframeResult,
} from '../../src/protocol/bridge.js';
import { cobsDecode, cobsEncode } from '../../src/protocol/cobs.js';

const bytes = (o: { minLength?: number; maxLength?: number } = {}): fc.Arbitrary<Uint8Array> =>
  fc.uint8Array({ minLength: o.minLength ?? 0, maxLength: o.maxLength ?? 2048 });

/** Any bridge -> host message the encoder accepts. */
const messageArb: fc.Arbitrary<BridgeToHostMessage> = fc.oneof(
  fc.record({
    type: fc.constant('hello' as const),
    protocol: fc.integer({ min: 0, max: 255 }),
    firmware: fc.string({ maxLength: 40 }),
  }),
  fc.record({
    type: fc.constant('key' as const),
    key: fc.constantFrom('0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#'),
  }),
  fc.integer({ min: 1, max: 255 }).chain((bitCount) =>
    fc.uint8Array({ minLength: Math.ceil(bitCount / 8), maxLength: Math.ceil(bitCount / 8) }).map((data) => {
      const pad = (1 << ((8 - (bitCount % 8)) % 8)) - 1;
      data[data.length - 1] = (data[data.length - 1] ?? 0) & ~pad;
      return { type: 'wiegand' as const, bitCount, data };
    }),
  ),
  fc.record({ type: fc.constant('scan' as const), text: fc.string({ minLength: 1, maxLength: 200 }) }),
  fc.integer({ min: 1, max: 0xffff }).chain((chunkCount) =>
    fc.record({
      type: fc.constant('frame' as const),
      frameId: fc.integer({ min: 0, max: 0xffff }),
      chunkIndex: fc.integer({ min: 0, max: chunkCount - 1 }),
      chunkCount: fc.constant(chunkCount),
      width: fc.integer({ min: 0, max: 0xffff }),
      height: fc.integer({ min: 0, max: 0xffff }),
      pixels: fc.uint8Array({ maxLength: MAX_PAYLOAD - 14 }),
    }),
  ),
  fc.record({
    type: fc.constant('input' as const),
    input: fc.integer({ min: 0, max: 255 }),
    level: fc.constantFrom(0 as const, 1 as const),
  }),
  fc.record({ type: fc.constant('heartbeat' as const), uptimeMs: fc.integer({ min: 0, max: 0xffff_ffff }) }),
  fc.record({ type: fc.constant('ack' as const), seq: fc.integer({ min: 0, max: 255 }) }),
);

/** Splits `data` at the given cut points (sorted, deduplicated) into chunks. */
function chunked(data: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const at = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const c of [...at, data.length]) {
    out.push(data.subarray(prev, c));
    prev = c;
  }
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Pushes the chunks in order; all results. */
function feed(d: Deframer, chunks: readonly Uint8Array[]): { results: DeframeResult[] } {
  const results: DeframeResult[] = [];
  for (const c of chunks) results.push(...d.push(c));
  return { results };
}

/** Non-empty runs between 0x00 delimiters, and the tail after the last one. */
function runsOf(stream: Uint8Array): { runs: number[]; tail: number } {
  const runs: number[] = [];
  let len = 0;
  for (const b of stream) {
    if (b === 0) {
      if (len > 0) runs.push(len);
      len = 0;
    } else len++;
  }
  return { runs, tail: len };
}

/** Flips, inserts, deletes, duplicates or zeroes bytes of a valid frame. */
const mutation = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('repeat' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 64 }) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(frame: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let b = Array.from(frame);
  for (const m of mutations) {
    const at = b.length === 0 ? 0 : m.at % b.length;
    switch (m.op) {
      case 'flip':
        if (b.length > 0) b[at] = (b[at] ?? 0) ^ (1 << m.bit);
        break;
      case 'set':
        if (b.length > 0) b[at] = m.value;
        break;
      case 'insert':
        b.splice(at, 0, m.value);
        break;
      case 'delete':
        b.splice(at, 1);
        break;
      case 'truncate':
        b = b.slice(0, at);
        break;
      case 'repeat':
        b.splice(at, 0, ...Array<number>(m.n).fill(b[at] ?? 0xff));
        break;
    }
  }
  return Uint8Array.from(b);
}

t.test('property: random bytes in random chunks never throw; every run yields one result', (t) => {
  fc.assert(
    fc.property(bytes({ maxLength: 4096 }), fc.array(fc.nat(), { maxLength: 20 }), (stream, cuts) => {
      const d = new Deframer({ direction: 'bridge->host' });
      const { results } = feed(d, chunked(stream, cuts));
      const { runs, tail } = runsOf(stream);
      if (results.length !== runs.length) return false;
      for (let i = 0; i < runs.length; i++) {
        const r = results[i];
        if (r?.kind === 'discarded' && r.length !== runs[i]) return false;
        if (r?.kind === 'discarded' && r.bytes.length > 64) return false;
      }
      if (d.pending !== tail) return false;
      const flushed = d.flush();
      return flushed.length === (tail > 0 ? 1 : 0) && d.pending === 0;
    }),
    { numRuns: 3000 },
  );
  t.pass('3000 random streams');
  t.end();
});

t.test('property: mutated valid frames never throw; the valid frame after them still decodes', (t) => {
  fc.assert(
    fc.property(
      messageArb,
      fc.integer({ min: 0, max: 255 }),
      fc.array(mutation, { minLength: 1, maxLength: 6 }),
      messageArb,
      fc.array(fc.nat(), { maxLength: 10 }),
      (message, seq, mutations, after, cuts) => {
        const frame = encodeFrame(seq, message);
        const bad = mutate(frame, mutations);
        // A 0x00 resynchronises: whatever the mutation left, a delimiter then a good frame decodes.
        const good = encodeFrame(7, after);
        const stream = concat([bad, Uint8Array.of(0), good]);
        const d = new Deframer({ direction: 'bridge->host' });
        const { results } = feed(d, chunked(stream, cuts));
        const last = results.at(-1);
        return (
          last?.kind === 'frame' &&
          last.seq === 7 &&
          last.message.type === after.type &&
          d.pending === 0 &&
          results.every((r) => r.kind === 'frame' || r.length > 0)
        );
      },
    ),
    { numRuns: 3000 },
  );
  t.pass('3000 mutated frames, each followed by a good one');
  t.end();
});

t.test('property: a valid frame, chunked arbitrarily, round-trips', (t) => {
  fc.assert(
    fc.property(
      messageArb,
      fc.integer({ min: 0, max: 255 }),
      fc.array(fc.nat(), { maxLength: 30 }),
      (m, s, cuts) => {
        const d = new Deframer({ direction: 'bridge->host' });
        const { results } = feed(d, chunked(encodeFrame(s, m), cuts));
        const r = results[0];
        return results.length === 1 && r?.kind === 'frame' && r.seq === s && r.message.type === m.type;
      },
    ),
    { numRuns: 2000 },
  );
  t.pass('2000 frames');
  t.end();
});

t.test('property: oversize runs (up to 1 MiB, no 0x00) stay bounded and are one discard', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: MAX_ENCODED + 1, max: 1 << 20 }),
      fc.integer({ min: 1, max: 255 }),
      fc.integer({ min: 1, max: 65_536 }),
      messageArb,
      (length, fill, chunk, after) => {
        const d = new Deframer({ direction: 'bridge->host' });
        const run = new Uint8Array(length).fill(fill);
        const results: DeframeResult[] = [];
        for (let o = 0; o < length; o += chunk) results.push(...d.push(run.subarray(o, o + chunk)));
        if (results.length !== 0 || d.pending !== length) return false;
        const ended = [...d.push(Uint8Array.of(0)), ...d.push(encodeFrame(1, after))];
        const [first, second] = ended;
        return (
          ended.length === 2 &&
          first?.kind === 'discarded' &&
          first.reason === 'oversize' &&
          first.length === length &&
          second?.kind === 'frame'
        );
      },
    ),
    { numRuns: 60 },
  );
  t.pass('60 oversize runs');
  t.end();
});

t.test('property: decodePayload and cobsDecode on arbitrary bytes never throw', (t) => {
  fc.assert(
    fc.property(bytes({ maxLength: 3000 }), (b) => {
      const r = decodePayload(b);
      const c = cobsDecode(b);
      if (c !== undefined && c.length >= Math.max(1, b.length)) return false;
      return r.ok ? b.length <= MAX_PAYLOAD : typeof r.reason === 'string';
    }),
    { numRuns: 5000 },
  );
  // A COBS-valid encoding of random payload bytes: exercises the CRC and type checks behind COBS.
  fc.assert(
    fc.property(bytes({ maxLength: 1100 }), (payload) => {
      const d = new Deframer();
      const results = d.push(concat([cobsEncode(payload), Uint8Array.of(0)]));
      return results.length === 1;
    }),
    { numRuns: 3000 },
  );
  t.pass('5000 payloads and 3000 COBS-valid runs');
  t.end();
});

t.test('a host command echoed back is counted as unknown_type, not obeyed', (t) => {
  const d = new Deframer({ direction: 'bridge->host' });
  const [r] = d.push(encodeFrame(1, { type: 'relay', channel: 0, ms: 3000 }));
  t.equal(r?.kind === 'discarded' && r.reason, 'unknown_type');
  t.end();
});
