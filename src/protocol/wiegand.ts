/**
 * Wiegand decoding (docs/card-formats.md): the bits a Wiegand reader sent, as a card number or a keypad key.
 *
 * Input is one burst exactly as received: `bitCount` bits, the first bit received being the most significant
 * bit of data[0]. Pure: no I/O, Number arithmetic only (the widest value here, H10304's 35 data bits, is far
 * below 2^53). Bit positions in this file are 1-based in transmission order, as HID's format documents
 * number them ("bit 1" is the first bit on the wire).
 */

/** The card formats this decoder knows, by their HID / industry names. */
export type WiegandFormat = 'h10301' | 'wiegand34' | 'corp1000' | 'h10304';
export const WIEGAND_FORMATS: readonly WiegandFormat[] = ['h10301', 'wiegand34', 'corp1000', 'h10304'];

/**
 * How a decoded card becomes the credential value:
 * - `data` (default): every data bit between the parity bits as one decimal number (H10301: facility * 65536
 *   + card number). Unique across facilities, and it is the number most enrolment readers print.
 * - `card`: the card-number field alone, in decimal (facility ignored: two sites' cards may collide).
 * - `hex`: the data bits as upper-case hex, zero-padded to whole digits of the data field, used as-is.
 */
export type CardMapping = 'data' | 'card' | 'hex';
export const CARD_MAPPINGS: readonly CardMapping[] = ['data', 'card', 'hex'];

export interface WiegandOptions {
  /** A fixed card format, or `auto` (default): chosen by bit count (26, 34, 35, 37). */
  readonly format?: WiegandFormat | 'auto';
  readonly mapping?: CardMapping;
}

export type WiegandErrorReason = 'parity' | 'length' | 'format';

export type WiegandResult =
  | {
      readonly kind: 'card';
      readonly format: WiegandFormat;
      /** Facility code (Corporate 1000: the company id); null for a format without one. */
      readonly facility: number | null;
      readonly cardNumber: number;
      /** The credential value, per the mapping. */
      readonly value: string;
    }
  | { readonly kind: 'key'; /** One of 0123456789*# */ readonly key: string }
  | { readonly kind: 'error'; readonly reason: WiegandErrorReason; readonly message: string };

/** A burst as sent on the wire: what encodeWiegand() returns and decodeWiegand() takes. */
export interface WiegandFrame {
  readonly bitCount: number;
  readonly data: Uint8Array;
}

interface Field {
  /** First bit, 1-based. */
  readonly start: number;
  readonly length: number;
}

interface ParityBit {
  /** Position of the parity bit, 1-based. */
  readonly at: number;
  /** Even: the ones in `over` plus the parity bit are an even count; odd: an odd count. */
  readonly kind: 'even' | 'odd';
  readonly over: readonly number[];
  /** For messages, in the spec's words. */
  readonly label: string;
}

interface Layout {
  readonly name: string;
  readonly bits: number;
  readonly facility: Field;
  readonly card: Field;
  /** The data bits between the parity bits (facility and card number, adjacent). */
  readonly data: Field;
  /** In encoding order: a parity bit may cover one computed before it (Corporate 1000 bit 1 covers bit 2). */
  readonly parity: readonly ParityBit[];
}

function span(from: number, to: number, keep: (p: number) => boolean = () => true): number[] {
  const out: number[] = [];
  for (let p = from; p <= to; p++) if (keep(p)) out.push(p);
  return out;
}

