/**
 * The OSDP secure channel: SIA OSDP v2.2 Annex E vectors (SCBK-D, RND.A = B0..B7, RND.B = A0..A7), the MAC and
 * data-block rules against NIST SP 800-38A F.2.1 (AES-128-CBC), and a whole session against an independent
 * reader side written here with node:crypto's own CBC mode.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import t from 'tap';
import { nodeAes } from '../../src/adapters/osdp/aes.js';
import { buildPacket, PacketParser, SCS, type OsdpPacket } from '../../src/protocol/osdp/packet.js';
import {
  clientCryptogram,
  computeMac,
  CpSecureSession,
  decryptData,
  deriveSessionKeys,
  encryptData,
  initialRmac,
  SCB_KEY,
  SCBK_D,
  serverCryptogram,
  type SessionKeys,
} from '../../src/protocol/osdp/secure.js';

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex').toUpperCase();

const RND_A = hex('B0B1B2B3B4B5B6B7');
const RND_B = hex('A0A1A2A3A4A5A6A7');

t.test('Annex E: SCBK-D, session keys, cryptograms, RMAC_I', async (t) => {
  t.equal(toHex(SCBK_D), '303132333435363738393A3B3C3D3E3F');
  const keys = deriveSessionKeys(nodeAes, SCBK_D, RND_A);
  t.equal(toHex(keys.enc), 'BF8DC2A8329ACB8C67C6D0CD9A451682', 'S-ENC');
  t.equal(toHex(keys.mac1), '5E86C676603BDEE2D8BEAFE178637332', 'S-MAC1');
  t.equal(toHex(keys.mac2), '6FDA86E857777E81132035758239172E', 'S-MAC2');
  const client = clientCryptogram(nodeAes, keys, RND_A, RND_B);
  t.equal(toHex(client), 'FDE5D2F428EC16312471EA3C02BD7796', 'client cryptogram');
  const server = serverCryptogram(nodeAes, keys, RND_A, RND_B);
  t.equal(toHex(server), '26D3356E07762D262801FC8E6665A891', 'server cryptogram');
  t.equal(toHex(initialRmac(nodeAes, keys, server)), 'B2A30057EB98BA2229EC1F875662B524', 'RMAC-I');
  t.throws(() => deriveSessionKeys(nodeAes, SCBK_D.subarray(0, 8), RND_A), RangeError);
  t.throws(() => deriveSessionKeys(nodeAes, SCBK_D, RND_A.subarray(0, 4)), RangeError);
});

t.test('Annex E handshake through CpSecureSession', async (t) => {
  const s = new CpSecureSession(nodeAes, SCBK_D, RND_A, SCB_KEY.scbkD);
  t.same(Array.from(s.handshakeScb(SCS.chlng)), [3, 0x11, 0]);
  t.equal(s.acceptRmacI(new Uint8Array(16)), false, 'no RMAC_I before CCRYPT');
  t.equal(s.acceptCcrypt(RND_B, new Uint8Array(16)), null, 'a wrong client cryptogram');
  const server = s.acceptCcrypt(RND_B, hex('FDE5D2F428EC16312471EA3C02BD7796'));
  t.equal(toHex(server ?? new Uint8Array()), '26D3356E07762D262801FC8E6665A891');
  t.equal(s.established, false);
  t.equal(s.acceptRmacI(new Uint8Array(16)), false, 'a wrong RMAC_I');
  t.equal(s.acceptRmacI(hex('B2A30057EB98BA2229EC1F875662B524')), true);
  t.equal(s.established, true);
});

// NIST SP 800-38A F.2.1 CBC-AES128.Encrypt.
const NIST_KEY = hex('2b7e151628aed2a6abf7158809cf4f3c');
const NIST_IV = hex('000102030405060708090a0b0c0d0e0f');
const NIST_PT = hex(
  '6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51 30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710',
);
const NIST_CT = hex(
  '7649abac8119b246cee98e9b12e9197d 5086cb9b507219ee95db113a917678b2 73bed6b8e3c1743b7116e69e22229516 3ff1caa1681fac09120eca307586e1a7',
);
const nistKeys: SessionKeys = { enc: NIST_KEY, mac1: NIST_KEY, mac2: NIST_KEY };
const complement = (b: Uint8Array): Uint8Array => b.map((x) => ~x & 0xff);

function cbc(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  const c = createCipheriv('aes-128-cbc', key, iv);
  c.setAutoPadding(false);
  return new Uint8Array(Buffer.concat([c.update(data), c.final()]));
}

t.test('MAC: CBC chain (S-MAC1 then S-MAC2 on the last block), padding only when needed', async (t) => {
  t.equal(
    toHex(computeMac(nodeAes, nistKeys, NIST_IV, NIST_PT.subarray(0, 16))),
    toHex(NIST_CT.subarray(0, 16)),
  );
  t.equal(toHex(computeMac(nodeAes, nistKeys, NIST_IV, NIST_PT)), toHex(NIST_CT.subarray(48)));
  // 15 bytes: one block with 0x80 appended.
  const fifteen = Uint8Array.from({ length: 15 }, (_, i) => i);
  const padded = new Uint8Array(16);
  padded.set(fifteen);
  padded[15] = 0x80;
  t.equal(toHex(computeMac(nodeAes, nistKeys, NIST_IV, fifteen)), toHex(cbc(NIST_KEY, NIST_IV, padded)));
  // Distinct MAC keys: the last block alone uses S-MAC2.
  const k2 = hex('000102030405060708090a0b0c0d0e0f');
  const mixed = computeMac(
    nodeAes,
    { enc: NIST_KEY, mac1: NIST_KEY, mac2: k2 },
    NIST_IV,
    NIST_PT.subarray(0, 32),
  );
  const first = cbc(NIST_KEY, NIST_IV, NIST_PT.subarray(0, 16));
  t.equal(toHex(mixed), toHex(cbc(k2, first, NIST_PT.subarray(16, 32))));
});

t.test('data blocks: IV = ~last MAC, always padded 0x80 00…, round trip, bad padding refused', async (t) => {
  const lastMac = complement(NIST_IV);
  const fifteen = Uint8Array.from({ length: 15 }, (_, i) => i);
  const enc15 = encryptData(nodeAes, nistKeys, lastMac, fifteen);
  t.equal(enc15.length, 16);
  t.equal(toHex(enc15), toHex(cbc(NIST_KEY, NIST_IV, Uint8Array.from([...fifteen, 0x80]))));
  const sixteen = Uint8Array.from({ length: 16 }, (_, i) => i);
  const enc16 = encryptData(nodeAes, nistKeys, lastMac, sixteen);
  t.equal(enc16.length, 32, 'a whole block still gets a padding block');
  t.equal(
    toHex(enc16),
    toHex(cbc(NIST_KEY, NIST_IV, Uint8Array.from([...sixteen, 0x80, ...new Uint8Array(15)]))),
  );
  t.equal(encryptData(nodeAes, nistKeys, lastMac, new Uint8Array(0)).length, 16);
  t.same(Array.from(decryptData(nodeAes, nistKeys, lastMac, enc15) ?? []), Array.from(fifteen));
  t.same(Array.from(decryptData(nodeAes, nistKeys, lastMac, enc16) ?? []), Array.from(sixteen));
  t.equal(decryptData(nodeAes, nistKeys, lastMac, enc15.subarray(0, 15)), null, 'not whole blocks');
  t.equal(decryptData(nodeAes, nistKeys, lastMac, new Uint8Array(0)), null);
  t.equal(
    decryptData(nodeAes, nistKeys, lastMac, cbc(NIST_KEY, NIST_IV, new Uint8Array(16))),
    null,
    'no 0x80',
  );
});

/**
 * A reader's side of the channel, written here from Annex D with node:crypto's CBC (not the code under test's
 * block loop): verifies commands and builds replies.
 */
