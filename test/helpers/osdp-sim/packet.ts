/**
 * OSDP packet layer for the test simulator (SIA OSDP v2.2 section 5): framing, check characters and a
 * byte-stream deframer that resynchronises after garbage. Independent of src/.
 *
 *   [0xFF mark]? SOM(0x53) ADDR LEN_LSB LEN_MSB CTRL [SCB: len type data…] CODE DATA… [MAC×4] CRC_LSB CRC_MSB
 *                                                                                           | or CKSUM
 * CTRL: bits 0-1 sequence number, bit 2 set = CRC-16 (clear = 8-bit checksum), bit 3 set = SCB present.
 * LEN counts the whole packet from SOM through the last check character (not the 0xFF mark).
 */
import { checksum8, crc16 } from './crypto.js';

export const SOM = 0x53;
export const MARK = 0xff;
export const BROADCAST = 0x7f;
export const CTRL_SQN = 0x03;
export const CTRL_CRC = 0x04;
export const CTRL_SCB = 0x08;
/** The largest packet we accept (v2.2 section 5.6: 1440 bytes). Longer LEN fields are garbage. */
export const MAX_PACKET = 1440;

export const Cmd = {
  POLL: 0x60,
  ID: 0x61,
  CAP: 0x62,
  LSTAT: 0x64,
  ISTAT: 0x65,
  OSTAT: 0x66,
  RSTAT: 0x67,
  OUT: 0x68,
  LED: 0x69,
  BUZ: 0x6a,
  TEXT: 0x6b,
  COMSET: 0x6e,
  KEYSET: 0x75,
  CHLNG: 0x76,
  SCRYPT: 0x77,
  ACURXSIZE: 0x7b,
  KEEPACTIVE: 0xa7,
} as const;

export const Reply = {
  ACK: 0x40,
  NAK: 0x41,
  PDID: 0x45,
  PDCAP: 0x46,
  LSTATR: 0x48,
  ISTATR: 0x49,
  OSTATR: 0x4a,
  RSTATR: 0x4b,
  RAW: 0x50,
  KEYPAD: 0x53,
  COM: 0x54,
  CCRYPT: 0x76,
  RMAC_I: 0x78,
  BUSY: 0x79,
} as const;

/** osdp_NAK error codes (v2.2 table "osdp_NAK error codes"). */
export const Nak = {
  CHECK_CHARACTER: 0x01,
  COMMAND_LENGTH: 0x02,
  UNKNOWN_COMMAND: 0x03,
  SEQUENCE: 0x04,
  SECURITY_BLOCK_UNSUPPORTED: 0x05,
  SECURITY_CONDITIONS: 0x06,
  BIO_TYPE: 0x07,
  BIO_FORMAT: 0x08,
  UNABLE_TO_PROCESS: 0x09,
} as const;

/** Security block types. */
export const Scs = {
  S11: 0x11,
  S12: 0x12,
  S13: 0x13,
  S14: 0x14,
  S15: 0x15,
  S16: 0x16,
  S17: 0x17,
  S18: 0x18,
} as const;

const names = new Map<number, string>();
for (const [k, v] of Object.entries(Cmd)) names.set(v, `osdp_${k}`);
const replyNames = new Map<number, string>();
for (const [k, v] of Object.entries(Reply)) replyNames.set(v, `osdp_${k}`);

export function commandName(code: number): string {
  return names.get(code) ?? `0x${code.toString(16).padStart(2, '0')}`;
}
export function replyName(code: number): string {
  return replyNames.get(code) ?? `0x${code.toString(16).padStart(2, '0')}`;
}

/** A whole packet as it came off the wire, check characters verified (or not: see `checkOk`). */
export interface RawPacket {
  /** Bytes from SOM through the last check character. */
  readonly bytes: Buffer;
  /** A 0xFF mark byte came right before SOM. */
  readonly marked: boolean;
  readonly addr: number;
  readonly ctrl: number;
  readonly seq: number;
  readonly crc: boolean;
  readonly checkOk: boolean;
  /** Starts inside the bytes of an earlier packet that failed its check (found while resyncing). */
  readonly resync: boolean;
}

/** Structured view of a packet whose check characters were good. */
export interface ParsedPacket {
  readonly scb: { readonly type: number; readonly data: Buffer } | undefined;
  readonly code: number;
  /** DATA as on the wire (still encrypted under SCS_17/18). */
  readonly data: Buffer;
  /** 4 MAC bytes when the SCB type is SCS_15..SCS_18. */
  readonly mac: Buffer | undefined;
  /** Offset of the MAC (= length of the MAC'd part) within bytes. */
  readonly macOffset: number;
}

/** Splits a checked packet into its fields; undefined when the inner lengths do not add up. */
export function parsePacket(p: RawPacket): ParsedPacket | undefined {
  const b = p.bytes;
  const end = b.length - (p.crc ? 2 : 1);
  let pos = 5;
  let scb: ParsedPacket['scb'];
  if (p.ctrl & CTRL_SCB) {
    const len = b[pos];
    if (len === undefined || len < 2 || pos + len > end) return undefined;
    scb = { type: b[pos + 1] ?? 0, data: Buffer.from(b.subarray(pos + 2, pos + len)) };
    pos += len;
  }
  const hasMac = scb !== undefined && scb.type >= Scs.S15 && scb.type <= Scs.S18;
  const macOffset = hasMac ? end - 4 : end;
  if (pos >= macOffset) return undefined;
  const code = b[pos] ?? 0;
  return {
    scb,
    code,
    data: Buffer.from(b.subarray(pos + 1, macOffset)),
    mac: hasMac ? Buffer.from(b.subarray(macOffset, end)) : undefined,
    macOffset,
  };
}

