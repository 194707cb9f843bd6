/**
 * The OSDP secure channel, control-panel side (SIA OSDP v2.2 Annex D; test vectors in Annex E).
 *
 * - Session keys (D.3): S-ENC, S-MAC1, S-MAC2 = AES-128(SCBK, 01 82|01|02 RND.A[0..5] 00×8).
 * - Cryptograms (D.4): client (the reader's, in CCRYPT) = AES(S-ENC, RND.A‖RND.B); server (ours, in SCRYPT)
 *   = AES(S-ENC, RND.B‖RND.A). Initial R-MAC (RMAC_I) = AES(S-MAC2, AES(S-MAC1, server cryptogram)).
 * - MAC (D.5): AES-CBC over SOM..end of data, padded with 0x80 00… when not a whole number of blocks; every
 *   block but the last under S-MAC1, the last under S-MAC2; IV = the other side's last MAC (a command is
 *   chained to the last reply's R-MAC, a reply to its command's C-MAC). The first 4 bytes are sent.
 * - Data (D.6): AES-CBC under S-ENC, IV = the ones' complement of the other side's last MAC, always padded
 *   with 0x80 00… to a whole number of blocks.
 *
 * Pure: the AES block cipher is passed in (node:crypto lives in the adapter), so this file has no I/O.
 */
import { buildPacket, hasMac, SCS, type OsdpPacket, type PacketFields } from './packet.js';

/** One AES-128 block operation (ECB on 16 bytes). */
export interface Aes128 {
  encryptBlock(key: Uint8Array, block: Uint8Array): Uint8Array;
  decryptBlock(key: Uint8Array, block: Uint8Array): Uint8Array;
}

/** SCBK-D, the well-known install key (D.2): 0x30..0x3F. Only for installing a reader's own key. */
export const SCBK_D: Uint8Array = Uint8Array.from({ length: 16 }, (_, i) => 0x30 + i);

/** Security block key-type byte of CHLNG / CCRYPT / SCRYPT (D.1.1). */
export const SCB_KEY = { scbkD: 0x00, scbk: 0x01 } as const;

export interface SessionKeys {
  readonly enc: Uint8Array;
  readonly mac1: Uint8Array;
  readonly mac2: Uint8Array;
}

const BLOCK = 16;

function xorInto(target: Uint8Array, other: Uint8Array): void {
  for (let i = 0; i < target.length; i++) target[i] = (target[i] ?? 0) ^ (other[i] ?? 0);
}

function check(what: string, bytes: Uint8Array, length: number): void {
  if (bytes.length !== length) throw new RangeError(`${what} must be ${length} bytes, got ${bytes.length}`);
}