class ReaderSide {
  keys: SessionKeys;
  cmac: Uint8Array = new Uint8Array(16);
  rmac: Uint8Array;
  constructor(scbk: Uint8Array, rndA: Uint8Array, rndB: Uint8Array) {
    this.keys = deriveSessionKeys(nodeAes, scbk, rndA);
    const server = serverCryptogram(nodeAes, this.keys, rndA, rndB);
    this.rmac = initialRmac(nodeAes, this.keys, server);
  }
  mac(iv: Uint8Array, msg: Uint8Array): Uint8Array {
    const len = msg.length % 16 === 0 ? msg.length : msg.length + 16 - (msg.length % 16);
    const buf = new Uint8Array(len);
    buf.set(msg);
    if (len !== msg.length) buf[msg.length] = 0x80;
    const head = buf.subarray(0, len - 16);
    const chain = head.length > 0 ? cbc(this.keys.mac1, iv, head).subarray(head.length - 16) : iv;
    return cbc(this.keys.mac2, chain, buf.subarray(len - 16));
  }
  receive(p: OsdpPacket): Uint8Array {
    const m = this.mac(this.rmac, p.macInput);
    if (toHex(m.subarray(0, 4)) !== toHex(p.mac ?? new Uint8Array())) throw new Error('command MAC');
    this.cmac = m;
    if (p.scb?.[1] !== SCS.cmdEnc) return p.data;
    const d = createDecipheriv('aes-128-cbc', this.keys.enc, complement(this.rmac));
    d.setAutoPadding(false);
    const plain = Buffer.concat([d.update(p.data), d.final()]);
    return new Uint8Array(plain.subarray(0, plain.lastIndexOf(0x80)));
  }
  reply(address: number, sqn: number, code: number, data: Uint8Array, tamperMac = false): Uint8Array {
    let body = data;
    if (data.length > 0) {
      const pad = new Uint8Array(data.length + 16 - (data.length % 16));
      pad.set(data);
      pad[data.length] = 0x80;
      body = cbc(this.keys.enc, complement(this.cmac), pad);
    }
    const scb = Uint8Array.of(2, data.length > 0 ? SCS.replyEnc : SCS.replyMac);
    return buildPacket({ address, reply: true, sqn, crc: true, scb, code, data: body }, (input) => {
      this.rmac = this.mac(this.cmac, input);
      const out = this.rmac.slice();
      if (tamperMac) out[0] = (out[0] ?? 0) ^ 1;
      return out;
    });
  }
}

