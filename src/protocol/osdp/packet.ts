/**
 * OSDP packets (SIA OSDP v2.2 §5, IEC 60839-11-5): building them and finding them in a byte stream.
 *
 * ```
 * SOM 0x53 | ADDR | LEN lsb msb | CTRL | [SCB: len type data…] | CODE | DATA… | [MAC 4] | CRC lsb msb / CKSUM
 * ```
 * - ADDR: the reader's address 0–126 (0x7F broadcast); bit 7 set on replies (§5.2).
 * - LEN: the whole packet, SOM to the last check byte, little-endian (§5.3).
 * - CTRL (§5.4): bits 0–1 sequence number, bit 2 set = CRC-16 (clear = 8-bit checksum), bit 3 set = a security
 *   control block follows.
 * - SCB (§5.5, Annex D): length (counting itself), type (0x11–0x18), data. Types 0x15–0x18 add a 4-byte MAC
 *   after the data.
 *
 * Pure: no I/O. The parser accounts for every byte: what is not a packet is reported as discarded.
 */
import { osdpChecksum, osdpCrc16 } from './check.js';

export const SOM = 0x53;
export const REPLY_BIT = 0x80;
export const BROADCAST = 0x7f;
const CTRL_SQN = 0x03;
const CTRL_CRC = 0x04;
const CTRL_SCB = 0x08;
/** SOM, address, length, control. */
export const HEADER_LENGTH = 5;
/** Largest packet this parser accepts (the spec leaves it to the devices; 1440 is a common PDCAP limit). */
export const MAX_PACKET = 1440;
export const MAC_LENGTH = 4;

/** Security block types (Annex D.1). */
export const SCS = {
  chlng: 0x11,
  ccrypt: 0x12,
  scrypt: 0x13,
  rmacI: 0x14,
  /** Command, MAC only (no data, or data not encrypted). */
  cmdMac: 0x15,
  replyMac: 0x16,
  /** Command, MAC and encrypted data. */
  cmdEnc: 0x17,
  replyEnc: 0x18,
} as const;

/** A packet as found on the wire. `data` is as sent (still encrypted under SCS 0x17 / 0x18). */
export interface OsdpPacket {
  readonly address: number;
  readonly reply: boolean;
  readonly sqn: number;
  readonly crc: boolean;
  /** The security control block, length and type bytes included; null when CTRL bit 3 is clear. */
  readonly scb: Uint8Array | null;
  readonly code: number;
  readonly data: Uint8Array;
  /** The 4 MAC bytes (SCS 0x15–0x18), else null. */
  readonly mac: Uint8Array | null;
  /** The bytes the MAC covers: SOM through the end of the data. */
  readonly macInput: Uint8Array;
}

export interface PacketFields {
  readonly address: number;
  readonly reply: boolean;
  readonly sqn: number;
  readonly crc: boolean;
  readonly scb?: Uint8Array | null;
  readonly code: number;
  readonly data?: Uint8Array;
}

export function hasMac(scb: Uint8Array | null): boolean {
  const type = scb?.[1];
  return type !== undefined && type >= SCS.cmdMac && type <= SCS.replyEnc;
}

/**
 * Builds a packet. `mac`, when given, computes the MAC over SOM..end of data (the length field already counts
 * the MAC and check bytes) and returns at least 4 bytes, of which the first 4 are sent.
 */
export function buildPacket(fields: PacketFields, mac?: (macInput: Uint8Array) => Uint8Array): Uint8Array {
  const { address, reply, sqn, crc, code } = fields;
  if (!Number.isInteger(address) || address < 0 || address > BROADCAST)
    throw new RangeError(`OSDP address must be 0-127, got ${address}`);
  if (!Number.isInteger(sqn) || sqn < 0 || sqn > 3) throw new RangeError(`sequence must be 0-3, got ${sqn}`);
  const scb = fields.scb ?? null;
  const data = fields.data ?? new Uint8Array(0);
  const macLength = mac !== undefined ? MAC_LENGTH : 0;
  if (hasMac(scb) !== (mac !== undefined))
    throw new RangeError('a MAC is sent exactly with security block types 0x15-0x18');
  const scbLength = scb?.length ?? 0;
  const checkLength = crc ? 2 : 1;
  const length = HEADER_LENGTH + scbLength + 1 + data.length + macLength + checkLength;
  if (length > MAX_PACKET) throw new RangeError(`OSDP packet of ${length} bytes exceeds ${MAX_PACKET}`);
  const out = new Uint8Array(length);
  out[0] = SOM;
  out[1] = address | (reply ? REPLY_BIT : 0);
  out[2] = length & 0xff;
  out[3] = length >> 8;
  out[4] = sqn | (crc ? CTRL_CRC : 0) | (scb !== null ? CTRL_SCB : 0);
  let at = HEADER_LENGTH;
  if (scb !== null) {
    out.set(scb, at);
    at += scb.length;
  }
  out[at++] = code;
  out.set(data, at);
  at += data.length;
  if (mac !== undefined) {
    out.set(mac(out.subarray(0, at)).subarray(0, MAC_LENGTH), at);
    at += MAC_LENGTH;
  }
  if (crc) {
    const c = osdpCrc16(out, 0, at);
    out[at] = c & 0xff;
    out[at + 1] = c >> 8;
  } else out[at] = osdpChecksum(out, 0, at);
  return out;
}

