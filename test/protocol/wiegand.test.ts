import t from 'tap';
import fc from 'fast-check';
import {
  CARD_MAPPINGS,
  decodeWiegand,
  encodeWiegand,
  encodeWiegandKey,
  WIEGAND_FORMATS,
  type WiegandFormat,
  type WiegandResult,
} from '../../src/protocol/wiegand.js';

/** Bytes of a burst written as its bits in wire order ("1011..."), first bit = MSB of byte 0, zero-padded. */
function fromBits(bits: string): Uint8Array {
  if (!/^[01]+$/.test(bits)) throw new Error(`bad bit string in test table: ${bits}`);
  const out = new Uint8Array(Math.ceil(bits.length / 8));
  for (let i = 0; i < bits.length; i++) if (bits[i] === '1') out[i >> 3]! |= 0x80 >> (i & 7);
  return out;
}

function toHex(data: Uint8Array): string {
  return Array.from(data, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

function flipBit(data: Uint8Array, index: number): Uint8Array {
  const copy = Uint8Array.from(data);
  copy[index >> 3]! ^= 0x80 >> (index & 7);
  return copy;
}

interface Vector {
  readonly format: WiegandFormat;
  readonly facility: number;
  readonly card: number;
  /** The burst, bit 1 first. */
  readonly bits: string;
  readonly hex: string;
  /** Decimal of the data bits between the parity bits (mapping 'data'). */
  readonly data: string;
  readonly source: string;
}

// Computed by hand from the layouts in docs/card-formats.md, three of them taken from published examples.
const VECTORS: readonly Vector[] = [
  {
    format: 'h10301',
    facility: 1,
    card: 1,
    // Leading even parity is 1 (one 1 in bits 2-13), trailing odd parity is 0 (one 1 in bits 14-25).
    bits: '10000000100000000000000010',
    hex: '80 80 00 80',
    data: '65537',
    source: 'facility 1 card 1',
  },
  {
    format: 'h10301',
    facility: 10,
    card: 1093,
    // Nedap combi-booster manual: "facility code 10 and driver-id 1093" is 0x14088B. Parity 0 then 1.
    bits: '00000101000000100010001011',
    hex: '05 02 22 c0',
    data: '656453',
    source: 'Nedap combi-booster manual, HID 26-bit example (0x14088B)',
  },
  {
    format: 'h10301',
    facility: 118,
    card: 1603,
    // Proxmark3 `lf hid sim -r 2006ec0c86` (H10301 FC 118 CN 1603); the Wiegand part is 0x2EC0C86.
    bits: '10111011000000110010000110',
    hex: 'bb 03 21 80',
    data: '7734851',
    source: 'Proxmark3 lf hid example 2006ec0c86',
  },
  {
    format: 'h10301',
    facility: 123,
    card: 45678,
    bits: '10111101110110010011011101',
    hex: 'bd d9 37 40',
    data: '8106606',
    source: 'facility 123 card 45678',
  },
  {
    format: 'h10301',
    facility: 0,
    card: 0,
    // All data bits zero: even parity 0, odd parity 1.
    bits: '00000000000000000000000001',
    hex: '00 00 00 40',
    data: '0',
    source: 'all-zero H10301',
  },
  {
    format: 'h10301',
    facility: 255,
    card: 65535,
    bits: '01111111111111111111111111',
    hex: '7f ff ff c0',
    data: '16777215',
    source: 'all-ones H10301',
  },
  {
    format: 'wiegand34',
    facility: 1,
    card: 1,
    bits: '1000000000000000100000000000000010',
    hex: '80 00 80 00 80',
    data: '65537',
    source: '34-bit facility 1 card 1',
  },
  {
    format: 'wiegand34',
    facility: 1234,
    card: 56789,
    bits: '1000001001101001011011101110101010',
    hex: '82 69 6e ea 80',
    data: '80928213',
    source: '34-bit facility 1234 card 56789',
  },
  {
    format: 'wiegand34',
    facility: 65535,
    card: 65535,
    bits: '0111111111111111111111111111111111',
    hex: '7f ff ff ff c0',
    data: '4294967295',
    source: 'all-ones 34-bit',
  },
  {
    format: 'corp1000',
    facility: 118,
    card: 1603,
    // Proxmark3 `lf hid sim -r 2e0ec00c87` ("HID Corporate 35 bit"): below the 0x20 preamble and the sentinel
    // bit the 35 Wiegand bits are 0x60EC00C87, company 118, card 1603.
    bits: '11000001110110000000000110010000111',
    hex: 'c1 d8 01 90 e0',
    data: '123733571',
    source: 'Proxmark3 lf hid example 2e0ec00c87',
  },
  {
    format: 'corp1000',
    facility: 222,
    card: 12345,
    bits: '01000011011110000000110000001110010',
    hex: '43 78 0c 0e 40',
    data: '232796217',
    source: 'Corporate 1000 company 222 card 12345',
  },
  {
    format: 'corp1000',
    facility: 0,
    card: 0,
    // All data zero: bit 2 even = 0, bit 35 odd = 1, bit 1 odd over 2-35 (one 1) = 0.
    bits: '00000000000000000000000000000000001',
    hex: '00 00 00 00 20',
    data: '0',
    source: 'all-zero Corporate 1000',
  },
  {
    format: 'corp1000',
    facility: 4095,
    card: 1048575,
    bits: '10111111111111111111111111111111110',
    hex: 'bf ff ff ff c0',
    data: '4294967295',
    source: 'all-ones Corporate 1000',
  },
  {
    format: 'h10304',
    facility: 235,
    card: 249109,
    // Nedap combi-booster manual, H10302 example "driver-id 123456789" = 0x100EB79A2B. H10302 and H10304 share
    // the parity spans, so the same bits read as H10304 facility 235, card 249109; 'data' is 123456789 again.
    bits: '1000000001110101101111001101000101011',
    hex: '80 75 bc d1 58',
    data: '123456789',
    source: 'Nedap combi-booster manual, HID 37-bit example (0x100EB79A2B)',
  },
  {
    format: 'h10304',
    facility: 118,
    card: 1603,
    bits: '1000000000111011000000000110010000110',
    hex: '80 3b 00 64 30',
    data: '61867587',
    source: 'H10304 facility 118 card 1603',
  },
  {
    format: 'h10304',
    facility: 65535,
    card: 524287,
    bits: '0111111111111111111111111111111111111',
    hex: '7f ff ff ff f8',
    data: '34359738367',
    source: 'all-ones H10304 (35 data bits, above 2^32)',
  },
];

t.test('exported lists', (t) => {
  t.same(WIEGAND_FORMATS, ['h10301', 'wiegand34', 'corp1000', 'h10304']);
  t.same(CARD_MAPPINGS, ['data', 'card', 'hex']);
  t.end();
});

t.test('known vectors decode, in auto and in their own format', (t) => {
  for (const v of VECTORS) {
    const data = fromBits(v.bits);
    t.equal(toHex(data), v.hex, `${v.source}: bit string and bytes agree`);
    const expected: WiegandResult = {
      kind: 'card',
      format: v.format,
      facility: v.facility,
      cardNumber: v.card,
      value: v.data,
    };
    t.same(decodeWiegand(v.bits.length, data), expected, `${v.source}: auto`);
    t.same(decodeWiegand(v.bits.length, data, { format: v.format }), expected, `${v.source}: ${v.format}`);
  }
  t.end();
});

t.test('encodeWiegand produces the known vectors, parity included', (t) => {
  for (const v of VECTORS) {
    const frame = encodeWiegand(v.format, v.facility, v.card);
    t.equal(frame.bitCount, v.bits.length, `${v.source}: bit count`);
    t.equal(toHex(frame.data), v.hex, `${v.source}: bytes`);
  }
  t.end();
});

t.test('H10301 parity bits take both values', (t) => {
  // The table above has each parity bit as 1 and as 0; assert it so a table edit cannot lose the case.
  const h = VECTORS.filter((v) => v.format === 'h10301');
  t.ok(h.some((v) => v.bits.startsWith('1')) && h.some((v) => v.bits.startsWith('0')), 'leading 1 and 0');
  t.ok(h.some((v) => v.bits.endsWith('1')) && h.some((v) => v.bits.endsWith('0')), 'trailing 1 and 0');
  t.end();
});

t.test('every single-bit flip of a valid card is a parity error', (t) => {
  for (const v of VECTORS) {
    const data = fromBits(v.bits);
    let errors = 0;
    for (let i = 0; i < v.bits.length; i++) {
      const r = decodeWiegand(v.bits.length, flipBit(data, i));
      if (r.kind === 'error' && r.reason === 'parity') errors++;
      else t.fail(`${v.source}: flipping bit ${i + 1} gave ${JSON.stringify(r)}`);
    }
    t.equal(errors, v.bits.length, `${v.source}: all ${v.bits.length} flips rejected`);
  }
  t.end();
});

t.test('flipping padding bits after the burst changes nothing', (t) => {
  const v = VECTORS[2]!;
  const data = fromBits(v.bits);
  for (let i = v.bits.length; i < data.length * 8; i++) {
    const r = decodeWiegand(v.bits.length, flipBit(data, i));
    t.equal(r.kind === 'card' ? r.value : r.kind, v.data, `padding bit ${i + 1}`);
  }
  t.end();
});

t.test('parity error messages name the failing bit', (t) => {
  const corp = fromBits(VECTORS[9]!.bits);
  // Checks run in encoding order (bit 2, bit 35, bit 1): flipping bit 35 fails its own check first.
  const r = decodeWiegand(35, flipBit(corp, 34));
  t.match(r, { kind: 'error', reason: 'parity', message: /Corporate 1000.*bit 35/ });
  const h = decodeWiegand(26, flipBit(fromBits(VECTORS[0]!.bits), 5));
  t.match(h, { kind: 'error', reason: 'parity', message: /H10301.*bit 1, even over bits 2-13/ });
  t.end();
});

t.test('mappings', (t) => {
  const cases: readonly [number, string, string, string][] = [
    // [vector index, data, card, hex]
    [3, '8106606', '45678', '7BB26E'],
    [7, '80928213', '56789', '04D2DDD5'],
    [9, '123733571', '1603', '07600643'],
    [13, '123456789', '249109', '0075BCD15'],
    [15, '34359738367', '524287', '7FFFFFFFF'],
    [4, '0', '0', '000000'],
  ];
  for (const [i, data, card, hex] of cases) {
    const v = VECTORS[i]!;
    const bytes = fromBits(v.bits);
    const value = (mapping: 'data' | 'card' | 'hex'): string | undefined => {
      const r = decodeWiegand(v.bits.length, bytes, { mapping });
      return r.kind === 'card' ? r.value : undefined;
    };
    t.equal(value('data'), data, `${v.source}: data`);
    t.equal(value('card'), card, `${v.source}: card`);
    t.equal(value('hex'), hex, `${v.source}: hex`);
  }
  // H10301 'data' is facility * 65536 + card, as documented.
  t.equal(String(123 * 65536 + 45678), '8106606');
  t.end();
});

t.test('explicit format: matching length decodes, another card length is a format error', (t) => {
  const h26 = fromBits(VECTORS[2]!.bits);
  t.match(decodeWiegand(26, h26, { format: 'h10301' }), { kind: 'card', format: 'h10301' });
  const h37 = fromBits(VECTORS[13]!.bits);
  const r = decodeWiegand(37, h37, { format: 'h10301' });
  t.match(r, { kind: 'error', reason: 'format' });
  if (r.kind === 'error') {
    t.match(r.message, /37-bit/, 'names the card that arrived');
    t.match(r.message, /H10304/, 'names the format the bits look like');
    t.match(r.message, /h10301/, 'names the configured format');
  }
  t.match(decodeWiegand(26, h26, { format: 'corp1000' }), { kind: 'error', reason: 'format' });
  t.match(decodeWiegand(35, fromBits(VECTORS[9]!.bits), { format: 'h10304' }), {
    kind: 'error',
    reason: 'format',
  });
  // A length no format has stays a length error even with a format configured.
  t.match(decodeWiegand(30, new Uint8Array(4), { format: 'h10301' }), { kind: 'error', reason: 'length' });
  t.end();
});

t.test('an unknown format name from untyped config is an error, not a crash', (t) => {
  const bogus = 'h10302' as WiegandFormat;
  t.match(decodeWiegand(26, fromBits(VECTORS[2]!.bits), { format: bogus }), {
    kind: 'error',
    reason: 'format',
    message: /unknown Wiegand format "h10302"/,
  });
  t.throws(() => encodeWiegand(bogus, 1, 1), RangeError);
  t.end();
});

t.test('wrong lengths', (t) => {
  const big = new Uint8Array(16);
  for (const n of [0, 1, 2, 3, 5, 6, 7, 9, 16, 24, 25, 27, 32, 33, 36, 38, 40, 48, 64, 128]) {
    t.match(decodeWiegand(n, big), { kind: 'error', reason: 'length' }, `${n} bits`);
  }
  for (const n of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60]) {
    t.match(decodeWiegand(n, big), { kind: 'error', reason: 'length' }, `bit count ${n}`);
  }
  // Fewer bytes than the bit count needs.
  t.match(decodeWiegand(26, fromBits(VECTORS[2]!.bits).subarray(0, 3)), { kind: 'error', reason: 'length' });
  t.match(decodeWiegand(4, new Uint8Array(0)), { kind: 'error', reason: 'length' });
  t.match(decodeWiegand(1e9, new Uint8Array(4)), { kind: 'error', reason: 'length' });
  // Extra bytes after the burst are ignored.
  const padded = new Uint8Array(8);
  padded.set(fromBits(VECTORS[2]!.bits));
  padded[7] = 0xff;
  t.match(decodeWiegand(26, padded), { kind: 'card', facility: 118, cardNumber: 1603 });
  t.end();
});

// HID PINpad (8-bit) installation guide and Rosslare "Single Key, Wiegand 8-Bit, Nibbles Complemented".
const KEYPAD_8: readonly [string, number][] = [
  ['0', 0b11110000],
  ['1', 0b11100001],
  ['2', 0b11010010],
  ['3', 0b11000011],
  ['4', 0b10110100],
  ['5', 0b10100101],
  ['6', 0b10010110],
  ['7', 0b10000111],
  ['8', 0b01111000],
  ['9', 0b01101001],
  ['*', 0b01011010],
  ['#', 0b01001011],
];

t.test('keypad: 4-bit bursts', (t) => {
  const keys = '0123456789*#';
  for (let v = 0; v < 16; v++) {
    const r = decodeWiegand(4, Uint8Array.of(v << 4));
    if (v < 12) t.same(r, { kind: 'key', key: keys[v] }, `value ${v}`);
    else t.match(r, { kind: 'error', reason: 'format' }, `value ${v} is no key`);
  }
  // Only the 4 burst bits count.
  t.same(decodeWiegand(4, Uint8Array.of(0x5f)), { kind: 'key', key: '5' });
  t.end();
});

t.test('keypad: 8-bit bursts with complement', (t) => {
  for (const [key, byte] of KEYPAD_8) {
    t.same(decodeWiegand(8, Uint8Array.of(byte)), { kind: 'key', key }, `key ${key}`);
    t.same(toHex(encodeWiegandKey(key, 8).data), byte.toString(16).padStart(2, '0'), `encode ${key}`);
  }
  // Bad complements.
  for (const byte of [0xe2, 0x00, 0xff, 0x11, 0xf1, 0x5b]) {
    t.match(
      decodeWiegand(8, Uint8Array.of(byte)),
      { kind: 'error', reason: 'parity' },
      `0x${byte.toString(16)}`,
    );
  }
  // Complement right, but 12-15 are no key.
  for (const byte of [0x3c, 0x2d, 0x1e, 0x0f, 0xf0]) {
    const r = decodeWiegand(8, Uint8Array.of(byte));
    if ((byte & 0x0f) >= 12) t.match(r, { kind: 'error', reason: 'format' }, `0x${byte.toString(16)}`);
    else t.match(r, { kind: 'key' });
  }
  // Exhaustive: exactly the 12 table bytes are keys.
  let keysSeen = 0;
  for (let b = 0; b < 256; b++) if (decodeWiegand(8, Uint8Array.of(b)).kind === 'key') keysSeen++;
  t.equal(keysSeen, 12);
  t.end();
});

t.test('keypad bursts are accepted whatever the card format', (t) => {
  for (const format of [...WIEGAND_FORMATS, 'auto'] as const) {
    t.same(decodeWiegand(4, Uint8Array.of(0xb0), { format }), { kind: 'key', key: '#' }, `4-bit, ${format}`);
    t.same(decodeWiegand(8, Uint8Array.of(0x5a), { format }), { kind: 'key', key: '*' }, `8-bit, ${format}`);
  }
  t.end();
});

t.test('encodeWiegandKey', (t) => {
  t.same(encodeWiegandKey('7', 4), { bitCount: 4, data: Uint8Array.of(0x70) });
  t.same(encodeWiegandKey('#', 4), { bitCount: 4, data: Uint8Array.of(0xb0) });
  for (const bad of ['', 'A', '12', '+', ' ']) {
    t.throws(() => encodeWiegandKey(bad, 8), RangeError, JSON.stringify(bad));
  }
  t.end();
});

t.test('encodeWiegand rejects values that do not fit', (t) => {
  const bad: readonly [WiegandFormat, number, number][] = [
    ['h10301', 256, 0],
    ['h10301', 0, 65536],
    ['h10301', -1, 0],
    ['h10301', 1.5, 0],
    ['h10301', Number.NaN, 0],
    ['wiegand34', 65536, 0],
    ['corp1000', 4096, 0],
    ['corp1000', 0, 1048576],
    ['h10304', 0, 524288],
    ['h10304', 65536, 0],
  ];
  for (const [format, facility, card] of bad) {
    t.throws(() => encodeWiegand(format, facility, card), RangeError, `${format} ${facility}/${card}`);
  }
  t.end();
});

const FIELD_BITS: Readonly<Record<WiegandFormat, readonly [number, number]>> = {
  h10301: [8, 16],
  wiegand34: [16, 16],
  corp1000: [12, 20],
  h10304: [16, 19],
};

t.test('round trip: every format, any facility and card number', (t) => {
  for (const format of WIEGAND_FORMATS) {
    const [fb, cb] = FIELD_BITS[format];
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** fb - 1 }),
        fc.integer({ min: 0, max: 2 ** cb - 1 }),
        (facility, card) => {
          const { bitCount, data } = encodeWiegand(format, facility, card);
          const r = decodeWiegand(bitCount, data);
          const data2 = decodeWiegand(bitCount, data, { format, mapping: 'data' });
          const hex = decodeWiegand(bitCount, data, { mapping: 'hex' });
          return (
            r.kind === 'card' &&
            r.format === format &&
            r.facility === facility &&
            r.cardNumber === card &&
            r.value === String(facility * 2 ** cb + card) &&
            data2.kind === 'card' &&
            data2.value === r.value &&
            hex.kind === 'card' &&
            BigInt(`0x${hex.value}`) === BigInt(r.value) &&
            hex.value === hex.value.toUpperCase()
          );
        },
      ),
      { numRuns: 500 },
    );
    t.pass(`${format} round-trips`);
  }
  t.end();
});

