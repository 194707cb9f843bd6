/**
 * OSDP command and reply codes and their data (SIA OSDP v2.2 §6 commands, §7 replies). Encoders for what the
 * control panel sends, decoders for what readers answer. Decoders never throw: a reply whose data does not
 * fit its code is `{ kind: 'malformed' }`.
 */

/** Commands (§6, Table 6). */
export const CMD = {
  POLL: 0x60,
  ID: 0x61,
  CAP: 0x62,
  LSTAT: 0x64,
  ISTAT: 0x65,
  OSTAT: 0x66,
  OUT: 0x68,
  LED: 0x69,
  BUZ: 0x6a,
  COMSET: 0x6e,
  KEYSET: 0x75,
  CHLNG: 0x76,
  SCRYPT: 0x77,
} as const;

/** Replies (§7, Table 7). */
export const REPLY = {
  ACK: 0x40,
  NAK: 0x41,
  PDID: 0x45,
  PDCAP: 0x46,
  LSTATR: 0x48,
  ISTATR: 0x49,
  OSTATR: 0x4a,
  RAW: 0x50,
  FMT: 0x51,
  KEYPAD: 0x53,
  COM: 0x54,
  CCRYPT: 0x76,
  RMAC_I: 0x78,
  BUSY: 0x79,
} as const;

/** osdp_NAK error codes (§7.3, Table 47). */
export const NAK = {
  none: 0x00,
  checkCharacter: 0x01,
  commandLength: 0x02,
  unknownCommand: 0x03,
  sequenceNumber: 0x04,
  securityBlock: 0x05,
  encryptionRequired: 0x06,
  bioType: 0x07,
  bioFormat: 0x08,
  unableToProcess: 0x09,
} as const;

const NAK_TEXT: Readonly<Record<number, string>> = {
  0: 'no error',
  1: 'message check character error',
  2: 'command length error',
  3: 'unknown command code',
  4: 'unexpected sequence number',
  5: 'security block not supported / security conditions not met',
  6: 'encrypted communication required',
  7: 'biometric type not supported',
  8: 'biometric format not supported',
  9: 'unable to process command record',
};

export function nakText(code: number): string {
  return NAK_TEXT[code] ?? `error code 0x${code.toString(16).padStart(2, '0')}`;
}

/** LED colours (§6.10, Table 23). */
export const LED_COLOR = {
  black: 0,
  red: 1,
  green: 2,
  amber: 3,
  blue: 4,
  magenta: 5,
  cyan: 6,
  white: 7,
} as const;
export type LedColor = (typeof LED_COLOR)[keyof typeof LED_COLOR];

/** osdp_OUT control codes (§6.9, Table 21). */
export const OUT_CONTROL = {
  nop: 0,
  offAbortTimed: 1,
  onAbortTimed: 2,
  offAllowTimed: 3,
  onAllowTimed: 4,
  temporaryOnTimed: 5,
  temporaryOffTimed: 6,
} as const;

/** osdp_KEYSET key type: the secure channel base key (§6.16). */
export const KEY_TYPE_SCBK = 0x01;

function u16le(v: number): [number, number] {
  return [v & 0xff, (v >> 8) & 0xff];
}

/** Time in the spec's 100 ms units, clamped to what the field holds. */
function units100(ms: number, max: number): number {
  return Math.max(0, Math.min(max, Math.round(ms / 100)));
}

/** osdp_ID / osdp_CAP take one byte, the report type, always 0. */
export function encodeIdRequest(): Uint8Array {
  return Uint8Array.of(0);
}

export interface OutputCommand {
  readonly output: number;
  readonly control: number;
  /** For timed control codes: how long, in ms (sent in 100 ms units, at most 65535). */
  readonly ms?: number;
}

/** osdp_OUT (§6.9): 4 bytes per output: number, control code, timer lsb, msb (100 ms units). */
export function encodeOut(commands: readonly OutputCommand[]): Uint8Array {
  const out: number[] = [];
  for (const c of commands) out.push(c.output & 0xff, c.control, ...u16le(units100(c.ms ?? 0, 0xffff)));
  return Uint8Array.from(out);
}

export interface LedCommand {
  readonly reader?: number;
  readonly led?: number;
  /** A temporary colour for `ms` (steady), after which the LED returns to its permanent state. */
  readonly temporary?: { readonly color: LedColor; readonly ms: number; readonly flashMs?: number };
  /** The permanent state: steady colour. */
  readonly permanent?: { readonly color: LedColor };
}

