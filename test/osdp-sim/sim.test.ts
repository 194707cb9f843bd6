/**
 * The OSDP reader simulator (test/helpers/osdp-sim) checked on its own: its crypto against the Annex E
 * examples of SIA OSDP v2.2, its deframer, and its behaviour over a real pty driven by a tiny control
 * panel written here (packet building, CRC and secure channel duplicated on purpose: no sim code is used
 * on the CP side).
 */
import t, { type Test } from 'tap';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { SerialPort } from 'serialport';
import {
  SCBK_DEFAULT,
  checksum8,
  clientCryptogram,
  computeMac,
  crc16,
  decryptData,
  encryptData,
  initialRmac,
  serverCryptogram,
  sessionKeys,
} from '../helpers/osdp-sim/crypto.js';
import { Deframer, buildPacket } from '../helpers/osdp-sim/packet.js';
import { OsdpBusSim, type SimReaderOptions } from '../helpers/osdp-sim/index.js';
import { haveSocat, ptyPair } from '../helpers/pty.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// ---------------------------------------------------------------------------------------------------
// Known answers

t.test('Annex E: CRC-16 and checksum examples', async (t) => {
  const m1 = hex('53 7F 0D 00 04 6E 00 80 25 00 00');
  const c1 = crc16(m1);
  t.same([c1 & 0xff, c1 >> 8], [0x6e, 0x38]);
  const m2 = hex('53 00 09 00 04 61 00');
  const c2 = crc16(m2);
  t.same([c2 & 0xff, c2 >> 8], [0xc0, 0x66]);
  t.equal(checksum8(hex('53 7F 0C 00 00 6E 00 80 25 00 00')), 0x0f);
  t.equal(checksum8(hex('53 00 08 00 00 61 00')), 0x44);
});

t.test('Annex E: SCBK-D session keys, cryptograms and initial R-MAC', async (t) => {
  const rndA = hex('B0B1B2B3B4B5B6B7');
  const rndB = hex('A0A1A2A3A4A5A6A7');
  const keys = sessionKeys(SCBK_DEFAULT, rndA);
  t.equal(keys.sMac1.toString('hex'), '5e86c676603bdee2d8beafe178637332');
  t.equal(keys.sMac2.toString('hex'), '6fda86e857777e81132035758239172e');
  t.equal(keys.sEnc.toString('hex'), 'bf8dc2a8329acb8c67c6d0cd9a451682');
  const client = clientCryptogram(keys.sEnc, rndA, rndB);
  t.equal(client.toString('hex'), 'fde5d2f428ec16312471ea3c02bd7796');
  const server = serverCryptogram(keys.sEnc, rndA, rndB);
  t.equal(server.toString('hex'), '26d3356e07762d262801fc8e6665a891');
  t.equal(initialRmac(keys, server).toString('hex'), 'b2a30057eb98ba2229ec1f875662b524');
});

t.test('MAC chaining and data encryption (NIST SP 800-38A F.2.1 based vectors)', async (t) => {
  const key = hex('2b7e151628aed2a6abf7158809cf4f3c');
  const iv = hex('000102030405060708090a0b0c0d0e0f');
  const pt = hex(
    '6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710',
  );
  const keys = { sMac1: key, sMac2: key };
  // With S-MAC1 = S-MAC2 the MAC is the last CBC block.
  t.equal(computeMac(keys, iv, pt.subarray(0, 16)).toString('hex'), '7649abac8119b246cee98e9b12e9197d');
  t.equal(computeMac(keys, iv, pt).toString('hex'), '3ff1caa1681fac09120eca307586e1a7');
  // A 15-byte message is padded with 0x80.
  const p15 = hex('000102030405060708090a0b0c0d0e');
  t.equal(computeMac(keys, iv, p15).toString('hex'), 'c5311f3d23d086ea86f5ee7f85247b40');
  // Data encryption uses IV = ~(last MAC of the other side).
  const notIv = Buffer.from(iv.map((b) => ~b & 0xff));
  t.equal(encryptData(key, notIv, p15).toString('hex'), 'c5311f3d23d086ea86f5ee7f85247b40');
  const p16 = hex('000102030405060708090a0b0c0d0e0f');
  const c16 = encryptData(key, notIv, p16);
  t.equal(c16.toString('hex'), '7df76b0c1ab899b33e42f047b91b546fe2fe5bd6c1dfcdd19124f03e1a134d3b');
  t.same(decryptData(key, notIv, c16), p16);
  t.equal(decryptData(key, notIv, c16.subarray(0, 15)), undefined, 'not a block multiple');
  t.equal(decryptData(key, notIv, Buffer.alloc(16)), undefined, 'no 0x80 marker');
});

