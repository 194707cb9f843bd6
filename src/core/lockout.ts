/**
 * Lockout after repeated guesses, per input AND per factor (keypad PINs, cards, QR codes each have their own
 * state), as pure state machines over a monotonic clock (a wall clock that jumps backwards must never
 * shorten or reset a lockout).
 *
 * Two rules, both fed only by guesses (countsAsGuess()):
 * - **Burst**: `maxFailures` guesses within `windowMs` lock the factor for `lockMs`; each further burst
 *   lockout doubles it (up to `maxLockMs`).
 * - **Budget**: every guess spends one of `maxConsecutive` guesses, and one spent guess is forgiven every
 *   `forgiveMs` (a leaky bucket). While the budget is spent the factor is locked until the next guess is
 *   forgiven. Slow guessing is caught by it however far apart the guesses are.
 *
 * Time forgives; a grant does not. Nobody buys guesses with a valid credential: neither the attacker with
 * their own PIN or QR (four guesses, own QR, four guesses… used to reset the whole input) nor the attacker
 * who hides among residents at a busy door (every resident's grant used to reset it too). Residents' typos
 * spend the same budget as an attacker's guesses, so a busy keypad would end up locked much of the time; one
 * narrow exception keeps it usable: a typo (a PIN one keystroke off the right one, typed just before it)
 * gives its budget guess back, at most once per pass per `forgiveMs` (typoStep()). That is worth at most one
 * guess a day to a holder of a valid PIN, and only among the ~135 PINs one keystroke off their own; the
 * burst rule never gives anything back. bench/bruteforce.ts measures both sides; docs/security.md has the
 * figures.
 *
 * With the defaults (5 a minute, 60 s doubling to 24 h; a budget of 20, one forgiven a day) an optimal
 * attacker at one keypad gets 20 guesses in the first hour and the first day and one a day after that:
 * about 385 a year, so a given 6-digit PIN survives a year with probability 99.96 %, whatever it
 * interleaves (other factors, residents' grants); with its own valid PIN, at most one more a day among the
 * PINs next to its own.
 */
import type { CredentialType, DenyReason } from './decide.js';

export interface LockoutConfig {
  /** Burst rule: this many guesses within windowMs lock the factor. */
  readonly maxFailures: number;
  readonly windowMs: number;
  /** The first burst lockout; each further one doubles, up to maxLockMs. */
  readonly lockMs: number;
  readonly maxLockMs: number;
  /** A quiet period (no guess since the last lockout ended) that forgets the escalation and the budget. */
  readonly resetAfterMs: number;
  /** Budget rule: this many guesses not yet forgiven lock the factor (the name predates the budget). */
  readonly maxConsecutive: number;
  /** One spent guess of the budget is forgiven every forgiveMs (grants forgive nothing). */
  readonly forgiveMs: number;
  /**
   * A PIN typed one keystroke off (typoStep()) and followed within TYPO_WINDOW_MS by the right PIN gives its
   * budget guess back, at most once per pass per forgiveMs. Never the burst rule's count.
   */
  readonly forgiveTypos: boolean;
}

export const DEFAULT_LOCKOUT: LockoutConfig = {
  maxFailures: 5,
  windowMs: 60_000,
  lockMs: 60_000,
  maxLockMs: 86_400_000,
  resetAfterMs: 30 * 86_400_000,
  maxConsecutive: 20,
  forgiveMs: 86_400_000,
  forgiveTypos: true,
};

/** The factors that lock independently: a wrong PIN never locks the card reader beside the keypad. */
export type LockoutFactor = CredentialType;
export const LOCKOUT_FACTORS: readonly LockoutFactor[] = ['pin', 'card', 'qr'];

export interface LockoutState {
  /** Monotonic times of recent guesses, oldest first (at most maxFailures kept): the burst rule. */
  readonly failures: readonly number[];
  /** Locked until this monotonic time (exclusive); 0 when not locked. */
  readonly lockedUntil: number;
  /** How many burst lockouts so far (0 = none yet): the next one lasts lockMs * 2^level. */
  readonly level: number;
  readonly lastFailureAt: number | null;
  /** Guesses of the budget spent and not yet forgiven. */
  readonly spent: number;
  /** The monotonic time from which the next forgiveness counts; null when nothing is spent. */
  readonly forgiveFrom: number | null;
}

export const OPEN_LOCKOUT: LockoutState = {
  failures: [],
  lockedUntil: 0,
  level: 0,
  lastFailureAt: null,
  spent: 0,
  forgiveFrom: null,
};

export function isLockedOut(state: LockoutState, now: number): boolean {
  return now < state.lockedUntil;
}

