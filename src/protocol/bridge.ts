/**
 * The serial bridge frame codec: the wire between the host (this daemon) and the door's microcontroller
 * bridge (keypad, Wiegand reader, QR scanner, camera, inputs; relays, LED, buzzer). docs/serial-protocol.md is
 * the prose contract and test/vectors/bridge-frames.json the normative bytes, shared with the firmware's C
 * implementation.
 *
 * A frame is `COBS(payload) 0x00`; payload = `type u8 | seq u8 | body | crc u16`, CRC-16/CCITT-FALSE over type,
 * seq and body; every integer big-endian. Pure: no I/O, no clock. Retries, ACK matching and the offline rule
 * belong to the adapter that owns the serial port.
 */
import { cobsDecode, cobsEncode, cobsMaxEncodedLength } from './cobs.js';
import { crc16CcittFalse } from './crc16.js';

/** Largest payload (type + seq + body + crc), in bytes. */
export const MAX_PAYLOAD = 1024;
/** Largest COBS encoding of a MAX_PAYLOAD payload (1029): a longer run before a 0x00 is discarded as oversize. */
export const MAX_ENCODED = cobsMaxEncodedLength(MAX_PAYLOAD);
/** type + seq + crc: the payload of an empty body. */
export const MIN_PAYLOAD = 4;
/** The protocol version this codec speaks, as announced in HELLO. */
export const PROTOCOL_VERSION = 1;
/** How many of a discarded run's bytes a 'discarded' result keeps (its `length` counts them all). */
export const DISCARD_SAMPLE_BYTES = 64;

/** Type codes. The high bit is the direction: 0x01–0x7F bridge → host, 0x81–0xFF host → bridge. */
export const MESSAGE_TYPE = {
  hello: 0x01,
  key: 0x02,
  wiegand: 0x03,
  scan: 0x04,
  frame: 0x05,
  input: 0x06,
  heartbeat: 0x07,
  ack: 0x08,
  relay: 0x81,
  led: 0x82,
  beep: 0x83,
  ping: 0x84,
} as const;

export const LED_COLOUR = { off: 0, green: 1, red: 2, amber: 3 } as const;
export type LedColour = (typeof LED_COLOUR)[keyof typeof LED_COLOUR];

export const BEEP_PATTERN = { accept: 1, deny: 2, keyClick: 3, alarm: 4 } as const;
export type BeepPattern = (typeof BEEP_PATTERN)[keyof typeof BEEP_PATTERN];

/** The keypad's keys, as the ASCII byte a KEY frame carries. */
export const KEYPAD_KEYS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#'] as const;
export type KeypadKey = (typeof KEYPAD_KEYS)[number];

export type Direction = 'bridge->host' | 'host->bridge';

/** Every message of the protocol; `type` is the discriminant, the fields are the body, in wire order. */
export type BridgeMessage =
  /** Sent by the bridge after boot. `protocol` is decoded as sent: the adapter refuses one it does not speak. */
  | { readonly type: 'hello'; readonly protocol: number; readonly firmware: string }
  | { readonly type: 'key'; readonly key: KeypadKey }
  /** `data` holds ceil(bitCount / 8) bytes, first bit received = MSB of data[0]; unused trailing bits are 0. */
  | { readonly type: 'wiegand'; readonly bitCount: number; readonly data: Uint8Array }
  | { readonly type: 'scan'; readonly text: string }
  /** One chunk of an 8-bit grey image, row-major; the adapter reassembles chunks 0..chunkCount-1 of `frameId`. */
  | {
      readonly type: 'frame';
      readonly frameId: number;
      readonly chunkIndex: number;
      readonly chunkCount: number;
      readonly width: number;
      readonly height: number;
      readonly pixels: Uint8Array;
    }
  | { readonly type: 'input'; readonly input: number; readonly level: 0 | 1 }
  /** Milliseconds since the bridge booted, modulo 2^32 (wraps after 49.7 days). */
  | { readonly type: 'heartbeat'; readonly uptimeMs: number }
  /** `seq` is the seq of the host frame acknowledged (the ACK frame has its own seq, from the bridge's count). */
  | { readonly type: 'ack'; readonly seq: number }
  | { readonly type: 'relay'; readonly channel: number; readonly ms: number }
  | { readonly type: 'led'; readonly colour: LedColour; readonly ms: number }
  | { readonly type: 'beep'; readonly pattern: BeepPattern }
  | { readonly type: 'ping' };