t.test('deframer: split chunks, garbage, a corrupt packet hiding a good one, the 0xFF mark', async (t) => {
  const poll = buildPacket({ addr: 1, seq: 1, crc: true, code: 0x60 }).bytes;
  const d = new Deframer();
  t.same(d.push(poll.subarray(0, 3)), []);
  const [a] = d.push(poll.subarray(3));
  t.ok(a?.checkOk);
  t.equal(a?.seq, 1);

  const out = d.push(Buffer.concat([hex('00 53 53 02 00 ff 13'), poll]));
  const good = out.filter((p) => p.checkOk);
  t.equal(good.length, 1, 'the real packet is found behind garbage');
  t.ok(d.skipped > 0);

  const bad = Buffer.from(poll);
  bad[bad.length - 1]! ^= 1;
  const res = d.push(Buffer.concat([bad, Buffer.from([0xff]), poll]));
  t.equal(res[0]?.checkOk, false);
  t.equal(res[0]?.resync, false);
  const last = res[res.length - 1];
  t.ok(last?.checkOk && last.marked, 'marked good packet after the bad one');

  // A SOM with a plausible length that never completes is dropped by flushStale.
  t.same(d.push(hex('53 01 40 00 04')), []);
  t.ok(d.pending > 0);
  d.flushStale();
  t.equal(d.pending, 0);
});

// ---------------------------------------------------------------------------------------------------
// A tiny control panel

interface CpReply {
  addr: number;
  seq: number;
  crc: boolean;
  scb: Buffer | undefined;
  code: number;
  data: Buffer;
  mac: Buffer | undefined;
  raw: Buffer;
  /** The part covered by the MAC. */
  macced: Buffer;
}

function cpCrc(b: Buffer): number {
  let c = 0x1d0f;
  for (const x of b) {
    c ^= x << 8;
    for (let i = 0; i < 8; i++) c = (c & 0x8000 ? (c << 1) ^ 0x1021 : c << 1) & 0xffff;
  }
  return c;
}

function cpPacket(
  addr: number,
  seq: number,
  code: number,
  data: Buffer = Buffer.alloc(0),
  o: { checksum?: boolean; scb?: Buffer; mac?: (m: Buffer) => Buffer } = {},
): Buffer {
  const scb = o.scb ?? Buffer.alloc(0);
  const len = 5 + scb.length + 1 + data.length + (o.mac ? 4 : 0) + (o.checksum ? 1 : 2);
  const head = Buffer.from([
    0x53,
    addr,
    len & 0xff,
    len >> 8,
    (seq & 3) | (o.checksum ? 0 : 4) | (o.scb ? 8 : 0),
  ]);
  let b = Buffer.concat([head, scb, Buffer.from([code]), data]);
  if (o.mac) b = Buffer.concat([b, o.mac(b).subarray(0, 4)]);
  if (o.checksum) {
    const sum = b.reduce((s, x) => (s + x) & 0xff, 0);
    return Buffer.concat([b, Buffer.from([(0x100 - sum) & 0xff])]);
  }
  const c = cpCrc(b);
  return Buffer.concat([b, Buffer.from([c & 0xff, c >> 8])]);
}

const aes = (key: Buffer, iv: Buffer | null, data: Buffer): Buffer => {
  const c = createCipheriv(iv ? 'aes-128-cbc' : 'aes-128-ecb', key, iv);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(data), c.final()]);
};
const dec = (key: Buffer, iv: Buffer, data: Buffer): Buffer => {
  const d = createDecipheriv('aes-128-cbc', key, iv);
  d.setAutoPadding(false);
  return Buffer.concat([d.update(data), d.final()]);
};

class TinyCp {
  private buf = Buffer.alloc(0);
  private waiter: ((r: CpReply | 'bad-crc') => void) | undefined;
  readonly badCrc: Buffer[] = [];
  // Secure channel state (CP side).
  sEnc: Buffer = Buffer.alloc(0);
  sMac1: Buffer = Buffer.alloc(0);
  sMac2: Buffer = Buffer.alloc(0);
  cmac: Buffer = Buffer.alloc(16);
  rmac: Buffer = Buffer.alloc(16);

