/**
 * USB HID boot-protocol keyboard reports (docs/card-formats.md) as typed by keypads, RFID readers and QR
 * scanners in keyboard mode, turned into characters and Enter, and then into tokens.
 *
 * Report layout (HID 1.11 Appendix B.1, boot keyboard): byte 0 modifier bitmap, byte 1 reserved, bytes 2-7 up
 * to six key codes from the Keyboard/Keypad usage page 0x07 (HID Usage Tables). A report is the state of the
 * keyboard, not an event: a key counts once, in the first report that holds it. Characters follow the US
 * layout, the layout scanners must be set to. Pure: no I/O, no clock.
 */

export type KeyboardEvent =
  | { readonly kind: 'char'; readonly char: string }
  | { readonly kind: 'enter' }
  | { readonly kind: 'error'; readonly reason: 'rollover' | 'length' };

export interface BootKeyboardOptions {
  /**
   * Reports carry a leading report-ID byte (9 bytes instead of 8), as a device with several report kinds
   * sends them over a raw hidraw node. The ID's value is not checked.
   */
  readonly reportId?: boolean;
}

const BOOT_REPORT_BYTES = 8;
const KEY_SLOTS = 6;

// HID Usage Tables, Keyboard/Keypad page 0x07: 0x00 = no event; 0x01-0x03 are error states, not keys.
const ERROR_ROLL_OVER = 0x01;
const FIRST_KEY_USAGE = 0x04;
const ENTER = 0x28;
const KEYPAD_ENTER = 0x58;

// Modifier byte (HID 1.11 §8.3): bit 1 left Shift, bit 5 right Shift; Ctrl, Alt and GUI are the other bits.
const SHIFT_BITS = 0x02 | 0x20;
const CHORD_BITS = 0xff & ~SHIFT_BITS;

/** usage → [unshifted, shifted] on the US layout. Keys absent here (F-keys, arrows, Tab, ...) are ignored. */
const CHARS: ReadonlyMap<number, readonly [string, string]> = (() => {
  const m = new Map<number, readonly [string, string]>();
  // 0x04-0x1D: Keyboard a and A ... z and Z.
  for (let i = 0; i < 26; i++) {
    const c = String.fromCharCode(0x61 + i);
    m.set(0x04 + i, [c, c.toUpperCase()]);
  }
  // 0x1E-0x27: Keyboard 1 and ! ... 9 and (, then 0 and ) (zero comes last on the page, as on the key row).
  const digits = '1234567890';
  const shiftedDigits = '!@#$%^&*()';
  for (let i = 0; i < 10; i++) m.set(0x1e + i, [digits.charAt(i), shiftedDigits.charAt(i)]);
  m.set(0x2c, [' ', ' ']);
  // 0x2D-0x38 punctuation, except 0x32 "Non-US # and ~", a key the US layout does not have.
  const punctuation: readonly [number, string, string][] = [
    [0x2d, '-', '_'],
    [0x2e, '=', '+'],
    [0x2f, '[', '{'],
    [0x30, ']', '}'],
    [0x31, '\\', '|'],
    [0x33, ';', ':'],
    [0x34, "'", '"'],
    [0x35, '`', '~'],
    [0x36, ',', '<'],
    [0x37, '.', '>'],
    [0x38, '/', '?'],
  ];
  for (const [usage, plain, shifted] of punctuation) m.set(usage, [plain, shifted]);
  // 0x54-0x63 keypad: / * - + (Enter 0x58 is handled apart) 1-9 0 . — Shift does not change them here.
  const keypad: readonly [number, string][] = [
    [0x54, '/'],
    [0x55, '*'],
    [0x56, '-'],
    [0x57, '+'],
    [0x62, '0'],
    [0x63, '.'],
  ];
  for (let i = 0; i < 9; i++) m.set(0x59 + i, [String(i + 1), String(i + 1)]);
  for (const [usage, c] of keypad) m.set(usage, [c, c]);
  return m;
})();

/**
 * Turns boot keyboard reports into key events. Stateful: it remembers the keys held in the previous report,
 * so only a key code new in this report is a press; held keys and repeated reports produce nothing.
 */
