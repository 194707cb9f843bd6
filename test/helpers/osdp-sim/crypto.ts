/**
 * OSDP check characters and secure-channel cryptography, written from SIA OSDP v2.2 (section 5.x packet
 * format, Annex D secure channel) for the test simulator only. It deliberately shares nothing with
 * src/protocol/osdp so that the two implementations check each other.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';

/** SCBK-D: the default ("install mode") secure channel base key, 0x30..0x3F. */
export const SCBK_DEFAULT: Buffer = Buffer.from([
  0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f,
]);

/** CRC-16/AUG-CCITT as OSDP uses it: polynomial 0x1021, initial value 0x1D0F, no reflection, no xorout. */
export function crc16(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0x1d0f;
  for (let i = start; i < end; i++) {
    crc ^= (bytes[i] ?? 0) << 8;
    for (let b = 0; b < 8; b++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** 8-bit checksum: the two's complement of the byte sum, so that sum(packet incl. checksum) ≡ 0 mod 256. */
export function checksum8(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let sum = 0;
  for (let i = start; i < end; i++) sum = (sum + (bytes[i] ?? 0)) & 0xff;
  return (0x100 - sum) & 0xff;
}

/** One AES-128 block, ECB, no padding. */
export function aesEcb(key: Buffer, block: Buffer): Buffer {
  const c = createCipheriv('aes-128-ecb', key, null);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(block), c.final()]);
}

export function aesCbcEncrypt(key: Buffer, iv: Buffer, data: Buffer): Buffer {
  const c = createCipheriv('aes-128-cbc', key, iv);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(data), c.final()]);
}

export function aesCbcDecrypt(key: Buffer, iv: Buffer, data: Buffer): Buffer {
  const d = createDecipheriv('aes-128-cbc', key, iv);
  d.setAutoPadding(false);
  return Buffer.concat([d.update(data), d.final()]);
}

export interface SessionKeys {
  readonly sEnc: Buffer;
  readonly sMac1: Buffer;
  readonly sMac2: Buffer;
}

/**
 * Session keys (Annex D): each is AES-ECB(SCBK, [0x01, k, RND.A[0..5], 0 × 8]) with k = 0x82 for S-ENC,
 * 0x01 for S-MAC1 and 0x02 for S-MAC2.
 */
export function sessionKeys(scbk: Buffer, rndA: Buffer): SessionKeys {
  const derive = (k: number): Buffer => {
    const b = Buffer.alloc(16);
    b[0] = 0x01;
    b[1] = k;
    rndA.copy(b, 2, 0, 6);
    return aesEcb(scbk, b);
  };
  return { sEnc: derive(0x82), sMac1: derive(0x01), sMac2: derive(0x02) };
}

/** Client (PD) cryptogram, sent in osdp_CCRYPT: AES-ECB(S-ENC, RND.A ‖ RND.B). */
export function clientCryptogram(sEnc: Buffer, rndA: Buffer, rndB: Buffer): Buffer {
  return aesEcb(sEnc, Buffer.concat([rndA, rndB]));
}

/** Server (CP) cryptogram, sent in osdp_SCRYPT: AES-ECB(S-ENC, RND.B ‖ RND.A). */
export function serverCryptogram(sEnc: Buffer, rndA: Buffer, rndB: Buffer): Buffer {
  return aesEcb(sEnc, Buffer.concat([rndB, rndA]));
}

/** Initial R-MAC, sent in osdp_RMAC_I: AES-ECB(S-MAC2, AES-ECB(S-MAC1, server cryptogram)). */
export function initialRmac(keys: SessionKeys, serverCrypt: Buffer): Buffer {
  return aesEcb(keys.sMac2, aesEcb(keys.sMac1, serverCrypt));
}

/**
 * The 16-byte MAC of a message (SOM through the last data byte, LEN already counting MAC and check
 * characters). The message is padded with 0x80 0x00… to a block multiple when it is not one already;
 * blocks 1..N-1 are chained AES-CBC under S-MAC1 from `iv`, block N is encrypted under S-MAC2. `iv` is
 * the last MAC of the other direction (R-MAC for a command, C-MAC for a reply; RMAC_I for the first
 * command). The first 4 bytes go on the wire; all 16 are the next IV.
 */
export function computeMac(keys: Pick<SessionKeys, 'sMac1' | 'sMac2'>, iv: Buffer, message: Buffer): Buffer {
  let data = message;
  if (data.length === 0 || data.length % 16 !== 0) {
    const padded = Buffer.alloc(Math.ceil((data.length + 1) / 16) * 16);
    data.copy(padded);
    padded[data.length] = 0x80;
    data = padded;
  }
  let chain = iv;
  if (data.length > 16) {
    const head = aesCbcEncrypt(keys.sMac1, iv, data.subarray(0, data.length - 16));
    chain = head.subarray(head.length - 16);
  }
  return aesCbcEncrypt(keys.sMac2, chain, data.subarray(data.length - 16));
}

const invert = (b: Buffer): Buffer => Buffer.from(b.map((x) => ~x & 0xff));

/**
 * Encrypts a message's DATA field (SCS_17/SCS_18): 0x80 then 0x00… appended up to a block multiple
 * (always at least the 0x80), AES-CBC under S-ENC with IV = bitwise NOT of `lastMacOtherSide`
 * (the R-MAC for a command, the C-MAC of the command being answered for a reply).
 */
export function encryptData(sEnc: Buffer, lastMacOtherSide: Buffer, data: Buffer): Buffer {
  const padded = Buffer.alloc(Math.ceil((data.length + 1) / 16) * 16);
  data.copy(padded);
  padded[data.length] = 0x80;
  return aesCbcEncrypt(sEnc, invert(lastMacOtherSide), padded);
}

/** Reverses encryptData; undefined when the length is not a block multiple or the 0x80 marker is missing. */
export function decryptData(sEnc: Buffer, lastMacOtherSide: Buffer, data: Buffer): Buffer | undefined {
  if (data.length === 0 || data.length % 16 !== 0) return undefined;
  const plain = aesCbcDecrypt(sEnc, invert(lastMacOtherSide), data);
  let end = plain.length - 1;
  while (end >= 0 && plain[end] === 0x00) end--;
  if (end < 0 || plain[end] !== 0x80) return undefined;
  return plain.subarray(0, end);
}