  private constructor(readonly port: SerialPort) {
    port.on('data', (c: Buffer) => {
      this.buf = Buffer.concat([this.buf, c]);
      this.parse();
    });
  }

  static async open(path: string): Promise<TinyCp> {
    const port = new SerialPort({ path, baudRate: 9600, autoOpen: false });
    await new Promise<void>((res, rej) => port.open((e) => (e ? rej(e) : res())));
    return new TinyCp(port);
  }

  private parse(): void {
    for (;;) {
      const som = this.buf.indexOf(0x53);
      if (som < 0 || this.buf.length < som + 5) return;
      const len = this.buf.readUInt16LE(som + 2);
      if (this.buf.length < som + len) return;
      const raw = this.buf.subarray(som, som + len);
      this.buf = this.buf.subarray(som + len);
      const ctrl = raw[4]!;
      const crc = (ctrl & 4) !== 0;
      const end = len - (crc ? 2 : 1);
      const okCheck = crc
        ? cpCrc(raw.subarray(0, end)) === raw.readUInt16LE(end)
        : raw.reduce((s, x) => (s + x) & 0xff, 0) === 0;
      if (!okCheck) {
        this.badCrc.push(Buffer.from(raw));
        this.waiter?.('bad-crc');
        continue;
      }
      let pos = 5;
      let scb: Buffer | undefined;
      if (ctrl & 8) {
        scb = Buffer.from(raw.subarray(pos, pos + raw[pos]!));
        pos += scb.length;
      }
      const hasMac = scb !== undefined && scb[1]! >= 0x15;
      const macAt = hasMac ? end - 4 : end;
      this.waiter?.({
        addr: raw[1]!,
        seq: ctrl & 3,
        crc,
        scb,
        code: raw[pos]!,
        data: Buffer.from(raw.subarray(pos + 1, macAt)),
        mac: hasMac ? Buffer.from(raw.subarray(macAt, end)) : undefined,
        raw: Buffer.from(raw),
        macced: Buffer.from(raw.subarray(0, macAt)),
      });
    }
  }