export type MessageType = BridgeMessage['type'];
export type BridgeToHostMessage = Extract<
  BridgeMessage,
  { type: 'hello' | 'key' | 'wiegand' | 'scan' | 'frame' | 'input' | 'heartbeat' | 'ack' }
>;
export type HostToBridgeMessage = Extract<BridgeMessage, { type: 'relay' | 'led' | 'beep' | 'ping' }>;

/**
 * Why a frame was dropped. 'bad_value' (a field outside its defined values: a KEY byte that is no key, an
 * LED colour 4, invalid UTF-8...) and 'truncated' (bytes still pending when the stream is flushed) complete
 * the reasons of the contract; see docs/serial-protocol.md, "Discard rules".
 */
export type DiscardReason =
  | 'bad_cobs'
  | 'bad_crc'
  | 'unknown_type'
  | 'bad_length'
  | 'bad_value'
  | 'oversize'
  | 'too_short'
  | 'truncated';

export type DecodeResult =
  | { readonly ok: true; readonly seq: number; readonly message: BridgeMessage }
  | { readonly ok: false; readonly reason: DiscardReason };

export type DeframeResult =
  | { readonly kind: 'frame'; readonly seq: number; readonly message: BridgeMessage }
  /** `bytes`: the first DISCARD_SAMPLE_BYTES encoded bytes of the run (no delimiter); `length`: all of them. */
  | {
      readonly kind: 'discarded';
      readonly reason: DiscardReason;
      readonly bytes: Uint8Array;
      readonly length: number;
    };

const TYPE_BY_CODE: ReadonlyMap<number, MessageType> = new Map(
  Object.entries(MESSAGE_TYPE).map(([name, code]) => [code, name as MessageType]),
);
const KEY_SET: ReadonlySet<string> = new Set(KEYPAD_KEYS);
const FRAME_HEADER = 10; // frameId, chunkIndex, chunkCount, width, height: five u16

// ignoreBOM: a leading U+FEFF is content (TextDecoder strips it by default, which would make text that starts
// with one fail to round-trip). fatal: invalid UTF-8 is refused instead of mapped to U+FFFD, so two different
// scanned byte strings can never decode to the same credential text.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();
/** A lone surrogate, which TextEncoder would silently replace by U+FFFD. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** The bits of a Wiegand message's last byte that lie after bit `bitCount` (0 when bitCount is a multiple of 8). */
function paddingMask(bitCount: number): number {
  return (1 << ((8 - (bitCount % 8)) % 8)) - 1;
}

/** Which side sends messages of `type` (the type code's high bit: set for host → bridge). */
export function directionOf(type: MessageType): Direction {
  return MESSAGE_TYPE[type] & 0x80 ? 'host->bridge' : 'bridge->host';
}

/** The seq after `seq`: each side counts its own frames 0..255 and wraps to 0. */
export function nextSeq(seq: number): number {
  return (seq + 1) & 0xff;
}

function checkInt(what: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max)
    throw new RangeError(`bridge: ${what} must be an integer ${min}..${max}, got ${String(value)}`);
}

function checkText(what: string, text: string): Uint8Array {
  if (typeof text !== 'string') throw new RangeError(`bridge: ${what} must be a string`);
  if (LONE_SURROGATE.test(text)) throw new RangeError(`bridge: ${what} contains a lone surrogate`);
  return utf8Encoder.encode(text);
}

