/**
 * OSDP packets: the check characters against SIA OSDP v2.2 Annex E and a bit-at-a-time reference, building,
 * parsing, resync after garbage, and a fast-check fuzz of the incremental parser.
 */
import fc from 'fast-check';
import t from 'tap';
import { osdpChecksum, osdpCrc16 } from '../../src/protocol/osdp/check.js';
import {
  buildPacket,
  nextSqn,
  PacketParser,
  type OsdpPacket,
  type ParseResult,
} from '../../src/protocol/osdp/packet.js';
import {
  CMD,
  decodeReply,
  encodeBuz,
  encodeComset,
  encodeKeyset,
  encodeLed,
  encodeOut,
  keypadKey,
  LED_COLOR,
  OUT_CONTROL,
  REPLY,
} from '../../src/protocol/osdp/messages.js';

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex').toUpperCase();

/** CRC-16 shifted one bit at a time (poly 0x1021, init 0x1D0F), sharing no code with the table version. */
function referenceCrc(data: Uint8Array): number {
  let reg = 0x1d0f;
  for (const byte of data) {
    for (let bit = 7; bit >= 0; bit--) {
      const top = ((reg >> 15) & 1) ^ ((byte >> bit) & 1);
      reg = (reg << 1) & 0xffff;
      if (top === 1) reg ^= 0x1021;
    }
  }
  return reg;
}

t.test('CRC-16 and checksum: Annex E examples', async (t) => {
  // Annex E, CRC example 1 (an osdp_LED... to the broadcast address) and example 2 (osdp_ID to address 0).
  const crc1 = osdpCrc16(hex('53 7F 0D 00 04 6E 00 80 25 00 00'));
  t.equal(toHex(Uint8Array.of(crc1 & 0xff, crc1 >> 8)), '6E38');
  const crc2 = osdpCrc16(hex('53 00 09 00 04 61 00'));
  t.equal(toHex(Uint8Array.of(crc2 & 0xff, crc2 >> 8)), 'C066');
  t.equal(osdpChecksum(hex('53 7F 0C 00 00 6E 00 80 25 00 00')), 0x0f);
  t.equal(osdpChecksum(hex('53 00 08 00 00 61 00')), 0x44);
  // The catalogue's check value for CRC-16/AUG-CCITT.
  t.equal(osdpCrc16(new TextEncoder().encode('123456789')), 0xe5cc);
});

t.test('CRC-16 equals the bit-at-a-time reference on random data', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (d) => osdpCrc16(d) === referenceCrc(d)),
    { numRuns: 500 },
  );
  t.pass();
});

t.test('buildPacket: the Annex E osdp_ID packet, with CRC and with checksum', async (t) => {
  const id = buildPacket({
    address: 0,
    reply: false,
    sqn: 0,
    crc: true,
    code: CMD.ID,
    data: Uint8Array.of(0),
  });
  t.equal(toHex(id), '530009000461' + '00' + 'C066');
  const idSum = buildPacket({
    address: 0,
    reply: false,
    sqn: 0,
    crc: false,
    code: CMD.ID,
    data: Uint8Array.of(0),
  });
  t.equal(toHex(idSum), '53000800006100' + '44');
  const reply = buildPacket({ address: 5, reply: true, sqn: 2, crc: true, code: REPLY.ACK });
  t.equal(reply[1], 0x85);
  t.equal(reply[4], 0x06);
  t.throws(() => buildPacket({ address: 128, reply: false, sqn: 0, crc: true, code: 0x60 }), RangeError);
  t.throws(() => buildPacket({ address: 1, reply: false, sqn: 4, crc: true, code: 0x60 }), RangeError);
  t.throws(
    () =>
      buildPacket({ address: 1, reply: false, sqn: 1, crc: true, code: 0x60, scb: Uint8Array.of(2, 0x15) }),
    RangeError,
    'SCS_15 without a MAC',
  );
  t.throws(
    () =>
      buildPacket({ address: 1, reply: false, sqn: 1, crc: true, code: 0x60, data: new Uint8Array(1500) }),
    RangeError,
  );
});

function packets(results: ParseResult[]): OsdpPacket[] {
  return results.flatMap((r) => (r.kind === 'packet' ? [r.packet] : []));
}