  /** Sends bytes; resolves with the reply, 'bad-crc', or undefined after `ms` of silence. */
  send(bytes: Buffer, ms = 3000): Promise<CpReply | 'bad-crc' | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        resolve(undefined);
      }, ms);
      this.waiter = (r) => {
        clearTimeout(timer);
        this.waiter = undefined;
        resolve(r);
      };
      this.port.write(bytes);
    });
  }

  async cmd(
    addr: number,
    seq: number,
    code: number,
    data?: Buffer,
    o?: { checksum?: boolean },
  ): Promise<CpReply> {
    const r = await this.send(cpPacket(addr, seq, code, data, o));
    if (r === undefined || r === 'bad-crc') throw new Error(`no good reply to 0x${code.toString(16)}: ${r}`);
    return r;
  }

  /** CHLNG + SCRYPT. Returns 'client-cryptogram-mismatch' when the PD's key is not `scbk`. */
  async handshake(
    addr: number,
    seq1: number,
    scbk: Buffer,
    keySel = 1,
  ): Promise<'ok' | 'client-cryptogram-mismatch' | CpReply> {
    const rndA = randomBytes(8);
    const cc = await this.sendScb(addr, seq1, 0x76, rndA, Buffer.from([3, 0x11, keySel]));
    if (cc.code !== 0x76) return cc;
    const rndB = cc.data.subarray(8, 16);
    const derive = (k: number): Buffer => {
      const b = Buffer.alloc(16);
      b[0] = 1;
      b[1] = k;
      rndA.copy(b, 2, 0, 6);
      return aes(scbk, null, b);
    };
    this.sEnc = derive(0x82);
    this.sMac1 = derive(0x01);
    this.sMac2 = derive(0x02);
    if (!aes(this.sEnc, null, Buffer.concat([rndA, rndB])).equals(cc.data.subarray(16, 32))) {
      return 'client-cryptogram-mismatch';
    }
    const serverCrypt = aes(this.sEnc, null, Buffer.concat([rndB, rndA]));
    const r = await this.sendScb(addr, (seq1 % 3) + 1, 0x77, serverCrypt, Buffer.from([3, 0x13, keySel]));
    if (r.code !== 0x78 || r.scb?.[2] !== 1) return r;
    const expect = aes(this.sMac2, null, aes(this.sMac1, null, serverCrypt));
    if (!expect.equals(r.data)) throw new Error('RMAC_I does not match');
    this.rmac = r.data;
    return 'ok';
  }

  private async sendScb(
    addr: number,
    seq: number,
    code: number,
    data: Buffer,
    scb: Buffer,
  ): Promise<CpReply> {
    const r = await this.send(cpPacket(addr, seq, code, data, { scb }));
    if (r === undefined || r === 'bad-crc') throw new Error(`no reply to 0x${code.toString(16)}`);
    return r;
  }

  mac(iv: Buffer, msg: Buffer): Buffer {
    const padLen = msg.length % 16 === 0 ? msg.length : (Math.floor(msg.length / 16) + 1) * 16;
    const m = Buffer.alloc(padLen);
    msg.copy(m);
    if (padLen !== msg.length) m[msg.length] = 0x80;
    let chain = iv;
    for (let i = 0; i < m.length; i += 16) {
      const key = i + 16 === m.length ? this.sMac2 : this.sMac1;
      chain = aes(key, chain, m.subarray(i, i + 16));
    }
    return chain;
  }

  /** Builds a secure command packet (SCS_15/17), advancing C-MAC. */
  securePacket(addr: number, seq: number, code: number, data: Buffer = Buffer.alloc(0)): Buffer {
    const inv = (b: Buffer): Buffer => Buffer.from(b.map((x) => ~x & 0xff));
    let payload = data;
    if (data.length > 0) {
      const padded = Buffer.alloc((Math.floor(data.length / 16) + 1) * 16);
      data.copy(padded);
      padded[data.length] = 0x80;
      payload = aes(this.sEnc, inv(this.rmac), padded);
    }
    const scb = Buffer.from([2, data.length > 0 ? 0x17 : 0x15]);
    return cpPacket(addr, seq, code, payload, {
      scb,
      mac: (m) => {
        this.cmac = this.mac(this.rmac, m);
        return this.cmac;
      },
    });
  }

  /** Checks a secure reply's MAC (advancing R-MAC) and returns its decrypted data. */
  openReply(r: CpReply): Buffer {
    if (!r.mac) throw new Error(`reply 0x${r.code.toString(16)} has no MAC`);
    const m = this.mac(this.cmac, r.macced);
    if (!m.subarray(0, 4).equals(r.mac)) throw new Error('reply MAC does not verify');
    this.rmac = m;
    if (r.scb?.[1] !== 0x18) return r.data;
    const plain = dec(this.sEnc, Buffer.from(this.cmac.map((x) => ~x & 0xff)), r.data);
    const end = plain.lastIndexOf(0x80);
    return plain.subarray(0, end);
  }

  async secureCmd(
    addr: number,
    seq: number,
    code: number,
    data?: Buffer,
  ): Promise<{ reply: CpReply; data: Buffer }> {
    const r = await this.send(this.securePacket(addr, seq, code, data));
    if (r === undefined || r === 'bad-crc') throw new Error(`no reply to secure 0x${code.toString(16)}`);
    return { reply: r, data: this.openReply(r) };
  }

  close(): Promise<void> {
    return new Promise((res) => (this.port.isOpen ? this.port.close(() => res()) : res()));
  }
}

async function rig(t: Test, readers: SimReaderOptions[]): Promise<{ bus: OsdpBusSim; cp: TinyCp }> {
  const pty = await ptyPair();
  const bus = await OsdpBusSim.open(pty.device, 9600, readers);
  const cp = await TinyCp.open(pty.host);
  t.teardown(async () => {
    await cp.close();
    await bus.close();
    await pty.close();
  });
  return { bus, cp };
}

const noSocat = !haveSocat() && 'socat is not installed';
const KEY = hex('00112233445566778899aabbccddeeff');

