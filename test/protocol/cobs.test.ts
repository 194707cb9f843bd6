import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import t from 'tap';
import { cobsDecode, cobsEncode, cobsMaxEncodedLength } from '../../src/protocol/cobs.js';

interface CobsVector {
  name: string;
  decodedHex: string | null;
  encodedHex: string;
  decodeOnly?: boolean;
}
const vectors = (
  JSON.parse(readFileSync(new URL('../vectors/bridge-frames.json', import.meta.url), 'utf8')) as {
    cobs: CobsVector[];
  }
).cobs;

const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const hex = (b: Uint8Array | undefined): string | undefined =>
  b === undefined ? undefined : Buffer.from(b).toString('hex');

/** Random data that often has zeros and long non-zero runs, the cases COBS gets wrong. */
const data = fc.oneof(
  fc.uint8Array({ maxLength: 1200 }),
  fc
    .array(fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 255 })), { maxLength: 700 })
    .map((a) => Uint8Array.from(a)),
  fc
    .tuple(fc.integer({ min: 250, max: 800 }), fc.array(fc.nat({ max: 799 }), { maxLength: 4 }))
    .map(([length, zeros]) => {
      const bytes = new Uint8Array(length).fill(0x5a);
      for (const z of zeros) if (z < length) bytes[z] = 0;
      return bytes;
    }),
);

t.test('the COBS vectors of test/vectors/bridge-frames.json (Wikipedia examples included)', (t) => {
  t.ok(vectors.filter((v) => v.name.startsWith('Wikipedia')).length === 11, 'all 11 Wikipedia examples');
  for (const v of vectors) {
    const encoded = unhex(v.encodedHex);
    if (v.decodedHex === null) {
      t.equal(cobsDecode(encoded), undefined, `${v.name}: rejected`);
      continue;
    }
    t.equal(hex(cobsDecode(encoded)), v.decodedHex, `${v.name}: decodes`);
    if (!v.decodeOnly) t.equal(hex(cobsEncode(unhex(v.decodedHex))), v.encodedHex, `${v.name}: encodes`);
  }
  t.end();
});

t.test('254 and 255 non-zero bytes: a 0xFF block, then a block only if data follows', (t) => {
  const run254 = new Uint8Array(254).fill(7);
  const enc254 = cobsEncode(run254);
  t.equal(enc254.length, 255);
  t.equal(enc254[0], 0xff);
  const enc255 = cobsEncode(new Uint8Array(255).fill(7));
  t.equal(enc255.length, 257);
  t.same([enc255[0], enc255[255], enc255[256]], [0xff, 0x02, 7]);
  t.end();
});

t.test('cobsMaxEncodedLength', (t) => {
  t.same(
    [0, 1, 253, 254, 255, 508, 509, 1024].map(cobsMaxEncodedLength),
    [1, 2, 254, 255, 257, 510, 512, 1029],
  );
  t.end();
});

t.test('property: decode(encode(x)) = x, no zero in the encoding, length within the bound', (t) => {
  fc.assert(
    fc.property(data, (d) => {
      const e = cobsEncode(d);
      if (e.includes(0)) return false;
      if (e.length > cobsMaxEncodedLength(d.length)) return false;
      if (!d.includes(0) && d.length > 0 && e.length !== cobsMaxEncodedLength(d.length)) return false;
      return hex(cobsDecode(e)) === hex(d);
    }),
    { numRuns: 500 },
  );
  t.pass('500 round trips');
  t.end();
});

t.test('property: decoding arbitrary bytes never throws; a result is shorter than its input', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (e) => {
      const d = cobsDecode(e);
      return d === undefined || d.length < e.length;
    }),
    { numRuns: 500 },
  );
  t.pass('no throw');
  t.end();
});

t.test('decodes a subarray view and returns an independent copy', (t) => {
  const backing = Uint8Array.from([9, 9, 0x03, 0x11, 0x22, 0x02, 0x33, 9]);
  const decoded = cobsDecode(backing.subarray(2, 7));
  t.equal(hex(decoded), '11220033');
  backing.fill(0);
  t.equal(hex(decoded), '11220033', 'unaffected by a later change of the input');
  t.end();
});