export interface BuildOptions {
  readonly addr: number;
  readonly seq: number;
  readonly crc: boolean;
  readonly scb?: { readonly type: number; readonly data?: Buffer } | undefined;
  readonly code: number;
  readonly data?: Buffer | undefined;
  /** Computes the 16-byte MAC over the packet so far (its first 4 bytes are appended). */
  readonly mac?: ((macced: Buffer) => Buffer) | undefined;
}

/** Builds one packet (without the 0xFF mark). */
export function buildPacket(o: BuildOptions): { bytes: Buffer; mac: Buffer | undefined } {
  const scb = o.scb
    ? Buffer.from([2 + (o.scb.data?.length ?? 0), o.scb.type, ...(o.scb.data ?? [])])
    : Buffer.alloc(0);
  const data = o.data ?? Buffer.alloc(0);
  const macLen = o.mac ? 4 : 0;
  const checkLen = o.crc ? 2 : 1;
  const total = 5 + scb.length + 1 + data.length + macLen + checkLen;
  const b = Buffer.alloc(total);
  b[0] = SOM;
  b[1] = o.addr & 0xff;
  b.writeUInt16LE(total, 2);
  b[4] = (o.seq & CTRL_SQN) | (o.crc ? CTRL_CRC : 0) | (o.scb ? CTRL_SCB : 0);
  scb.copy(b, 5);
  b[5 + scb.length] = o.code;
  data.copy(b, 6 + scb.length);
  let pos = 6 + scb.length + data.length;
  let mac: Buffer | undefined;
  if (o.mac) {
    mac = o.mac(b.subarray(0, pos));
    mac.copy(b, pos, 0, 4);
    pos += 4;
  }
  if (o.crc) b.writeUInt16LE(crc16(b, 0, pos), pos);
  else b[pos] = checksum8(b, 0, pos);
  return { bytes: b, mac };
}

/**
 * Byte-stream deframer. push() returns every packet completed by the chunk, including those whose
 * check characters fail (checkOk false) so the caller can NAK them; bytes that cannot start a packet are
 * skipped. After a check-character failure only the SOM is consumed and the scan restarts one byte
 * later, so a real packet hidden behind garbage is still found. flushStale() drops a partial packet
 * that stopped arriving (the inter-character timeout).
 */
export class Deframer {
  private buf = Buffer.alloc(0);
  /** Stream offset of buf[0], and the end of the last packet that failed its check. */
  private base = 0;
  private shadowEnd = 0;
  /** Bytes discarded while hunting for a SOM. */
  skipped = 0;

  private consume(n: number): void {
    this.buf = this.buf.subarray(n);
    this.base += n;
  }

  push(chunk: Buffer): RawPacket[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : Buffer.from(chunk);
    return this.drain();
  }

  get pending(): number {
    return this.buf.length;
  }

  /** Gives up on a partial packet: drops its first byte and rescans what follows. */
  flushStale(): RawPacket[] {
    if (this.buf.length === 0) return [];
    this.consume(1);
    this.skipped++;
    return this.drain();
  }

  private drain(): RawPacket[] {
    const out: RawPacket[] = [];
    for (;;) {
      const som = this.buf.indexOf(SOM);
      if (som < 0) {
        // Keep a trailing mark byte: it may precede a SOM in the next chunk.
        const keep = this.buf.length > 0 && this.buf[this.buf.length - 1] === MARK ? 1 : 0;
        this.skipped += this.buf.length - keep;
        this.consume(this.buf.length - keep);
        return out;
      }
      const marked = som > 0 && this.buf[som - 1] === MARK;
      this.skipped += som - (marked ? 1 : 0);
      this.consume(marked ? som - 1 : som);
      const o = marked ? 1 : 0;
      if (this.buf.length < o + 5) return out;
      const len = this.buf.readUInt16LE(o + 2);
      const ctrl = this.buf[o + 4] ?? 0;
      const crc = (ctrl & CTRL_CRC) !== 0;
      if (len < (crc ? 8 : 7) || len > MAX_PACKET) {
        this.consume(o + 1);
        this.skipped += o + 1;
        continue;
      }
      if (this.buf.length < o + len) return out;
      const bytes = Buffer.from(this.buf.subarray(o, o + len));
      const checkOk = crc
        ? crc16(bytes, 0, len - 2) === bytes.readUInt16LE(len - 2)
        : checksum8(bytes, 0, len - 1) === bytes[len - 1];
      out.push({
        bytes,
        marked,
        addr: bytes[1] ?? 0,
        ctrl,
        seq: ctrl & CTRL_SQN,
        crc,
        checkOk,
        resync: this.base + o < this.shadowEnd,
      });
      if (!checkOk) this.shadowEnd = Math.max(this.shadowEnd, this.base + o + len);
      this.consume(checkOk ? o + len : o + 1);
    }
  }
}