/** Body bytes of `message`; throws RangeError on a value outside its field. */
function encodeBody(message: BridgeMessage): Uint8Array {
  const fixed = (length: number, fill: (view: DataView) => void): Uint8Array => {
    const body = new Uint8Array(length);
    fill(new DataView(body.buffer));
    return body;
  };
  switch (message.type) {
    case 'hello': {
      checkInt('hello.protocol', message.protocol, 0, 0xff);
      const firmware = checkText('hello.firmware', message.firmware);
      const body = new Uint8Array(1 + firmware.length);
      body[0] = message.protocol;
      body.set(firmware, 1);
      return body;
    }
    case 'key':
      if (typeof message.key !== 'string' || !KEY_SET.has(message.key))
        throw new RangeError(`bridge: key.key must be one of 0-9 * #, got ${JSON.stringify(message.key)}`);
      return Uint8Array.of(message.key.charCodeAt(0));
    case 'wiegand': {
      const { bitCount, data } = message;
      checkInt('wiegand.bitCount', bitCount, 1, 0xff);
      const bytes = Math.ceil(bitCount / 8);
      if (data.length !== bytes)
        throw new RangeError(`bridge: wiegand.data must hold ${bytes} bytes for ${bitCount} bits`);
      // Strict on send: a sender that set padding bits would make equal credentials unequal on the wire.
      if (((data[bytes - 1] ?? 0) & paddingMask(bitCount)) !== 0)
        throw new RangeError('bridge: wiegand.data has non-zero bits after bitCount');
      const body = new Uint8Array(1 + bytes);
      body[0] = bitCount;
      body.set(data, 1);
      return body;
    }
    case 'scan': {
      const text = checkText('scan.text', message.text);
      if (text.length === 0) throw new RangeError('bridge: scan.text must not be empty');
      return text;
    }
    case 'frame': {
      const m = message;
      checkInt('frame.frameId', m.frameId, 0, 0xffff);
      checkInt('frame.chunkCount', m.chunkCount, 1, 0xffff);
      checkInt('frame.chunkIndex', m.chunkIndex, 0, m.chunkCount - 1);
      checkInt('frame.width', m.width, 0, 0xffff);
      checkInt('frame.height', m.height, 0, 0xffff);
      const body = new Uint8Array(FRAME_HEADER + m.pixels.length);
      const view = new DataView(body.buffer);
      view.setUint16(0, m.frameId);
      view.setUint16(2, m.chunkIndex);
      view.setUint16(4, m.chunkCount);
      view.setUint16(6, m.width);
      view.setUint16(8, m.height);
      body.set(m.pixels, FRAME_HEADER);
      return body;
    }
    case 'input':
      checkInt('input.input', message.input, 0, 0xff);
      checkInt('input.level', message.level, 0, 1);
      return Uint8Array.of(message.input, message.level);
    case 'heartbeat':
      checkInt('heartbeat.uptimeMs', message.uptimeMs, 0, 0xffff_ffff);
      return fixed(4, (v) => v.setUint32(0, message.uptimeMs));
    case 'ack':
      checkInt('ack.seq', message.seq, 0, 0xff);
      return Uint8Array.of(message.seq);
    case 'relay':
      checkInt('relay.channel', message.channel, 0, 0xff);
      checkInt('relay.ms', message.ms, 0, 0xffff);
      return fixed(3, (v) => {
        v.setUint8(0, message.channel);
        v.setUint16(1, message.ms);
      });
    case 'led':
      checkInt('led.colour', message.colour, LED_COLOUR.off, LED_COLOUR.amber);
      checkInt('led.ms', message.ms, 0, 0xffff);
      return fixed(3, (v) => {
        v.setUint8(0, message.colour);
        v.setUint16(1, message.ms);
      });
    case 'beep':
      checkInt('beep.pattern', message.pattern, BEEP_PATTERN.accept, BEEP_PATTERN.alarm);
      return Uint8Array.of(message.pattern);
    case 'ping':
      return new Uint8Array(0);
    default: {
      const unknown: never = message;
      throw new RangeError(
        `bridge: unknown message type ${JSON.stringify((unknown as { type: unknown }).type)}`,
      );
    }
  }
}

/**
 * The payload of `message` numbered `seq`: `type | seq | body | crc` (no COBS, no delimiter).
 * Throws RangeError when `seq` or a field is out of range, or the payload would exceed MAX_PAYLOAD.
 */
export function encodePayload(seq: number, message: BridgeMessage): Uint8Array {
  checkInt('seq', seq, 0, 0xff);
  const body = encodeBody(message);
  const length = MIN_PAYLOAD + body.length;
  if (length > MAX_PAYLOAD)
    throw new RangeError(`bridge: ${message.type} payload of ${length} bytes exceeds ${MAX_PAYLOAD}`);
  const payload = new Uint8Array(length);
  payload[0] = MESSAGE_TYPE[message.type];
  payload[1] = seq;
  payload.set(body, 2);
  const crc = crc16CcittFalse(payload.subarray(0, length - 2));
  payload[length - 2] = crc >>> 8; // big-endian, like every integer on this wire
  payload[length - 1] = crc & 0xff;
  return payload;
}

/**
 * The frame of `message` numbered `seq`, ready to write to the port: COBS(payload) followed by the 0x00
 * delimiter. Throws RangeError like encodePayload().
 */