export type DiscardReason =
  /** Bytes before a SOM (line noise, or the tail of a packet that could not be framed). */
  | 'garbage'
  /** A SOM whose length field is impossible (below the minimum, or above MAX_PACKET). */
  | 'bad_length'
  /** A whole packet whose CRC or checksum does not match. */
  | 'bad_check'
  /** A packet whose security block does not fit its length. */
  | 'bad_scb'
  /** A partial packet dropped by flush() (a reply timeout: its tail will not come). */
  | 'truncated';

export type ParseResult =
  | { readonly kind: 'packet'; readonly packet: OsdpPacket; readonly raw: Uint8Array }
  | { readonly kind: 'discarded'; readonly reason: DiscardReason; readonly length: number };

/**
 * Finds packets in a byte stream fed in arbitrary chunks. After anything that is not a packet it resyncs on
 * the next SOM: a bad packet costs its first byte, so a real packet that starts inside it is still found.
 */
export class PacketParser {
  private buffer = new Uint8Array(256);
  private fill = 0;

  /** Bytes held: a packet in progress. */
  get pending(): number {
    return this.fill;
  }

  push(chunk: Uint8Array): ParseResult[] {
    if (this.fill + chunk.length > this.buffer.length) {
      const bigger = new Uint8Array(Math.max(this.buffer.length * 2, this.fill + chunk.length));
      bigger.set(this.buffer.subarray(0, this.fill));
      this.buffer = bigger;
    }
    this.buffer.set(chunk, this.fill);
    this.fill += chunk.length;
    const results: ParseResult[] = [];
    let start = 0;
    for (;;) {
      const step = this.step(start, results);
      if (step === start) break;
      start = step;
    }
    // Keep the unconsumed tail at the front.
    this.buffer.copyWithin(0, start, this.fill);
    this.fill -= start;
    return results;
  }

  /** Drops a partial packet (e.g. after a reply timeout): its bytes are reported as 'truncated'. */
  flush(): ParseResult[] {
    if (this.fill === 0) return [];
    const length = this.fill;
    this.fill = 0;
    return [{ kind: 'discarded', reason: 'truncated', length }];
  }

  /** Tries to consume from `start`; returns the new start (unchanged: need more bytes). */
  private step(start: number, results: ParseResult[]): number {
    const buf = this.buffer;
    const end = this.fill;
    if (start >= end) return start;
    if (buf[start] !== SOM) {
      let som = buf.indexOf(SOM, start);
      if (som === -1 || som >= end) som = end;
      results.push({ kind: 'discarded', reason: 'garbage', length: som - start });
      return som;
    }
    if (end - start < HEADER_LENGTH) return start;
    const length = (buf[start + 2] ?? 0) | ((buf[start + 3] ?? 0) << 8);
    const ctrl = buf[start + 4] ?? 0;
    const crc = (ctrl & CTRL_CRC) !== 0;
    const minimum = HEADER_LENGTH + 1 + (crc ? 2 : 1);
    if (length < minimum || length > MAX_PACKET) {
      results.push({ kind: 'discarded', reason: 'bad_length', length: 1 });
      return start + 1;
    }
    if (end - start < length) return start;
    const raw = buf.slice(start, start + length);
    const bodyEnd = length - (crc ? 2 : 1);
    const ok = crc
      ? osdpCrc16(raw, 0, bodyEnd) === ((raw[bodyEnd] ?? 0) | ((raw[bodyEnd + 1] ?? 0) << 8))
      : osdpChecksum(raw, 0, bodyEnd) === raw[bodyEnd];
    if (!ok) {
      results.push({ kind: 'discarded', reason: 'bad_check', length: 1 });
      return start + 1;
    }
    const packet = decodeBody(raw, bodyEnd, ctrl);
    if (packet === undefined) {
      results.push({ kind: 'discarded', reason: 'bad_scb', length: 1 });
      return start + 1;
    }
    results.push({ kind: 'packet', packet, raw });
    return start + length;
  }
}

function decodeBody(raw: Uint8Array, bodyEnd: number, ctrl: number): OsdpPacket | undefined {
  let at = HEADER_LENGTH;
  let scb: Uint8Array | null = null;
  if ((ctrl & CTRL_SCB) !== 0) {
    const scbLength = raw[at] ?? 0;
    if (scbLength < 2 || at + scbLength >= bodyEnd) return undefined;
    scb = raw.slice(at, at + scbLength);
    at += scbLength;
  }
  const macLength = hasMac(scb) ? MAC_LENGTH : 0;
  const dataEnd = bodyEnd - macLength;
  if (at >= dataEnd) return undefined; // no room for the code byte
  const address = raw[1] ?? 0;
  return {
    address: address & 0x7f,
    reply: (address & REPLY_BIT) !== 0,
    sqn: ctrl & CTRL_SQN,
    crc: (ctrl & CTRL_CRC) !== 0,
    scb,
    code: raw[at] ?? 0,
    data: raw.slice(at + 1, dataEnd),
    mac: macLength > 0 ? raw.slice(dataEnd, bodyEnd) : null,
    macInput: raw.slice(0, dataEnd),
  };
}

/** The sequence number after `sqn`: 0 is used only to (re)start a session, then 1, 2, 3, 1, 2, 3… (§5.4). */
export function nextSqn(sqn: number): number {
  return sqn >= 3 ? 1 : sqn + 1;
}