t.test('over a pty: POLL, ID, CAP, status and output commands', { skip: noSocat }, async (t) => {
  const { bus, cp } = await rig(t, [{ address: 1 }]);
  const r = bus.reader(1);
  const ack = await cp.cmd(1, 0, 0x60);
  t.equal(ack.code, 0x40, 'POLL → ACK');
  t.equal(ack.addr, 0x81, 'reply address has bit 7 set');
  t.equal(ack.seq, 0);
  t.ok(ack.crc);

  const id = await cp.cmd(1, 1, 0x61, Buffer.from([0]));
  t.equal(id.code, 0x45);
  t.equal(id.data.length, 12);
  const cap = await cp.cmd(1, 2, 0x62, Buffer.from([0]));
  t.equal(cap.code, 0x46);
  t.equal(cap.data.length % 3, 0);
  const caps = new Map<number, [number, number]>();
  for (let i = 0; i < cap.data.length; i += 3) caps.set(cap.data[i]!, [cap.data[i + 1]!, cap.data[i + 2]!]);
  t.same(caps.get(9), [1, 1], 'AES-128 secure channel, SCBK-D (install mode)');
  t.same(caps.get(8), [1, 0], 'CRC-16 supported');

  r.setTamper(true);
  t.same((await cp.cmd(1, 3, 0x64)).data, Buffer.from([1, 0]), 'LSTATR tamper');
  r.setInput(2, true);
  t.same((await cp.cmd(1, 1, 0x65)).data, Buffer.from([0, 0, 1, 0]), 'ISTATR');

  const out = await cp.cmd(1, 2, 0x68, Buffer.from([1, 2, 0, 0]));
  t.equal(out.code, 0x40);
  t.same(r.outputs, [false, true]);
  t.same((await cp.cmd(1, 3, 0x66)).data, Buffer.from([0, 1]), 'OSTATR');

  // LED: reader 0, LED 0, temporary set red 3 s, permanent green.
  const led = Buffer.from([0, 0, 2, 5, 5, 1, 0, 30, 0, 1, 1, 0, 2, 0]);
  t.equal((await cp.cmd(1, 1, 0x69, led)).code, 0x40);
  t.equal(r.led.color, 'red', 'temporary shows');
  t.equal(r.led.permanent.onColor, 'green');
  t.equal(r.led.temporary.timer, 30);
  const cancel = Buffer.from([0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  await cp.cmd(1, 2, 0x69, cancel);
  t.equal(r.led.color, 'green', 'cancelled temporary → permanent');

  t.equal((await cp.cmd(1, 3, 0x6a, Buffer.from([0, 2, 2, 1, 3]))).code, 0x40);
  t.match(r.buzzer, { tone: 'default', onTime: 2, offTime: 1, count: 3, sounding: true });

  const unknown = await cp.cmd(1, 1, 0x5f);
  t.same([unknown.code, unknown.data[0]], [0x41, 0x03], 'unknown command → NAK 3');
  const badLen = await cp.cmd(1, 2, 0x60, Buffer.from([1]));
  t.same([badLen.code, badLen.data[0]], [0x41, 0x02], 'POLL with data → NAK 2');

  t.same(r.received.map((c) => c.name).slice(0, 3), ['osdp_POLL', 'osdp_ID', 'osdp_CAP']);
});

t.test(
  'over a pty: a card is reported once though POLL is retransmitted; keypad',
  { skip: noSocat },
  async (t) => {
    const { bus, cp } = await rig(t, [{ address: 5 }]);
    const r = bus.reader(5);
    await cp.cmd(5, 0, 0x60);
    const bits = '10000000000000000000000011'; // 26 bits
    r.presentCard(bits);
    const raw = await cp.cmd(5, 1, 0x60);
    t.equal(raw.code, 0x50, 'osdp_RAW');
    t.equal(raw.data[0], 0, 'reader 0');
    t.equal(raw.data[1], 0, 'format 0: raw, unspecified');
    t.equal(raw.data.readUInt16LE(2), 26);
    t.same(raw.data.subarray(4), Buffer.from([0x80, 0x00, 0x00, 0xc0]), 'bits MSB first');

    const again = await cp.cmd(5, 1, 0x60);
    t.same(again.raw, raw.raw, 'same seq → the identical reply');
    t.equal((await cp.cmd(5, 2, 0x60)).code, 0x40, 'next seq → ACK: the card is not reported twice');

    // A reply lost on the way: the retransmission gets it.
    r.presentCard('1111');
    r.dropNextReply();
    t.equal(await cp.send(cpPacket(5, 3, 0x60), 400), undefined, 'reply dropped');
    const retry = await cp.cmd(5, 3, 0x60);
    t.equal(retry.code, 0x50);
    t.same(retry.data.subarray(4), Buffer.from([0xf0]));
    t.equal((await cp.cmd(5, 1, 0x60)).code, 0x40, '3 → 1');

    r.pressKeys('12*#');
    const kp = await cp.cmd(5, 2, 0x60);
    t.equal(kp.code, 0x53);
    t.same(kp.data, Buffer.from([0, 4, 0x31, 0x32, 0x7f, 0x0d]));
    t.equal(r.received.filter((c) => c.repeat).length, 2);
  },
);

t.test('over a pty: sequence numbers, bad CRC, checksum mode, multi-drop', { skip: noSocat }, async (t) => {
  const { bus, cp } = await rig(t, [{ address: 1 }, { address: 2, checksumOnly: true }]);
  const r1 = bus.reader(1);

  const fresh = await cp.cmd(1, 2, 0x60);
  t.same([fresh.code, fresh.data[0]], [0x41, 0x04], 'a fresh PD accepts only sequence 0');
  t.equal((await cp.cmd(1, 0, 0x60)).code, 0x40);
  t.equal((await cp.cmd(1, 1, 0x60)).code, 0x40);
  const skip = await cp.cmd(1, 3, 0x60);
  t.same([skip.code, skip.data[0]], [0x41, 0x04], 'skipping a number → NAK 4');
  t.equal((await cp.cmd(1, 0, 0x60)).code, 0x40, 'sequence 0 resets');
  t.equal((await cp.cmd(1, 1, 0x60)).code, 0x40);

  const bad = cpPacket(1, 2, 0x60);
  bad[bad.length - 1]! ^= 0x55;
  const nak = await cp.send(bad);
  t.ok(nak && nak !== 'bad-crc' && nak.code === 0x41 && nak.data[0] === 0x01, 'bad CRC → NAK 1');
  t.equal(r1.badPackets, 1);
  t.equal((await cp.cmd(1, 2, 0x60)).code, 0x40, 'the retransmission is processed');
  r1.nakOnBadCheck = false;
  t.equal(await cp.send(bad, 400), undefined, 'nakOnBadCheck false → silence');

  // Garbage before a packet, and the 0xFF mark.
  const marked = await cp.send(
    Buffer.concat([hex('00 13 53 00'), Buffer.from([0xff]), cpPacket(1, 3, 0x60)]),
  );
  t.ok(marked && marked !== 'bad-crc' && marked.code === 0x40);

  // Reader 2 speaks checksum only: CRC packets go unanswered, checksum ones are answered in kind.
  t.equal(await cp.send(cpPacket(2, 0, 0x60), 400), undefined);
  const ck = await cp.cmd(2, 0, 0x60, undefined, { checksum: true });
  t.equal(ck.code, 0x40);
  t.equal(ck.addr, 0x82);
  t.notOk(ck.crc, 'reply uses the checksum');
  // Reader 1 answers a checksum packet with a checksum.
  t.notOk((await cp.cmd(1, 1, 0x60, undefined, { checksum: true })).crc);

  const bc = await cp.cmd(0x7f, 2, 0x60);
  t.same([bc.code, bc.addr], [0x40, 0x81], 'broadcast: answered from the own address');
  t.equal(r1.received.at(-1)?.broadcast, true);
  t.equal(await cp.send(cpPacket(3, 0, 0x60), 400), undefined, 'nobody at address 3');
  t.equal(bus.reader(2).received.length, 1, 'reader 2 saw only its own packet');
});

t.test(
  'over a pty: silent, corrupt CRC, wrong sequence, BUSY, restart, COMSET',
  { skip: noSocat },
  async (t) => {
    const { bus, cp } = await rig(t, [{ address: 9 }]);
    const r = bus.reader(9);
    await cp.cmd(9, 0, 0x60);
    r.silent = true;
    t.equal(await cp.send(cpPacket(9, 1, 0x60), 400), undefined, 'silent');
    r.silent = false;
    t.equal((await cp.cmd(9, 1, 0x60)).code, 0x40);

    r.corruptNextReplyCrc();
    t.equal(await cp.send(cpPacket(9, 2, 0x60)), 'bad-crc');
    t.equal((await cp.cmd(9, 2, 0x60)).code, 0x40, 'the retransmission gets a good copy');

    r.wrongSequenceOnNextReply();
    t.equal((await cp.cmd(9, 3, 0x60)).seq, 1, 'reply carries the wrong number');

    r.busyReplies = 1;
    const busy = await cp.cmd(9, 1, 0x60);
    t.same([busy.code, busy.seq], [0x79, 0]);
    t.equal((await cp.cmd(9, 1, 0x60)).code, 0x40, 'same command again after BUSY is processed');

    r.restart();
    const after = await cp.cmd(9, 2, 0x60);
    t.same([after.code, after.data[0]], [0x41, 0x04], 'after a power cycle the PD wants sequence 0');
    t.equal((await cp.cmd(9, 0, 0x60)).code, 0x40);

    const comset = await cp.cmd(9, 1, 0x6e, Buffer.from([12, 0x00, 0x96, 0x00, 0x00]));
    t.equal(comset.code, 0x54);
    t.equal(comset.addr, 0x89, 'replies from the old address');
    t.same(comset.data, Buffer.from([12, 0x00, 0x96, 0x00, 0x00]));
    await r.waitFor(() => bus.baudRate === 38400, 2000);
    t.equal(r.address, 12);
    t.equal(bus.reader(12), r);
    t.equal(await cp.send(cpPacket(9, 2, 0x60), 400), undefined, 'old address no longer answers');
  },
);

t.test(
  'over a pty: secure channel with a known SCBK; encrypted KEYPAD and LED',
  { skip: noSocat },
  async (t) => {
    const { bus, cp } = await rig(t, [{ address: 3, scbk: KEY }]);
    const r = bus.reader(3);
    await cp.cmd(3, 0, 0x60);
    t.equal(await cp.handshake(3, 1, KEY), 'ok');
    t.ok(r.secureEstablished);

    const poll = await cp.secureCmd(3, 3, 0x60);
    t.equal(poll.reply.code, 0x40);
    t.same(poll.reply.scb, Buffer.from([2, 0x16]), 'ACK has no data: SCS_16');
    t.equal(r.received.at(-1)?.secure, true);

    r.pressKeys('4711#');
    const kp = await cp.secureCmd(3, 1, 0x60);
    t.equal(kp.reply.code, 0x53);
    t.same(kp.reply.scb, Buffer.from([2, 0x18]), 'encrypted: SCS_18');
    t.notSame(
      kp.reply.data.subarray(0, 7),
      Buffer.from([0, 5, 0x34, 0x37, 0x31, 0x31, 0x0d]),
      'not in the clear',
    );
    t.same(kp.data, Buffer.from([0, 5, 0x34, 0x37, 0x31, 0x31, 0x0d]));

    const led = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 3, 0]);
    const ledR = await cp.secureCmd(3, 2, 0x69, led);
    t.equal(ledR.reply.code, 0x40);
    t.equal(r.led.color, 'amber', 'SCS_17 data decrypted by the PD');
    t.same(r.received.at(-1)?.data, led);

    // A reply lost inside the session: the same packet again gets the same reply, the MAC chain holds.
    r.presentCard('101');
    r.dropNextReply();
    const pkt = cp.securePacket(3, 3, 0x60);
    t.equal(await cp.send(pkt, 400), undefined);
    const re = await cp.send(pkt);
    t.ok(re && re !== 'bad-crc');
    if (re && re !== 'bad-crc') t.same(cp.openReply(re).subarray(0, 4), Buffer.from([0, 0, 3, 0]));
    t.equal((await cp.secureCmd(3, 1, 0x60)).reply.code, 0x40, 'chain continues');

    // A plain command during the session ends it.
    const plain = await cp.cmd(3, 2, 0x60);
    t.same([plain.code, plain.data[0]], [0x41, 0x06]);
    t.notOk(r.secureEstablished);
  },
);