export function encodeFrame(seq: number, message: BridgeMessage): Uint8Array {
  const encoded = cobsEncode(encodePayload(seq, message));
  const frame = new Uint8Array(encoded.length + 1);
  frame.set(encoded); // the last byte stays 0x00: the delimiter
  return frame;
}

type BodyResult = BridgeMessage | 'bad_length' | 'bad_value';

function decodeText(bytes: Uint8Array): string | undefined {
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    return undefined; // fatal decoder: invalid UTF-8
  }
}

/** Decodes the body of a known type. The byte arrays in the result are copies, never views of `body`. */
function decodeBody(type: MessageType, body: Uint8Array): BodyResult {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const exactly = (length: number): boolean => body.length === length;
  switch (type) {
    case 'hello': {
      if (body.length < 1) return 'bad_length';
      const firmware = decodeText(body.subarray(1));
      return firmware === undefined ? 'bad_value' : { type, protocol: view.getUint8(0), firmware };
    }
    case 'key': {
      if (!exactly(1)) return 'bad_length';
      const key = String.fromCharCode(view.getUint8(0));
      return isKey(key) ? { type, key } : 'bad_value';
    }
    case 'wiegand': {
      if (body.length < 1) return 'bad_length';
      const bitCount = view.getUint8(0);
      if (bitCount === 0) return 'bad_value';
      if (!exactly(1 + Math.ceil(bitCount / 8))) return 'bad_length';
      // Tolerant on receive: padding bits carry nothing, so a firmware that leaves them set loses no credential.
      // They are cleared, so that the same card always yields the same bytes (the credential is hashed as is).
      const data = body.slice(1);
      data[data.length - 1] = (data[data.length - 1] ?? 0) & ~paddingMask(bitCount);
      return { type, bitCount, data };
    }
    case 'scan': {
      if (body.length < 1) return 'bad_length';
      const text = decodeText(body);
      return text === undefined ? 'bad_value' : { type, text };
    }
    case 'frame': {
      if (body.length < FRAME_HEADER) return 'bad_length';
      const chunkIndex = view.getUint16(2);
      const chunkCount = view.getUint16(4);
      if (chunkIndex >= chunkCount) return 'bad_value';
      return {
        type,
        frameId: view.getUint16(0),
        chunkIndex,
        chunkCount,
        width: view.getUint16(6),
        height: view.getUint16(8),
        pixels: body.slice(FRAME_HEADER),
      };
    }
    case 'input': {
      if (!exactly(2)) return 'bad_length';
      const level = view.getUint8(1);
      return level === 0 || level === 1 ? { type, input: view.getUint8(0), level } : 'bad_value';
    }
    case 'heartbeat':
      return exactly(4) ? { type, uptimeMs: view.getUint32(0) } : 'bad_length';
    case 'ack':
      return exactly(1) ? { type, seq: view.getUint8(0) } : 'bad_length';
    case 'relay':
      return exactly(3) ? { type, channel: view.getUint8(0), ms: view.getUint16(1) } : 'bad_length';
    case 'led': {
      if (!exactly(3)) return 'bad_length';
      const colour = view.getUint8(0);
      return isLedColour(colour) ? { type, colour, ms: view.getUint16(1) } : 'bad_value';
    }
    case 'beep': {
      if (!exactly(1)) return 'bad_length';
      const pattern = view.getUint8(0);
      return isBeepPattern(pattern) ? { type, pattern } : 'bad_value';
    }
    case 'ping':
      return exactly(0) ? { type } : 'bad_length';
  }
}

function isKey(key: string): key is KeypadKey {
  return KEY_SET.has(key);
}
function isLedColour(n: number): n is LedColour {
  return n >= LED_COLOUR.off && n <= LED_COLOUR.amber;
}
function isBeepPattern(n: number): n is BeepPattern {
  return n >= BEEP_PATTERN.accept && n <= BEEP_PATTERN.alarm;
}

/**
 * Decodes one payload (already COBS-decoded, delimiter removed). Checks, in this order: size ('oversize' over
 * MAX_PAYLOAD, 'too_short' under 4 bytes), CRC ('bad_crc'), type ('unknown_type', also for a known type of the
 * other direction when `direction` is given), body length ('bad_length'), field values ('bad_value').
 * Byte arrays in the message are copies: the caller may reuse `payload`.
 */