const one = (bytes: Uint8Array): OsdpPacket => {
  const r = new PacketParser().push(bytes)[0];
  if (r?.kind !== 'packet') throw new Error('no packet');
  return r.packet;
};

t.test('a session: sealed commands and opened replies chain their MACs both ways', async (t) => {
  const scbk = hex('00112233445566778899AABBCCDDEEFF');
  const cp = new CpSecureSession(nodeAes, scbk, RND_A, SCB_KEY.scbk);
  const pd = new ReaderSide(scbk, RND_A, RND_B);
  const keysPd = pd.keys;
  t.throws(() => cp.seal({ address: 1, sqn: 1, crc: true, code: 0x60 }), 'not established yet');
  t.match(cp.open(one(buildPacket({ address: 1, reply: true, sqn: 1, crc: true, code: 0x40 }))), {
    ok: false,
  });
  const server = cp.acceptCcrypt(RND_B, clientCryptogram(nodeAes, keysPd, RND_A, RND_B));
  t.ok(server);
  t.ok(cp.acceptRmacI(pd.rmac));
  for (let i = 0; i < 5; i++) {
    const sqn = (i % 3) + 1;
    const payload = Uint8Array.from({ length: i * 7 }, (_, j) => (j * 13 + i) & 0xff);
    const cmd = one(cp.seal({ address: 1, sqn, crc: true, code: 0x69, data: payload }));
    t.equal(cmd.scb?.[1], payload.length > 0 ? SCS.cmdEnc : SCS.cmdMac);
    t.same(Array.from(pd.receive(cmd)), Array.from(payload), `command ${i} decrypts at the reader`);
    const replyData = Uint8Array.from({ length: 16 * (i % 2) + i }, (_, j) => j);
    const opened = cp.open(one(pd.reply(1, sqn, 0x50, replyData)));
    t.match(opened, { ok: true, code: 0x50 });
    if (opened.ok) t.same(Array.from(opened.data), Array.from(replyData), `reply ${i} decrypts at the panel`);
  }
  // A tampered MAC ends the session.
  pd.receive(one(cp.seal({ address: 1, sqn: 1, crc: true, code: 0x60 })));
  t.match(cp.open(one(pd.reply(1, 1, 0x40, new Uint8Array(0), true))), { ok: false, reason: /MAC/ });
  t.equal(cp.established, false);
});

t.test('a session: replies without the right security block are refused', async (t) => {
  const make = () => {
    const cp = new CpSecureSession(nodeAes, SCBK_D, RND_A, SCB_KEY.scbkD);
    const keys = deriveSessionKeys(nodeAes, SCBK_D, RND_A);
    cp.acceptCcrypt(RND_B, clientCryptogram(nodeAes, keys, RND_A, RND_B));
    cp.acceptRmacI(initialRmac(nodeAes, keys, serverCryptogram(nodeAes, keys, RND_A, RND_B)));
    cp.seal({ address: 1, sqn: 1, crc: true, code: 0x60 });
    return cp;
  };
  t.match(
    make().open(
      one(buildPacket({ address: 1, reply: true, sqn: 1, crc: true, code: 0x41, data: Uint8Array.of(6) })),
    ),
    {
      ok: false,
      reason: 'reply without security block',
    },
  );
  t.match(
    make().open(
      one(
        buildPacket({
          address: 1,
          reply: true,
          sqn: 1,
          crc: true,
          scb: Uint8Array.of(3, 0x14, 1),
          code: 0x40,
        }),
      ),
    ),
    { ok: false, reason: /type 0x14/ },
  );
  // SCS_18 whose MAC verifies but whose data is not whole blocks.
  const scbk = hex('0F0E0D0C0B0A09080706050403020100');
  const cp = new CpSecureSession(nodeAes, scbk, RND_A, SCB_KEY.scbk);
  const pd = new ReaderSide(scbk, RND_A, RND_B);
  cp.acceptCcrypt(RND_B, clientCryptogram(nodeAes, pd.keys, RND_A, RND_B));
  cp.acceptRmacI(pd.rmac);
  pd.receive(one(cp.seal({ address: 1, sqn: 1, crc: true, code: 0x60 })));
  const odd = buildPacket(
    {
      address: 1,
      reply: true,
      sqn: 1,
      crc: true,
      scb: Uint8Array.of(2, SCS.replyEnc),
      code: 0x50,
      data: new Uint8Array(15),
    },
    (input) => pd.mac(pd.cmac, input),
  );
  t.match(cp.open(one(odd)), { ok: false, reason: 'reply data does not decrypt' });
});