/** osdp_LED (§6.10): one 14-byte record. Times in 100 ms units. */
export function encodeLed(c: LedCommand): Uint8Array {
  const t = c.temporary;
  const p = c.permanent;
  const flash = t?.flashMs !== undefined ? units100(t.flashMs, 0xff) : 0;
  return Uint8Array.from([
    c.reader ?? 0,
    c.led ?? 0,
    // temporary: control (0 nop, 1 cancel, 2 set and start timer), on time, off time, on colour, off colour,
    // timer lsb/msb
    t !== undefined ? 2 : 0,
    t !== undefined ? (flash > 0 ? flash : 1) : 0,
    t !== undefined && flash > 0 ? flash : 0,
    t?.color ?? 0,
    t !== undefined && flash > 0 ? LED_COLOR.black : (t?.color ?? 0),
    ...u16le(t !== undefined ? Math.max(1, units100(t.ms, 0xffff)) : 0),
    // permanent: control (0 nop, 1 set), on time, off time, on colour, off colour
    p !== undefined ? 1 : 0,
    p !== undefined ? 1 : 0,
    0,
    p?.color ?? 0,
    p?.color ?? 0,
  ]);
}

export interface BuzzerCommand {
  readonly reader?: number;
  /** false: tone off (code 1); true: the default tone (code 2). */
  readonly on: boolean;
  readonly onMs?: number;
  readonly offMs?: number;
  /** Repetitions; 0 = until told otherwise. */
  readonly count?: number;
}

/** osdp_BUZ (§6.11): reader, tone code, on time, off time (100 ms units), count. */
export function encodeBuz(c: BuzzerCommand): Uint8Array {
  return Uint8Array.of(
    c.reader ?? 0,
    c.on ? 2 : 1,
    c.on ? Math.max(1, units100(c.onMs ?? 100, 0xff)) : 0,
    units100(c.offMs ?? 0, 0xff),
    c.on ? (c.count ?? 1) & 0xff : 0,
  );
}

/** osdp_COMSET (§6.13): new address, new baud rate (4 bytes little-endian). */
export function encodeComset(address: number, baudRate: number): Uint8Array {
  return Uint8Array.of(
    address,
    baudRate & 0xff,
    (baudRate >>> 8) & 0xff,
    (baudRate >>> 16) & 0xff,
    (baudRate >>> 24) & 0xff,
  );
}

/** osdp_KEYSET (§6.16): key type 1 (SCBK), length, key. Only ever sent inside a secure channel. */
export function encodeKeyset(scbk: Uint8Array): Uint8Array {
  const out = new Uint8Array(2 + scbk.length);
  out[0] = KEY_TYPE_SCBK;
  out[1] = scbk.length;
  out.set(scbk, 2);
  return out;
}

export interface PdId {
  readonly vendor: string;
  readonly model: number;
  readonly version: number;
  readonly serial: number;
  readonly firmware: string;
}

export interface PdCapability {
  readonly function: number;
  readonly compliance: number;
  readonly count: number;
}

/** PDCAP function codes this panel looks at (§7.5, Table 49). */
export const CAP_FUNCTION = {
  contactStatus: 1,
  outputControl: 2,
  cardDataFormat: 3,
  readerLed: 4,
  readerAudible: 5,
  checkCharacter: 8,
  communicationSecurity: 9,
} as const;

/** A reply, decoded. `code` is kept for logs. */
export type Reply =
  | { readonly kind: 'ack' }
  | { readonly kind: 'nak'; readonly error: number; readonly detail: Uint8Array }
  | { readonly kind: 'pdid'; readonly id: PdId }
  | { readonly kind: 'pdcap'; readonly capabilities: readonly PdCapability[] }
  | { readonly kind: 'lstatr'; readonly tamper: boolean; readonly power: boolean }
  | { readonly kind: 'istatr'; readonly inputs: readonly boolean[] }
  | { readonly kind: 'ostatr'; readonly outputs: readonly boolean[] }
  /** Card bits, first bit received = MSB of data[0]; format 0 unspecified, 1 Wiegand. */
  | {
      readonly kind: 'raw';
      readonly reader: number;
      readonly format: number;
      readonly bitCount: number;
      readonly data: Uint8Array;
    }
  | { readonly kind: 'fmt'; readonly reader: number; readonly text: string }
  /** Keys as the keypad machine takes them: 0-9, `*`, `#`. */
  | { readonly kind: 'keypad'; readonly reader: number; readonly keys: string }
  | { readonly kind: 'com'; readonly address: number; readonly baudRate: number }
  | {
      readonly kind: 'ccrypt';
      readonly cuid: Uint8Array;
      readonly rndB: Uint8Array;
      readonly cryptogram: Uint8Array;
    }
  | { readonly kind: 'rmac_i'; readonly rmac: Uint8Array }
  | { readonly kind: 'busy' }
  | { readonly kind: 'unknown'; readonly code: number; readonly data: Uint8Array }
  | { readonly kind: 'malformed'; readonly code: number; readonly message: string };

function malformed(code: number, message: string): Reply {
  return { kind: 'malformed', code, message };
}