t.test('over a pty: wrong key, refused channel, install mode and KEYSET', { skip: noSocat }, async (t) => {
  const { bus, cp } = await rig(t, [{ address: 4, scbk: KEY }, { address: 6 }]);
  await cp.cmd(4, 0, 0x60);
  t.equal(
    await cp.handshake(4, 1, SCBK_DEFAULT, 1),
    'client-cryptogram-mismatch',
    'CP detects the wrong key',
  );
  t.notOk(bus.reader(4).secureEstablished);

  // A PD that is not in install mode refuses SCBK-D.
  const noD = await cp.handshake(4, 2, SCBK_DEFAULT, 0);
  t.ok(typeof noD === 'object' && noD.code === 0x41 && noD.data[0] === 0x06);

  // A bad server cryptogram (CP with the wrong key pushing on) → RMAC_I with 0xFF, no session.
  await cp.cmd(4, 0, 0x60);
  bus.reader(4).refuseSecureChannel = true;
  const refused = await cp.handshake(4, 1, KEY);
  t.ok(typeof refused === 'object' && refused.code === 0x41 && refused.data[0] === 0x05, 'refused → NAK 5');

  // Install mode: SCBK-D, then KEYSET to a new key; the next handshake needs the new key.
  const r6 = bus.reader(6);
  await cp.cmd(6, 0, 0x60);
  t.equal(await cp.handshake(6, 1, SCBK_DEFAULT, 0), 'ok');
  const newKey = randomBytes(16);
  const ks = await cp.secureCmd(6, 3, 0x75, Buffer.concat([Buffer.from([1, 16]), newKey]));
  t.equal(ks.reply.code, 0x40, 'KEYSET ACKed inside the session');
  t.same(r6.scbk, newKey);
  t.notOk(r6.installMode);
  t.notOk(r6.secureEstablished, 'session ends after KEYSET');
  const old = await cp.handshake(6, 1, SCBK_DEFAULT, 0);
  t.ok(typeof old === 'object' && old.code === 0x41, 'SCBK-D no longer accepted');
  t.equal(await cp.handshake(6, 2, newKey, 1), 'ok');
  t.ok(r6.secureEstablished);

  // KEYSET outside a session is refused.
  const plainKs = await cp.cmd(6, 0, 0x75, Buffer.concat([Buffer.from([1, 16]), newKey]));
  t.same([plainKs.code, plainKs.data[0]], [0x41, 0x06]);
});

