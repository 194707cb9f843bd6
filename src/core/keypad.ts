/**
 * PIN entry on a keypad as a pure state machine: digits collect, `#` submits, `*` clears, an inactivity
 * timeout clears, and an entry longer than the longest PIN is rejected at once (so an attacker cannot
 * type an arbitrarily long string, and a user hears the deny tone instead of waiting).
 */
export interface KeypadConfig {
  /** Idle time after which a partial entry is discarded. */
  readonly timeoutMs: number;
  /** Longest PIN accepted (the pass format allows 12). */
  readonly maxDigits: number;
}

export const DEFAULT_KEYPAD: KeypadConfig = { timeoutMs: 10_000, maxDigits: 12 };

export interface KeypadState {
  readonly digits: string;
  /** Monotonic ms of the last key, or null when nothing is entered. */
  readonly lastKeyAt: number | null;
}

export const EMPTY_KEYPAD: KeypadState = { digits: '', lastKeyAt: null };

export type KeypadInput =
  | { readonly kind: 'key'; readonly key: string; readonly now: number }
  | { readonly kind: 'tick'; readonly now: number };

export type KeypadEffect =
  | { readonly kind: 'click' }
  | { readonly kind: 'submit'; readonly pin: string }
  | { readonly kind: 'cleared'; readonly reason: 'star' | 'timeout' }
  | { readonly kind: 'rejected'; readonly reason: 'too_long' };

export interface KeypadStep {
  readonly state: KeypadState;
  readonly effects: readonly KeypadEffect[];
}

/** When a pending entry expires (monotonic ms), or null when there is none: the caller's next tick. */
export function keypadDeadline(state: KeypadState, config: KeypadConfig): number | null {
  return state.lastKeyAt === null ? null : state.lastKeyAt + config.timeoutMs;
}

export function keypadStep(
  state: KeypadState,
  input: KeypadInput,
  config: KeypadConfig = DEFAULT_KEYPAD,
): KeypadStep {
  const effects: KeypadEffect[] = [];
  let s = state;
  if (s.lastKeyAt !== null && input.now - s.lastKeyAt >= config.timeoutMs) {
    s = EMPTY_KEYPAD;
    effects.push({ kind: 'cleared', reason: 'timeout' });
  }
  if (input.kind === 'tick') return { state: s, effects };
  const { key, now } = input;
  if (key >= '0' && key <= '9' && key.length === 1) {
    const digits = s.digits + key;
    if (digits.length > config.maxDigits) {
      return { state: EMPTY_KEYPAD, effects: [...effects, { kind: 'rejected', reason: 'too_long' }] };
    }
    return { state: { digits, lastKeyAt: now }, effects: [...effects, { kind: 'click' }] };
  }
  if (key === '*') {
    return {
      state: EMPTY_KEYPAD,
      effects: [...effects, { kind: 'click' }, { kind: 'cleared', reason: 'star' }],
    };
  }
  if (key === '#') {
    if (s.digits === '') return { state: EMPTY_KEYPAD, effects: [...effects, { kind: 'click' }] };
    return { state: EMPTY_KEYPAD, effects: [...effects, { kind: 'submit', pin: s.digits }] };
  }
  return { state: s, effects }; // not a keypad key: ignored
}