const LAYOUTS: Readonly<Record<WiegandFormat, Layout>> = {
  // H10301 (HID "Understanding Card Data Formats"): P FFFFFFFF CCCCCCCCCCCCCCCC P.
  h10301: {
    name: 'H10301 26-bit',
    bits: 26,
    facility: { start: 2, length: 8 },
    card: { start: 10, length: 16 },
    data: { start: 2, length: 24 },
    parity: [
      // H10301: bit 1 is even parity over bits 2-13, bit 26 odd parity over bits 14-25.
      { at: 1, kind: 'even', over: span(2, 13), label: 'bit 1, even over bits 2-13' },
      { at: 26, kind: 'odd', over: span(14, 25), label: 'bit 26, odd over bits 14-25' },
    ],
  },
  // Generic 34-bit (HID N10002 layout): P, 16-bit facility, 16-bit card, P; each parity bit covers one half.
  wiegand34: {
    name: '34-bit',
    bits: 34,
    facility: { start: 2, length: 16 },
    card: { start: 18, length: 16 },
    data: { start: 2, length: 32 },
    parity: [
      { at: 1, kind: 'even', over: span(2, 17), label: 'bit 1, even over bits 2-17' },
      { at: 34, kind: 'odd', over: span(18, 33), label: 'bit 34, odd over bits 18-33' },
    ],
  },
  // HID Corporate 1000 35-bit: P P CCCCCCCCCCCC NNNNNNNNNNNNNNNNNNNN P (12-bit company id, 20-bit card).
  // The two "inner" parity bits each cover two of every three bits, offset from each other, so every data bit
  // is in at least one; bit 1 then covers the whole card, parity bits 2 and 35 included.
  corp1000: {
    name: 'Corporate 1000 35-bit',
    bits: 35,
    facility: { start: 3, length: 12 },
    card: { start: 15, length: 20 },
    data: { start: 3, length: 32 },
    parity: [
      // Corporate 1000: bit 2 is even parity over bits 3-4, 6-7, ..., 33-34 (p mod 3 != 2).
      {
        at: 2,
        kind: 'even',
        over: span(3, 34, (p) => p % 3 !== 2),
        label: 'bit 2, even over bits 3-4, 6-7, ..., 33-34',
      },
      // Corporate 1000: bit 35 is odd parity over bits 2-3, 5-6, ..., 32-33 (p mod 3 != 1): it covers bit 2.
      {
        at: 35,
        kind: 'odd',
        over: span(2, 33, (p) => p % 3 !== 1),
        label: 'bit 35, odd over bits 2-3, 5-6, ..., 32-33',
      },
      // Corporate 1000: bit 1 is odd parity over bits 2-35, so it must be computed last.
      { at: 1, kind: 'odd', over: span(2, 35), label: 'bit 1, odd over bits 2-35' },
    ],
  },
  // H10304 37-bit: P, 16-bit facility, 19-bit card, P. The parity halves overlap: bit 19 is in both.
  h10304: {
    name: 'H10304 37-bit',
    bits: 37,
    facility: { start: 2, length: 16 },
    card: { start: 18, length: 19 },
    data: { start: 2, length: 35 },
    parity: [
      // H10304: bit 1 is even parity over bits 2-19, bit 37 odd parity over bits 19-36.
      { at: 1, kind: 'even', over: span(2, 19), label: 'bit 1, even over bits 2-19' },
      { at: 37, kind: 'odd', over: span(19, 36), label: 'bit 37, odd over bits 19-36' },
    ],
  },
};

/** Bit count → format, for `auto`. Every supported format has a distinct length. */
const BY_LENGTH: ReadonlyMap<number, WiegandFormat> = new Map(
  WIEGAND_FORMATS.map((f) => [LAYOUTS[f].bits, f] as const),
);

/** Keypad key values (HID / Rosslare single-key bursts): 0-9 are themselves, 10 = '*', 11 = '#'. */
const KEYS = '0123456789*#';

function bitAt(data: Uint8Array, pos: number): number {
  const i = pos - 1;
  return ((data[i >> 3] ?? 0) >> (7 - (i & 7))) & 1;
}

function readField(data: Uint8Array, f: Field): number {
  let v = 0;
  // Multiply, not shift: a 35-bit field overflows the 32-bit operands of << and |.
  for (let p = f.start; p < f.start + f.length; p++) v = v * 2 + bitAt(data, p);
  return v;
}

function onesIn(data: Uint8Array, positions: readonly number[]): number {
  let n = 0;
  for (const p of positions) n += bitAt(data, p);
  return n;
}

function parityHolds(data: Uint8Array, pb: ParityBit): boolean {
  const total = onesIn(data, pb.over) + bitAt(data, pb.at);
  return pb.kind === 'even' ? total % 2 === 0 : total % 2 === 1;
}

function fail(reason: WiegandErrorReason, message: string): WiegandResult {
  return { kind: 'error', reason, message };
}

function decodeKey(bitCount: 4 | 8, byte: number): WiegandResult {
  let value: number;
  if (bitCount === 4) {
    // 4-bit burst: the key value alone, no check bits.
    value = byte >> 4;
  } else {
    // 8-bit burst: low nibble = key, high nibble = its ones' complement (HID PINpad / Rosslare "nibbles
    // complemented"); the complement is the only integrity check, so a mismatch is a parity error.
    value = byte & 0x0f;
    if (byte >> 4 !== (~value & 0x0f)) {
      return fail(
        'parity',
        `8-bit keypad burst 0x${hex2(byte)}: high nibble is not the complement of the low nibble`,
      );
    }
  }
  const key = KEYS[value];
  if (key === undefined) {
    return fail('format', `${bitCount}-bit keypad burst carries value ${value}, which is no key (0-11)`);
  }
  return { kind: 'key', key };
}

function hex2(byte: number): string {
  return byte.toString(16).toUpperCase().padStart(2, '0');
}

function mapValue(layout: Layout, data: Uint8Array, cardNumber: number, mapping: CardMapping): string {
  switch (mapping) {
    case 'card':
      return String(cardNumber);
    case 'hex':
      return readField(data, layout.data)
        .toString(16)
        .toUpperCase()
        .padStart(Math.ceil(layout.data.length / 4), '0');
    case 'data':
    default:
      return String(readField(data, layout.data));
  }
}