t.test('property: random bursts never throw, and any card they yield is a canonical encoding', (t) => {
  const options = fc.record(
    {
      format: fc.constantFrom<WiegandFormat | 'auto'>('auto', ...WIEGAND_FORMATS),
      mapping: fc.constantFrom<'data' | 'card' | 'hex'>('data', 'card', 'hex'),
    },
    { requiredKeys: [] },
  );
  const bitCount = fc.oneof(
    fc.constantFrom(4, 8, 26, 34, 35, 37),
    fc.integer({ min: -2, max: 80 }),
    fc.double(),
  );
  fc.assert(
    fc.property(bitCount, fc.uint8Array({ maxLength: 12 }), options, (n, data, opts) => {
      const r = decodeWiegand(n, data, opts);
      switch (r.kind) {
        case 'error':
          return ['parity', 'length', 'format'].includes(r.reason) && r.message.length > 0;
        case 'key':
          return '0123456789*#'.includes(r.key) && r.key.length === 1 && (n === 4 || n === 8);
        case 'card': {
          if (r.facility === null) return false;
          // Valid parity means the bits are exactly what encodeWiegand makes of the decoded fields.
          const again = encodeWiegand(r.format, r.facility, r.cardNumber);
          if (again.bitCount !== n) return false;
          for (let i = 0; i < n; i++) {
            const bit = (b: Uint8Array): number => ((b[i >> 3] ?? 0) >> (7 - (i & 7))) & 1;
            if (bit(again.data) !== bit(data)) return false;
          }
          return true;
        }
      }
    }),
    { numRuns: 5000 },
  );
  t.pass('no throw');
  t.end();
});

t.test('property: random valid-length bursts decode or fail parity, never a card with bad parity', (t) => {
  fc.assert(
    fc.property(fc.constantFrom(26, 34, 35, 37), fc.uint8Array({ minLength: 5, maxLength: 5 }), (n, data) => {
      const r = decodeWiegand(n, data);
      return r.kind === 'card' || (r.kind === 'error' && r.reason === 'parity');
    }),
    { numRuns: 2000 },
  );
  t.pass('ok');
  t.end();
});