t.test('over a pty: a bad server cryptogram gets RMAC_I with 0xFF', { skip: noSocat }, async (t) => {
  const { bus, cp } = await rig(t, [{ address: 7, scbk: KEY }]);
  await cp.cmd(7, 0, 0x60);
  const rndA = randomBytes(8);
  const cc = await cp.send(cpPacket(7, 1, 0x76, rndA, { scb: Buffer.from([3, 0x11, 1]) }));
  t.ok(cc && cc !== 'bad-crc' && cc.code === 0x76);
  t.same(cc && cc !== 'bad-crc' ? cc.scb : undefined, Buffer.from([3, 0x12, 1]));
  const r = await cp.send(cpPacket(7, 2, 0x77, randomBytes(16), { scb: Buffer.from([3, 0x13, 1]) }));
  t.ok(r && r !== 'bad-crc' && r.code === 0x78 && r.scb?.[2] === 0xff);
  t.notOk(bus.reader(7).secureEstablished);
  const sec = await cp.send(
    cpPacket(7, 3, 0x60, undefined, { scb: Buffer.from([2, 0x15]), mac: () => Buffer.alloc(16) }),
  );
  t.ok(
    sec && sec !== 'bad-crc' && sec.code === 0x41 && sec.data[0] === 0x06,
    'secure command without a session → NAK 6',
  );
});

