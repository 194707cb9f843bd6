import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import t from 'tap';
import { crc16CcittFalse } from '../../src/protocol/crc16.js';

interface CrcVector {
  name: string;
  inputHex: string;
  crc: number;
}
const vectors = (
  JSON.parse(readFileSync(new URL('../vectors/bridge-frames.json', import.meta.url), 'utf8')) as {
    crc: CrcVector[];
  }
).crc;

const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

/**
 * The textbook bit-at-a-time CRC (Williams, "A Painless Guide to CRC Error Detection Algorithms", the
 * non-reflected shift register), written without a table so that it shares no code with the implementation.
 */
function referenceCrc(data: Uint8Array): number {
  let reg = 0xffff;
  for (const byte of data) {
    for (let bit = 7; bit >= 0; bit--) {
      const top = (reg >> 15) & 1;
      const input = (byte >> bit) & 1;
      reg = (reg << 1) & 0xffff;
      if ((top ^ input) === 1) reg ^= 0x1021;
    }
  }
  return reg;
}

t.test('the catalogue check value: "123456789" -> 0x29B1', (t) => {
  t.equal(crc16CcittFalse(new TextEncoder().encode('123456789')), 0x29b1);
  t.equal(referenceCrc(new TextEncoder().encode('123456789')), 0x29b1, 'the reference agrees');
  t.end();
});

t.test('the CRC vectors of test/vectors/bridge-frames.json', (t) => {
  t.ok(vectors.length >= 5, 'the vector file has CRC vectors');
  for (const v of vectors) {
    t.equal(crc16CcittFalse(unhex(v.inputHex)), v.crc, v.name);
    t.equal(referenceCrc(unhex(v.inputHex)), v.crc, `${v.name} (bit-by-bit reference)`);
  }
  t.end();
});

t.test('the table-driven CRC equals the bit-by-bit reference on random data', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (data) => crc16CcittFalse(data) === referenceCrc(data)),
    { numRuns: 500 },
  );
  t.pass('500 random inputs agree');
  t.end();
});

t.test('no reflection, no xorout: data followed by its CRC (big-endian) has CRC 0', (t) => {
  // The residue property of a non-reflected CRC with xorout 0; it is why the CRC is sent big-endian.
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (data) => {
      const crc = crc16CcittFalse(data);
      return crc16CcittFalse(Uint8Array.from([...data, crc >> 8, crc & 0xff])) === 0;
    }),
  );
  t.pass('residue is 0');
  t.end();
});

t.test('does not read outside a subarray view', (t) => {
  const whole = new TextEncoder().encode('xx123456789yy');
  t.equal(crc16CcittFalse(whole.subarray(2, 11)), 0x29b1);
  t.end();
});