/**
 * The outcomes that count as a guess: a credential that matched nothing (`unknown_credential`), a token
 * that failed its check (`invalid_token`), and `clock_untrusted`. The last is given only for a credential
 * that matched a pass, but while the clock is untrusted an unknown PIN answers `unknown_credential`: if only
 * that one counted, the lockout counter would tell a guesser which PINs exist. Everything else that matched a
 * pass (expired, not yet valid, outside its hours, used up, wrong door, revoked) is a person with a real
 * credential at the wrong time, not a guess; `locked_out` and `store_unavailable` are not the person's doing.
 * Malformed entries are guesses too: a value refused before any lookup (`malformed_credential`: a lone
 * UTF-16 surrogate, an empty card number), and an over-long keypad entry or a garbled card read, which the
 * input controller records with recordGuess() directly.
 */
const GUESS_REASONS: ReadonlySet<string> = new Set<string>([
  'unknown_credential',
  'invalid_token',
  'malformed_credential',
  'clock_untrusted',
] satisfies readonly (DenyReason | 'invalid_token')[]);

export function countsAsGuess(outcome: {
  readonly granted: boolean;
  readonly reason: string | null;
}): boolean {
  return !outcome.granted && outcome.reason !== null && GUESS_REASONS.has(outcome.reason);
}

/** The state with every forgiveness due by `now` applied (pure; the same state when nothing is due). */
export function forgive(
  state: LockoutState,
  now: number,
  config: LockoutConfig = DEFAULT_LOCKOUT,
): LockoutState {
  if (state.forgiveFrom === null || state.spent === 0) return state;
  const ticks = Math.floor((now - state.forgiveFrom) / config.forgiveMs);
  if (ticks <= 0) return state;
  const spent = Math.max(0, state.spent - ticks);
  return spent === 0
    ? // Everything forgiven: the burst escalation starts again from lockMs too.
      { ...state, spent: 0, forgiveFrom: null, level: 0 }
    : { ...state, spent, forgiveFrom: state.forgiveFrom + ticks * config.forgiveMs };
}

/** Guesses left in the budget at `now` (for the status). */
export function guessesLeft(
  state: LockoutState,
  now: number,
  config: LockoutConfig = DEFAULT_LOCKOUT,
): number {
  return Math.max(0, config.maxConsecutive - forgive(state, now, config).spent);
}

/** Which rule started a lockout. */
export type LockoutRule = 'burst' | 'budget';

/** Records a guess; returns the new state and, when it starts a lockout, how long it lasts and why. */
export function recordGuess(
  state: LockoutState,
  now: number,
  config: LockoutConfig = DEFAULT_LOCKOUT,
): { state: LockoutState; lockedForMs: number | null; rule?: LockoutRule } {
  // A locked factor cannot be guessed at: its attempts are denied `locked_out` and change nothing.
  if (isLockedOut(state, now)) return { state, lockedForMs: null };
  // Quiet time counts from the end of the last lockout, not from the guess that started it: a locked factor
  // cannot be guessed at, so time spent locked is not "without any guess".
  const quietSince = state.lastFailureAt === null ? null : Math.max(state.lastFailureAt, state.lockedUntil);
  const quiet = quietSince !== null && now - quietSince >= config.resetAfterMs;
  const s = quiet ? OPEN_LOCKOUT : forgive(state, now, config);
  const spent = s.spent + 1;
  const forgiveFrom = s.forgiveFrom ?? now;
  const failures = [...state.failures.filter((t) => now - t < config.windowMs), now];
  const burst = failures.length >= config.maxFailures;
  const budget = spent >= config.maxConsecutive;
  if (!burst && !budget) {
    return {
      state: {
        failures,
        lockedUntil: state.lockedUntil,
        level: s.level,
        lastFailureAt: now,
        spent,
        forgiveFrom,
      },
      lockedForMs: null,
    };
  }
  // Never end before a lockout already in force.
  let lockedUntil = state.lockedUntil;
  if (burst)
    lockedUntil = Math.max(lockedUntil, now + Math.min(config.lockMs * 2 ** s.level, config.maxLockMs));
  if (budget) {
    // Locked until enough is forgiven to allow one more guess (normally the next forgiveness; capped so that
    // a config with forgiveMs above maxLockMs still keeps every lockout within maxLockMs).
    const open = forgiveFrom + (spent - config.maxConsecutive + 1) * config.forgiveMs;
    lockedUntil = Math.max(lockedUntil, Math.min(open, now + config.maxLockMs));
  }
  return {
    state: {
      failures: burst ? [] : failures,
      lockedUntil,
      level: burst ? s.level + 1 : s.level,
      lastFailureAt: now,
      spent,
      forgiveFrom,
    },
    lockedForMs: lockedUntil - now,
    rule: burst ? 'burst' : 'budget',
  };
}