/** KEYPAD digits (§7.12): ASCII '0'-'9', 0x7F for `*`, 0x0D for `#`. Returns null for any other byte. */
export function keypadKey(byte: number): string | null {
  if (byte >= 0x30 && byte <= 0x39) return String.fromCharCode(byte);
  if (byte === 0x7f) return '*';
  if (byte === 0x0d) return '#';
  return null;
}

export function decodeReply(code: number, data: Uint8Array): Reply {
  const at = (i: number): number => data[i] ?? 0;
  switch (code) {
    case REPLY.ACK:
      return { kind: 'ack' };
    case REPLY.NAK:
      if (data.length < 1) return malformed(code, 'NAK without an error code');
      return { kind: 'nak', error: at(0), detail: data.slice(1) };
    case REPLY.BUSY:
      return { kind: 'busy' };
    case REPLY.PDID: {
      if (data.length < 12) return malformed(code, `PDID of ${data.length} bytes (expected 12)`);
      const hex = (i: number): string => at(i).toString(16).padStart(2, '0');
      return {
        kind: 'pdid',
        id: {
          vendor: `${hex(0)}${hex(1)}${hex(2)}`,
          model: at(3),
          version: at(4),
          serial: (at(5) | (at(6) << 8) | (at(7) << 16) | (at(8) << 24)) >>> 0,
          firmware: `${at(9)}.${at(10)}.${at(11)}`,
        },
      };
    }
    case REPLY.PDCAP: {
      if (data.length % 3 !== 0) return malformed(code, `PDCAP of ${data.length} bytes (not records of 3)`);
      const capabilities: PdCapability[] = [];
      for (let i = 0; i < data.length; i += 3)
        capabilities.push({ function: at(i), compliance: at(i + 1), count: at(i + 2) });
      return { kind: 'pdcap', capabilities };
    }
    case REPLY.LSTATR:
      if (data.length < 2) return malformed(code, `LSTATR of ${data.length} bytes (expected 2)`);
      return { kind: 'lstatr', tamper: at(0) !== 0, power: at(1) !== 0 };
    case REPLY.ISTATR:
      return { kind: 'istatr', inputs: Array.from(data, (b) => b !== 0) };
    case REPLY.OSTATR:
      return { kind: 'ostatr', outputs: Array.from(data, (b) => b !== 0) };
    case REPLY.RAW: {
      if (data.length < 4) return malformed(code, `RAW of ${data.length} bytes (header is 4)`);
      const bitCount = at(2) | (at(3) << 8);
      const bytes = data.slice(4);
      if (bytes.length !== Math.ceil(bitCount / 8))
        return malformed(code, `RAW says ${bitCount} bits but carries ${bytes.length} bytes`);
      return { kind: 'raw', reader: at(0), format: at(1), bitCount, data: bytes };
    }
    case REPLY.FMT: {
      if (data.length < 3) return malformed(code, `FMT of ${data.length} bytes (header is 3)`);
      const n = at(2);
      if (data.length !== 3 + n)
        return malformed(code, `FMT says ${n} characters but carries ${data.length - 3}`);
      let text = '';
      for (let i = 3; i < data.length; i++) {
        const c = at(i);
        if (c < 0x20 || c > 0x7e) return malformed(code, 'FMT carries a non-printable character');
        text += String.fromCharCode(c);
      }
      return { kind: 'fmt', reader: at(0), text };
    }
    case REPLY.KEYPAD: {
      if (data.length < 2) return malformed(code, `KEYPAD of ${data.length} bytes (header is 2)`);
      const n = at(1);
      if (data.length !== 2 + n)
        return malformed(code, `KEYPAD says ${n} digits but carries ${data.length - 2}`);
      let keys = '';
      for (let i = 2; i < data.length; i++) {
        const k = keypadKey(at(i));
        if (k === null) return malformed(code, `KEYPAD byte 0x${at(i).toString(16)} is no key`);
        keys += k;
      }
      return { kind: 'keypad', reader: at(0), keys };
    }
    case REPLY.COM:
      if (data.length < 5) return malformed(code, `COM of ${data.length} bytes (expected 5)`);
      return {
        kind: 'com',
        address: at(0),
        baudRate: (at(1) | (at(2) << 8) | (at(3) << 16) | (at(4) << 24)) >>> 0,
      };
    case REPLY.CCRYPT:
      if (data.length !== 32) return malformed(code, `CCRYPT of ${data.length} bytes (expected 32)`);
      return {
        kind: 'ccrypt',
        cuid: data.slice(0, 8),
        rndB: data.slice(8, 16),
        cryptogram: data.slice(16, 32),
      };
    case REPLY.RMAC_I:
      if (data.length !== 16) return malformed(code, `RMAC_I of ${data.length} bytes (expected 16)`);
      return { kind: 'rmac_i', rmac: data.slice() };
    default:
      return { kind: 'unknown', code, data };
  }
}