t.test('parser: packets split anywhere, garbage before and between, resync after a bad CRC', async (t) => {
  const a = buildPacket({ address: 1, reply: true, sqn: 1, crc: true, code: REPLY.ACK });
  const b = buildPacket({
    address: 1,
    reply: true,
    sqn: 2,
    crc: false,
    code: REPLY.KEYPAD,
    data: Uint8Array.of(0, 2, 0x31, 0x0d),
  });
  const bad = a.slice();
  bad[bad.length - 1] = (bad[bad.length - 1] ?? 0) ^ 0xff;
  const stream = new Uint8Array([0x00, 0xff, 0x53, ...bad, 0x12, ...a, ...b]);
  for (let split = 0; split <= stream.length; split++) {
    const p = new PacketParser();
    const results = [...p.push(stream.subarray(0, split)), ...p.push(stream.subarray(split))];
    const got = packets(results);
    t.equal(got.length, 2, `split at ${split}`);
    t.equal(got[0]?.code, REPLY.ACK);
    t.equal(got[1]?.sqn, 2);
    t.equal(got[1]?.crc, false);
    t.same(Array.from(got[1]?.data ?? []), [0, 2, 0x31, 0x0d]);
    const discarded = results.reduce((n, r) => n + (r.kind === 'discarded' ? r.length : 0), 0);
    t.equal(discarded, 3 + bad.length + 1, 'every byte that is no packet is accounted for');
    t.equal(p.pending, 0);
  }
  const p = new PacketParser();
  const reasons = p.push(stream).flatMap((r) => (r.kind === 'discarded' ? [r.reason] : []));
  t.ok(reasons.includes('bad_check'));
  t.ok(reasons.includes('garbage'));
  t.ok(reasons.includes('bad_length'), 'a lone SOM with an impossible length');
});

t.test('parser: a partial packet waits, flush() drops it as truncated', async (t) => {
  const a = buildPacket({ address: 3, reply: true, sqn: 3, crc: true, code: REPLY.BUSY });
  const p = new PacketParser();
  t.same(p.push(a.subarray(0, 6)), []);
  t.equal(p.pending, 6);
  t.same(p.flush(), [{ kind: 'discarded', reason: 'truncated', length: 6 }]);
  t.same(p.flush(), []);
  t.equal(packets(p.push(a)).length, 1);
});

t.test('parser: security block and MAC are split out', async (t) => {
  const pkt = buildPacket(
    {
      address: 2,
      reply: true,
      sqn: 1,
      crc: true,
      scb: Uint8Array.of(2, 0x16),
      code: REPLY.ACK,
    },
    () => Uint8Array.of(1, 2, 3, 4, 5, 6),
  );
  const [got] = packets(new PacketParser().push(pkt));
  t.same(Array.from(got?.scb ?? []), [2, 0x16]);
  t.same(Array.from(got?.mac ?? []), [1, 2, 3, 4]);
  t.equal(got?.code, REPLY.ACK);
  t.equal(got?.data.length, 0);
  t.equal(got?.macInput.length, pkt.length - 6);
  // An SCB longer than the packet is refused.
  const broken = buildPacket({
    address: 2,
    reply: true,
    sqn: 1,
    crc: true,
    scb: Uint8Array.of(9, 0x11, 0),
    code: 0x40,
  });
  t.same(
    new PacketParser().push(broken).find((r) => r.kind === 'discarded'),
    { kind: 'discarded', reason: 'bad_scb', length: 1 },
  );
});

t.test('sequence numbers: 0 starts, then 1, 2, 3, 1', async (t) => {
  t.same([0, 1, 2, 3].map(nextSqn), [1, 2, 3, 1]);
});

t.test('fuzz: random and mutated streams never throw or hang, and account for every byte', async (t) => {
  const valid = fc
    .record({
      address: fc.integer({ min: 0, max: 127 }),
      reply: fc.boolean(),
      sqn: fc.integer({ min: 0, max: 3 }),
      crc: fc.boolean(),
      code: fc.integer({ min: 0, max: 255 }),
      data: fc.uint8Array({ maxLength: 64 }),
    })
    .map((f) => buildPacket(f));
  const chunkOf = fc.oneof(fc.uint8Array({ maxLength: 80 }), valid);
  fc.assert(
    fc.property(
      fc.array(chunkOf, { maxLength: 12 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
      fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 6 }),
      (parts, mutations, cuts) => {
        const stream = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
        let at = 0;
        for (const p of parts) {
          stream.set(p, at);
          at += p.length;
        }
        for (const [i, v] of mutations) if (stream.length > 0) stream[i % stream.length] = v;
        const parser = new PacketParser();
        let accounted = 0;
        let pos = 0;
        let c = 0;
        while (pos < stream.length) {
          const n = cuts[c++ % cuts.length] ?? 1;
          for (const r of parser.push(stream.subarray(pos, pos + n)))
            accounted += r.kind === 'packet' ? r.raw.length : r.length;
          pos += n;
        }
        for (const r of parser.flush()) accounted += r.kind === 'packet' ? r.raw.length : r.length;
        return accounted === stream.length;
      },
    ),
    { numRuns: 2000 },
  );
  t.pass();
});

t.test('fuzz: unmutated packets are all found, in order', async (t) => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          address: fc.integer({ min: 0, max: 127 }),
          sqn: fc.integer({ min: 0, max: 3 }),
          crc: fc.boolean(),
          code: fc.integer({ min: 0, max: 255 }),
          data: fc.uint8Array({ maxLength: 40 }),
        }),
        { maxLength: 8 },
      ),
      (fields) => {
        const built = fields.map((f) => buildPacket({ ...f, reply: true }));
        const stream = Buffer.concat(built);
        const got = packets(new PacketParser().push(stream));
        return got.length === fields.length && got.every((g, i) => g.code === fields[i]?.code);
      },
    ),
  );
  t.pass();
});