export function decodePayload(payload: Uint8Array, direction?: Direction): DecodeResult {
  if (payload.length > MAX_PAYLOAD) return { ok: false, reason: 'oversize' };
  if (payload.length < MIN_PAYLOAD) return { ok: false, reason: 'too_short' };
  const end = payload.length - 2;
  const sent = ((payload[end] ?? 0) << 8) | (payload[end + 1] ?? 0);
  if (crc16CcittFalse(payload.subarray(0, end)) !== sent) return { ok: false, reason: 'bad_crc' };
  const type = TYPE_BY_CODE.get(payload[0] ?? 0);
  if (type === undefined || (direction !== undefined && directionOf(type) !== direction))
    return { ok: false, reason: 'unknown_type' };
  const message = decodeBody(type, payload.subarray(2, end));
  if (typeof message === 'string') return { ok: false, reason: message };
  return { ok: true, seq: payload[1] ?? 0, message };
}

export interface DeframerOptions {
  /**
   * Accept only the messages of this direction; the others are discarded as 'unknown_type'. The host passes
   * 'bridge->host', so that its own commands echoed back (a TX/RX loop on the wire) are counted, not obeyed.
   */
  readonly direction?: Direction;
}

/**
 * Splits a byte stream into frames at each 0x00 and decodes them. Every byte is accounted for: each non-empty
 * run before a 0x00 yields exactly one result, a frame or a 'discarded' (whose `length` is the run's length);
 * the 0x00 delimiters are consumed; bytes after the last 0x00 stay `pending` until the next push or flush().
 *
 * - An empty run (0x00 right after 0x00, or at the start) yields nothing: a sender may emit extra 0x00 at any
 *   time, e.g. one before its first frame after boot to terminate whatever half frame the host holds.
 * - A run longer than MAX_ENCODED is 'oversize'; its bytes past MAX_ENCODED are counted, not kept, so memory
 *   stays bounded whatever the line carries. Resynchronisation is the next 0x00, as for every other discard.
 */
export class Deframer {
  private readonly direction: Direction | undefined;
  private readonly buffer = new Uint8Array(MAX_ENCODED);
  private fill = 0;
  private skipped = 0;

  constructor(options: DeframerOptions = {}) {
    this.direction = options.direction;
  }

  /** Bytes received since the last delimiter (a frame in progress, or an oversize run being skipped). */
  get pending(): number {
    return this.fill + this.skipped;
  }

  /** Feeds received bytes; returns the results of the runs that a 0x00 in `chunk` completed, in order. */
  push(chunk: Uint8Array): DeframeResult[] {
    const results: DeframeResult[] = [];
    let start = 0;
    while (start < chunk.length) {
      const zero = chunk.indexOf(0, start);
      const end = zero === -1 ? chunk.length : zero;
      const room = MAX_ENCODED - this.fill;
      const kept = Math.min(room, end - start);
      this.buffer.set(chunk.subarray(start, start + kept), this.fill);
      this.fill += kept;
      this.skipped += end - start - kept;
      if (zero === -1) break;
      const result = this.complete();
      if (result !== undefined) results.push(result);
      start = zero + 1;
    }
    return results;
  }

  /**
   * Ends the stream (port closed, or the adapter's receive timeout): pending bytes are discarded as
   * 'truncated', so that they are counted rather than lost, and the next push starts a fresh frame.
   */
  flush(): DeframeResult[] {
    if (this.pending === 0) return [];
    const result = this.discard('truncated');
    return [result];
  }

  /** The result of the run just ended by a 0x00, or undefined for an empty run. */
  private complete(): DeframeResult | undefined {
    if (this.pending === 0) return undefined;
    if (this.skipped > 0) return this.discard('oversize');
    const payload = cobsDecode(this.buffer.subarray(0, this.fill));
    if (payload === undefined) return this.discard('bad_cobs');
    const decoded = decodePayload(payload, this.direction);
    if (!decoded.ok) return this.discard(decoded.reason);
    this.fill = 0;
    return { kind: 'frame', seq: decoded.seq, message: decoded.message };
  }

  private discard(reason: DiscardReason): DeframeResult {
    const result: DeframeResult = {
      kind: 'discarded',
      reason,
      bytes: this.buffer.slice(0, Math.min(this.fill, DISCARD_SAMPLE_BYTES)),
      length: this.pending,
    };
    this.fill = 0;
    this.skipped = 0;
    return result;
  }
}