/** The lockout states of one input, one per factor. */
export type FactorLockouts = Readonly<Record<LockoutFactor, LockoutState>>;

export const OPEN_LOCKOUTS: FactorLockouts = { pin: OPEN_LOCKOUT, card: OPEN_LOCKOUT, qr: OPEN_LOCKOUT };

/**
 * One decision's effect on an input's lockouts: a guess is recorded on its own factor; anything else (a
 * grant above all) changes nothing. The input controller and bench/bruteforce.ts both go through here.
 */
export function recordOutcome(
  lockouts: FactorLockouts,
  factor: LockoutFactor,
  outcome: { readonly granted: boolean; readonly reason: string | null },
  now: number,
  config: LockoutConfig = DEFAULT_LOCKOUT,
): { lockouts: FactorLockouts; lockedForMs: number | null; rule?: LockoutRule } {
  if (!countsAsGuess(outcome)) return { lockouts, lockedForMs: null };
  const r = recordGuess(lockouts[factor], now, config);
  if (r.state === lockouts[factor]) return { lockouts, lockedForMs: null };
  return {
    lockouts: { ...lockouts, [factor]: r.state },
    lockedForMs: r.lockedForMs,
    ...(r.rule !== undefined && { rule: r.rule }),
  };
}

/** Takes one guess back from the budget (a forgiven typo). The burst window and any lockout stay as they are. */
export function refundGuess(state: LockoutState): LockoutState {
  if (state.spent === 0) return state;
  const spent = state.spent - 1;
  return { ...state, spent, forgiveFrom: spent === 0 ? null : state.forgiveFrom };
}

/**
 * One keystroke off: one digit changed, two neighbours swapped, one digit missing or one extra (the
 * Damerau-Levenshtein distance is exactly 1). Most keypad typos are of this kind.
 */
export function isNearMiss(typed: string, right: string): boolean {
  if (typed === right) return false;
  const d = typed.length - right.length;
  if (d === 0) {
    const diff: number[] = [];
    for (let i = 0; i < typed.length && diff.length < 3; i++) if (typed[i] !== right[i]) diff.push(i);
    if (diff.length === 1) return true;
    const [a, b] = diff;
    return (
      diff.length === 2 && a !== undefined && b === a + 1 && typed[a] === right[b] && typed[b] === right[a]
    );
  }
  if (Math.abs(d) !== 1) return false;
  const [long, short] = d > 0 ? [typed, right] : [right, typed];
  for (let i = 0; i < long.length; i++) if (long.slice(0, i) + long.slice(i + 1) === short) return true;
  return false;
}

/** Window between a typo and the right PIN for the typo to be forgiven. */
export const TYPO_WINDOW_MS = 30_000;

/**
 * What a keypad remembers to recognise a typo, in memory only (never saved: it holds the last wrong PIN
 * typed, for at most TYPO_WINDOW_MS): the last PIN guess, and when each pass last had a typo forgiven.
 */
export interface TypoMemory {
  readonly last: { readonly value: string; readonly at: number } | null;
  readonly forgivenAt: ReadonlyMap<string, number>;
}

export const NO_TYPOS: TypoMemory = { last: null, forgivenAt: new Map() };

/**
 * After a PIN decision: whether it forgives the guess just before it (a typo of this pass's PIN), and what
 * to remember. Only the entry immediately before a grant can be forgiven, only if one keystroke off the
 * granted PIN, within TYPO_WINDOW_MS, and once per pass per forgiveMs (so a holder of a valid PIN cannot
 * turn it into a stream of free guesses).
 */
export function typoStep(
  memory: TypoMemory,
  decision: { readonly granted: boolean; readonly reason: string | null; readonly passId: string | null },
  value: string,
  now: number,
  config: LockoutConfig = DEFAULT_LOCKOUT,
): { memory: TypoMemory; refund: boolean } {
  if (countsAsGuess(decision)) return { memory: { ...memory, last: { value, at: now } }, refund: false };
  const last = memory.last;
  const cleared = last === null ? memory : { ...memory, last: null };
  if (!decision.granted || decision.passId === null || last === null || !config.forgiveTypos)
    return { memory: cleared, refund: false };
  const before = memory.forgivenAt.get(decision.passId);
  if (
    now - last.at > TYPO_WINDOW_MS ||
    !isNearMiss(last.value, value) ||
    (before !== undefined && now - before < config.forgiveMs)
  )
    return { memory: cleared, refund: false };
  // Forget passes whose last forgiven typo is old enough not to matter (keeps the map small).
  const forgivenAt = new Map([...memory.forgivenAt].filter(([, at]) => now - at < config.forgiveMs));
  forgivenAt.set(decision.passId, now);
  return { memory: { last: null, forgivenAt }, refund: true };
}