t.test('command encoders', async (t) => {
  t.equal(
    toHex(encodeLed({ temporary: { color: LED_COLOR.green, ms: 2000 } })),
    '0000' + '02' + '01' + '00' + '02' + '02' + '1400' + '00' + '00' + '00' + '00' + '00',
  );
  t.equal(
    toHex(encodeLed({ permanent: { color: LED_COLOR.red } })),
    '0000' + '00' + '00' + '00' + '00' + '00' + '0000' + '01' + '01' + '00' + '01' + '01',
  );
  t.equal(
    toHex(encodeLed({ temporary: { color: LED_COLOR.red, ms: 1000, flashMs: 200 } })).slice(4, 18),
    '02020201000A00',
  );
  t.equal(toHex(encodeBuz({ on: true, onMs: 100, count: 1 })), '0002010001');
  t.equal(toHex(encodeBuz({ on: true, onMs: 500, offMs: 500, count: 0 })), '0002050500');
  t.equal(toHex(encodeBuz({ on: false })), '0001000000');
  t.equal(toHex(encodeOut([{ output: 0, control: OUT_CONTROL.temporaryOnTimed, ms: 3000 }])), '00051E00');
  t.equal(toHex(encodeOut([{ output: 1, control: OUT_CONTROL.offAbortTimed }])), '01010000');
  t.equal(toHex(encodeComset(1, 115200)), '0100C20100');
  t.equal(toHex(encodeKeyset(new Uint8Array(16).fill(0xaa))), '0110' + 'AA'.repeat(16));
});

t.test('reply decoders', async (t) => {
  const d = (code: number, h: string) => decodeReply(code, hex(h));
  t.same(d(REPLY.ACK, ''), { kind: 'ack' });
  t.match(d(REPLY.NAK, '04'), { kind: 'nak', error: 4 });
  t.match(d(REPLY.NAK, ''), { kind: 'malformed' });
  t.same(d(REPLY.BUSY, ''), { kind: 'busy' });
  t.match(d(REPLY.PDID, '5C2601 02 03 78563412 01 02 03'), {
    kind: 'pdid',
    id: { vendor: '5c2601', model: 2, version: 3, serial: 0x12345678, firmware: '1.2.3' },
  });
  t.match(d(REPLY.PDID, '00'), { kind: 'malformed' });
  t.match(d(REPLY.PDCAP, '010102 080100'), {
    kind: 'pdcap',
    capabilities: [
      { function: 1, compliance: 1, count: 2 },
      { function: 8, compliance: 1, count: 0 },
    ],
  });
  t.match(d(REPLY.PDCAP, '0101'), { kind: 'malformed' });
  t.match(d(REPLY.LSTATR, '0100'), { kind: 'lstatr', tamper: true, power: false });
  t.match(d(REPLY.LSTATR, '01'), { kind: 'malformed' });
  t.same(d(REPLY.ISTATR, '000100'), { kind: 'istatr', inputs: [false, true, false] });
  t.same(d(REPLY.OSTATR, '01'), { kind: 'ostatr', outputs: [true] });
  t.match(d(REPLY.RAW, '00 01 1A00 AABBCCC0'), { kind: 'raw', reader: 0, format: 1, bitCount: 26 });
  t.match(d(REPLY.RAW, '00 01 1A00 AABB'), { kind: 'malformed' });
  t.match(d(REPLY.RAW, '0001'), { kind: 'malformed' });
  t.match(d(REPLY.FMT, '00 00 03 313233'), { kind: 'fmt', text: '123' });
  t.match(d(REPLY.FMT, '00 00 03 3132'), { kind: 'malformed' });
  t.match(d(REPLY.FMT, '00 00 01 07'), { kind: 'malformed' });
  t.match(d(REPLY.KEYPAD, '00 06 31 32 33 34 7F 0D'), { kind: 'keypad', keys: '1234*#' });
  t.match(d(REPLY.KEYPAD, '00 01 41'), { kind: 'malformed' });
  t.match(d(REPLY.KEYPAD, '00 02 31'), { kind: 'malformed' });
  t.match(d(REPLY.COM, '02 00C20100'), { kind: 'com', address: 2, baudRate: 115200 });
  t.match(d(REPLY.COM, '02'), { kind: 'malformed' });
  t.match(d(REPLY.CCRYPT, '00'.repeat(32)), { kind: 'ccrypt' });
  t.match(d(REPLY.CCRYPT, '00'.repeat(31)), { kind: 'malformed' });
  t.match(d(REPLY.RMAC_I, '00'.repeat(16)), { kind: 'rmac_i' });
  t.match(d(REPLY.RMAC_I, '00'), { kind: 'malformed' });
  t.match(d(0x99, '01'), { kind: 'unknown', code: 0x99 });
  t.equal(keypadKey(0x7f), '*');
  t.equal(keypadKey(0x0d), '#');
  t.equal(keypadKey(0x35), '5');
  t.equal(keypadKey(0x23), null);
});