export function deriveSessionKeys(aes: Aes128, scbk: Uint8Array, rndA: Uint8Array): SessionKeys {
  check('SCBK', scbk, 16);
  check('RND.A', rndA, 8);
  const derive = (second: number): Uint8Array => {
    const block = new Uint8Array(BLOCK);
    block[0] = 0x01;
    block[1] = second;
    block.set(rndA.subarray(0, 6), 2);
    return aes.encryptBlock(scbk, block);
  };
  return { enc: derive(0x82), mac1: derive(0x01), mac2: derive(0x02) };
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** The reader's cryptogram (in CCRYPT): AES(S-ENC, RND.A ‖ RND.B). */
export function clientCryptogram(
  aes: Aes128,
  keys: SessionKeys,
  rndA: Uint8Array,
  rndB: Uint8Array,
): Uint8Array {
  return aes.encryptBlock(keys.enc, concat(rndA, rndB));
}

/** The panel's cryptogram (in SCRYPT): AES(S-ENC, RND.B ‖ RND.A). */
export function serverCryptogram(
  aes: Aes128,
  keys: SessionKeys,
  rndA: Uint8Array,
  rndB: Uint8Array,
): Uint8Array {
  return aes.encryptBlock(keys.enc, concat(rndB, rndA));
}

export function initialRmac(aes: Aes128, keys: SessionKeys, serverCrypt: Uint8Array): Uint8Array {
  return aes.encryptBlock(keys.mac2, aes.encryptBlock(keys.mac1, serverCrypt));
}

/** The full 16-byte MAC of `message` chained on `iv` (the first 4 bytes go on the wire). */
export function computeMac(aes: Aes128, keys: SessionKeys, iv: Uint8Array, message: Uint8Array): Uint8Array {
  const padded =
    message.length % BLOCK === 0 && message.length > 0
      ? message.length
      : (Math.floor(message.length / BLOCK) + 1) * BLOCK;
  const buf = new Uint8Array(padded);
  buf.set(message);
  if (padded !== message.length) buf[message.length] = 0x80;
  let chain: Uint8Array = iv.slice();
  for (let at = 0; at < padded; at += BLOCK) {
    const block = buf.slice(at, at + BLOCK);
    xorInto(block, chain);
    chain = aes.encryptBlock(at + BLOCK < padded ? keys.mac1 : keys.mac2, block);
  }
  return chain;
}

function complement(bytes: Uint8Array): Uint8Array {
  return bytes.map((b) => ~b & 0xff);
}

/** Encrypts a data block: pad 0x80 00…, AES-CBC under S-ENC with IV = ~lastMac. */
export function encryptData(
  aes: Aes128,
  keys: SessionKeys,
  lastMac: Uint8Array,
  data: Uint8Array,
): Uint8Array {
  const padded = (Math.floor(data.length / BLOCK) + 1) * BLOCK;
  const buf = new Uint8Array(padded);
  buf.set(data);
  buf[data.length] = 0x80;
  let chain = complement(lastMac);
  for (let at = 0; at < padded; at += BLOCK) {
    const block = buf.subarray(at, at + BLOCK);
    xorInto(block, chain);
    chain = aes.encryptBlock(keys.enc, block);
    buf.set(chain, at);
  }
  return buf;
}

/** Decrypts a data block; null when it is not whole blocks or its padding is not 0x80 00…. */
export function decryptData(
  aes: Aes128,
  keys: SessionKeys,
  lastMac: Uint8Array,
  data: Uint8Array,
): Uint8Array | null {
  if (data.length === 0 || data.length % BLOCK !== 0) return null;
  const out = new Uint8Array(data.length);
  let chain = complement(lastMac);
  for (let at = 0; at < data.length; at += BLOCK) {
    const cipher = data.slice(at, at + BLOCK);
    const plain = aes.decryptBlock(keys.enc, cipher);
    xorInto(plain, chain);
    out.set(plain, at);
    chain = cipher;
  }
  let end = out.length - 1;
  while (end >= 0 && out[end] === 0) end--;
  if (end < 0 || out[end] !== 0x80 || out.length - end > BLOCK) return null;
  return out.slice(0, end);
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

export type OpenResult =
  | { readonly ok: true; readonly code: number; readonly data: Uint8Array }
  | { readonly ok: false; readonly reason: string };

/**
 * One secure-channel session with one reader, from the panel's side: the handshake (CHLNG → CCRYPT →
 * SCRYPT → RMAC_I), then sealing commands and opening replies with the MAC chain.
 */
export class CpSecureSession {
  readonly keys: SessionKeys;
  private cmac: Uint8Array = new Uint8Array(BLOCK);
  private rmac: Uint8Array = new Uint8Array(BLOCK);
  private serverCrypt: Uint8Array | undefined;
  private ready = false;

  constructor(
    private readonly aes: Aes128,
    scbk: Uint8Array,
    readonly rndA: Uint8Array,
    /** SCB_KEY.scbk or SCB_KEY.scbkD: which key the CHLNG announces. */
    readonly keyType: number,
  ) {
    this.keys = deriveSessionKeys(aes, scbk, rndA);
  }

  get established(): boolean {
    return this.ready;
  }

  /** The security block of CHLNG / SCRYPT. */
  handshakeScb(type: typeof SCS.chlng | typeof SCS.scrypt): Uint8Array {
    return Uint8Array.of(3, type, this.keyType);
  }

  /**
   * Checks the reader's CCRYPT: the client cryptogram proves it holds the same key. Returns the server
   * cryptogram to send in SCRYPT, or null when the reader's cryptogram is wrong (another key).
   */
  acceptCcrypt(rndB: Uint8Array, cryptogram: Uint8Array): Uint8Array | null {
    if (!equalBytes(clientCryptogram(this.aes, this.keys, this.rndA, rndB), cryptogram)) return null;
    this.serverCrypt = serverCryptogram(this.aes, this.keys, this.rndA, rndB);
    return this.serverCrypt;
  }

  /** Checks RMAC_I; on success the channel is up and the chain starts from it. */
  acceptRmacI(rmac: Uint8Array): boolean {
    if (this.serverCrypt === undefined) return false;
    if (!equalBytes(initialRmac(this.aes, this.keys, this.serverCrypt), rmac)) return false;
    this.rmac = rmac.slice();
    this.ready = true;
    return true;
  }

  /** Builds a command packet under the channel: SCS_15 (no data) or SCS_17 (encrypted data), MAC chained. */
  seal(fields: Omit<PacketFields, 'scb' | 'reply'>): Uint8Array {
    if (!this.ready) throw new Error('secure channel not established');
    const plain = fields.data ?? new Uint8Array(0);
    const encrypted = plain.length > 0;
    const data = encrypted ? encryptData(this.aes, this.keys, this.rmac, plain) : plain;
    const scb = Uint8Array.of(2, encrypted ? SCS.cmdEnc : SCS.cmdMac);
    return buildPacket({ ...fields, reply: false, scb, data }, (input) => {
      this.cmac = computeMac(this.aes, this.keys, this.rmac, input);
      return this.cmac;
    });
  }

  /** Verifies a reply's MAC against the chain and decrypts its data. A failure ends the session. */
  open(packet: OsdpPacket): OpenResult {
    if (!this.ready) return { ok: false, reason: 'secure channel not established' };
    const type = packet.scb?.[1];
    if (type !== SCS.replyMac && type !== SCS.replyEnc) {
      this.ready = false;
      return {
        ok: false,
        reason:
          type === undefined
            ? 'reply without security block'
            : `reply with security block type 0x${type.toString(16)}`,
      };
    }
    if (!hasMac(packet.scb) || packet.mac === null) {
      this.ready = false;
      return { ok: false, reason: 'reply without MAC' };
    }
    const mac = computeMac(this.aes, this.keys, this.cmac, packet.macInput);
    if (!equalBytes(mac.subarray(0, packet.mac.length), packet.mac)) {
      this.ready = false;
      return { ok: false, reason: 'reply MAC does not verify' };
    }
    let data = packet.data;
    if (type === SCS.replyEnc) {
      const plain = decryptData(this.aes, this.keys, this.cmac, packet.data);
      if (plain === null) {
        this.ready = false;
        return { ok: false, reason: 'reply data does not decrypt' };
      }
      data = plain;
    }
    this.rmac = mac;
    return { ok: true, code: packet.code, data };
  }
}