/**
 * Decodes one Wiegand burst. Never throws: a burst that is not a valid card or key is a `kind: 'error'` result
 * (`length`: no format has that many bits, or data holds fewer; `format`: a known card length other than the
 * configured format, or a keypad value that is no key; `parity`: a check bit disagrees). A parity failure is
 * never returned as a card. 4- and 8-bit keypad bursts are accepted whatever the configured format.
 */
export function decodeWiegand(bitCount: number, data: Uint8Array, options?: WiegandOptions): WiegandResult {
  if (!Number.isSafeInteger(bitCount) || bitCount <= 0) {
    return fail('length', `bit count must be a positive integer, got ${String(bitCount)}`);
  }
  if (data.length * 8 < bitCount) {
    return fail('length', `${bitCount}-bit burst but data holds only ${data.length * 8} bits`);
  }
  if (bitCount === 4 || bitCount === 8) return decodeKey(bitCount, data[0] ?? 0);

  const wanted = options?.format ?? 'auto';
  const byLength = BY_LENGTH.get(bitCount);
  if (byLength === undefined) {
    return fail(
      'length',
      `a ${bitCount}-bit burst matches no supported format (4/8-bit keypad, 26, 34, 35 or 37-bit card)`,
    );
  }
  if (wanted !== 'auto' && wanted !== byLength) {
    const configured = LAYOUTS[wanted] as Layout | undefined;
    return fail(
      'format',
      configured === undefined
        ? `unknown Wiegand format "${String(wanted)}"`
        : `a ${bitCount}-bit card (${LAYOUTS[byLength].name}) arrived but the reader is configured for ` +
            `${configured.name} (${wanted})`,
    );
  }
  const layout = LAYOUTS[byLength];
  for (const pb of layout.parity) {
    if (!parityHolds(data, pb)) {
      return fail('parity', `${layout.name}: parity check failed (${pb.label})`);
    }
  }
  const cardNumber = readField(data, layout.card);
  return {
    kind: 'card',
    format: byLength,
    facility: readField(data, layout.facility),
    cardNumber,
    value: mapValue(layout, data, cardNumber, options?.mapping ?? 'data'),
  };
}

function checkRange(what: string, v: number, bits: number, format: WiegandFormat): void {
  const max = 2 ** bits - 1;
  if (!Number.isSafeInteger(v) || v < 0 || v > max) {
    throw new RangeError(`${format}: ${what} must be an integer 0-${max}, got ${String(v)}`);
  }
}

function setBit(data: Uint8Array, pos: number, bit: number): void {
  const i = pos - 1;
  const mask = 1 << (7 - (i & 7));
  const byte = data[i >> 3] ?? 0;
  data[i >> 3] = bit === 1 ? byte | mask : byte & ~mask;
}

function writeField(data: Uint8Array, f: Field, value: number): void {
  let v = value;
  for (let p = f.start + f.length - 1; p >= f.start; p--) {
    setBit(data, p, v % 2);
    v = Math.floor(v / 2);
  }
}

/**
 * Encodes a card as the reader would send it, parity bits computed (for tests, the simulator and firmware
 * vectors). Unused trailing bits of the last byte are zero. Throws RangeError when a field does not fit.
 */
export function encodeWiegand(format: WiegandFormat, facility: number, cardNumber: number): WiegandFrame {
  const layout = LAYOUTS[format] as Layout | undefined;
  if (layout === undefined) throw new RangeError(`unknown Wiegand format "${String(format)}"`);
  checkRange('facility', facility, layout.facility.length, format);
  checkRange('card number', cardNumber, layout.card.length, format);
  const data = new Uint8Array(Math.ceil(layout.bits / 8));
  writeField(data, layout.facility, facility);
  writeField(data, layout.card, cardNumber);
  for (const pb of layout.parity) {
    const ones = onesIn(data, pb.over);
    setBit(data, pb.at, pb.kind === 'even' ? ones % 2 : 1 - (ones % 2));
  }
  return { bitCount: layout.bits, data };
}

/**
 * Encodes one keypad key ('0'-'9', '*', '#') as a 4-bit burst (the value) or an 8-bit burst (complement in the
 * high nibble, value in the low nibble). Throws RangeError for any other key.
 */
export function encodeWiegandKey(key: string, bits: 4 | 8): WiegandFrame {
  const value = key.length === 1 ? KEYS.indexOf(key) : -1;
  if (value < 0) throw new RangeError(`not a keypad key: ${JSON.stringify(key)} (expected 0-9, * or #)`);
  const byte = bits === 4 ? value << 4 : ((~value & 0x0f) << 4) | value;
  return { bitCount: bits, data: Uint8Array.of(byte) };
}