export class BootKeyboardDecoder {
  private readonly offset: number;
  private held: ReadonlySet<number> = new Set();
  private inRollover = false;

  constructor(options?: BootKeyboardOptions) {
    this.offset = options?.reportId === true ? 1 : 0;
  }

  /**
   * Decodes one report. A report of the wrong length is one `length` error (state unchanged). A rollover
   * report (slots holding ErrorRollOver, "too many keys") is one `rollover` error however many follow; it
   * yields no chars and leaves the held keys as they were, since the keyboard no longer says which are down.
   */
  push(report: Uint8Array): KeyboardEvent[] {
    if (report.length !== BOOT_REPORT_BYTES + this.offset) return [{ kind: 'error', reason: 'length' }];
    const modifiers = report[this.offset] ?? 0;
    const slots = report.subarray(this.offset + 2, this.offset + 2 + KEY_SLOTS);

    // HID 1.11 Appendix C: past its rollover limit a keyboard reports ErrorRollOver in every slot. A report
    // with the code in only some slots is malformed; it is treated the same way (no chars) to fail secure.
    if (slots.includes(ERROR_ROLL_OVER)) {
      if (this.inRollover) return [];
      this.inRollover = true;
      return [{ kind: 'error', reason: 'rollover' }];
    }
    this.inRollover = false;

    const events: KeyboardEvent[] = [];
    const now = new Set<number>();
    const shift = (modifiers & SHIFT_BITS) !== 0;
    // Ctrl/Alt/GUI + key is a shortcut (or a scanner's Alt+keypad code), not typed text: ignored.
    const chord = (modifiers & CHORD_BITS) !== 0;
    for (const usage of slots) {
      if (usage < FIRST_KEY_USAGE || now.has(usage)) continue;
      now.add(usage);
      if (this.held.has(usage) || chord) continue;
      if (usage === ENTER || usage === KEYPAD_ENTER) {
        events.push({ kind: 'enter' });
        continue;
      }
      const pair = CHARS.get(usage);
      if (pair !== undefined) events.push({ kind: 'char', char: shift ? pair[1] : pair[0] });
    }
    this.held = now;
    return events;
  }

  /** Forgets held keys and the rollover state (e.g. after the device was reconnected). */
  reset(): void {
    this.held = new Set();
    this.inRollover = false;
  }
}

export interface TokenAssemblerOptions {
  /** Longest token accepted, in characters (≥ 1). */
  readonly maxLength: number;
}

export type TokenResult = { readonly token: string } | { readonly overflow: true } | undefined;

/**
 * Collects chars into a token ended by Enter. An empty token is ignored. A token growing past maxLength is
 * discarded and reported as `overflow` once; everything up to the next Enter is then skipped, so its tail is
 * not taken for a token of its own. An error event (rollover, bad report) in the middle of a token means
 * characters may be lost: the partial token is discarded and the rest skipped up to Enter, silently.
 */
export class TokenAssembler {
  private readonly maxLength: number;
  private buffer = '';
  private skipping = false;

  constructor(options: TokenAssemblerOptions) {
    if (!Number.isSafeInteger(options.maxLength) || options.maxLength < 1) {
      throw new RangeError(`maxLength must be a positive integer, got ${String(options.maxLength)}`);
    }
    this.maxLength = options.maxLength;
  }

  push(ev: KeyboardEvent): TokenResult {
    switch (ev.kind) {
      case 'char':
        if (this.skipping) return undefined;
        if (this.buffer.length + ev.char.length > this.maxLength) {
          this.buffer = '';
          this.skipping = true;
          return { overflow: true };
        }
        this.buffer += ev.char;
        return undefined;
      case 'enter': {
        const token = this.buffer;
        this.buffer = '';
        if (this.skipping) {
          this.skipping = false;
          return undefined;
        }
        return token.length === 0 ? undefined : { token };
      }
      case 'error':
        // Only mid-token: an error while idle must not swallow the next, intact scan.
        if (this.buffer.length > 0) {
          this.buffer = '';
          this.skipping = true;
        }
        return undefined;
    }
  }

  /** Drops any partial token and the skip state. */
  reset(): void {
    this.buffer = '';
    this.skipping = false;
  }
}