t.test('over a pty: 4 KiB of line noise, then the reader still answers', { skip: noSocat }, async (t) => {
  const { bus, cp } = await rig(t, [{ address: 1 }]);
  let x = 0x2545f491;
  const noise = Buffer.alloc(4096);
  for (let i = 0; i < noise.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    noise[i] = i % 64 === 0 ? 0x53 : x >>> 24; // plenty of false starts
  }
  cp.port.write(noise);
  await new Promise((r) => setTimeout(r, 300)); // let the inter-character timeout give up on partial packets
  t.equal((await cp.cmd(1, 0, 0x60)).code, 0x40);
  t.ok(bus.garbageBytes > 0);
  t.same(bus.errors, []);
});

t.test('waitFor / waitForCommand / events', { skip: noSocat }, async (t) => {
  const { bus, cp } = await rig(t, [{ address: 1 }]);
  const r = bus.reader(1);
  const seen: string[] = [];
  r.on('command', (c: { name: string }) => seen.push(c.name));
  const waiting = r.waitForCommand(0x6a, 2000);
  await cp.cmd(1, 0, 0x60);
  await cp.cmd(1, 1, 0x6a, Buffer.from([0, 2, 1, 1, 1]));
  const c = await waiting;
  t.equal(c.name, 'osdp_BUZ');
  t.same(seen, ['osdp_POLL', 'osdp_BUZ']);
  await t.rejects(
    r.waitFor(() => false, 50),
    /not met within 50 ms/,
  );
  t.throws(() => bus.reader(99), /no simulated OSDP reader/);
  t.throws(() => r.presentCard('012'), /0\/1/);
});
