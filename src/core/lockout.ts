/**
 * Lockout after repeated wrong credentials on one input, as a pure state machine over a monotonic clock
 * (a wall clock that jumps backwards must never shorten or reset a lockout).
 *
 * After `maxFailures` denials within `windowMs`, the input is locked for `lockMs`; each further lockout
 * doubles it (up to `maxLockMs`). A grant, or `resetAfterMs` without any failure, returns to the first
 * level.
 *
 * Slow guessing is caught too: `maxConsecutive` failures with no grant in between (and no quiet gap of
 * `resetAfterMs`) lock the input the same way, however far apart they are — otherwise one guess every
 * 15 s would never trip the per-minute rule and would try every 4-digit PIN in two days. Past that count
 * every further failure locks again, one guess per lockout, until a grant or the quiet gap.
 *
 * With the defaults (5 a minute or 20 in a row, 60 s doubling to 24 h, a quiet month resets) an optimal
 * attacker alone at a keypad gets about 25 guesses in the first hour, 30 in the first day and one a day
 * after that: under 400 a year, so a given 6-digit PIN survives a year with probability 99.96 %
 * (bench/bruteforce.ts simulates it; docs/security.md has the figures). A legitimate user never meets the
 * consecutive rule: any grant on the input resets it.
 */
export interface LockoutConfig {
  readonly maxFailures: number;
  readonly windowMs: number;
  readonly lockMs: number;
  readonly maxLockMs: number;
  readonly resetAfterMs: number;
  readonly maxConsecutive: number;
}

export const DEFAULT_LOCKOUT: LockoutConfig = {
  maxFailures: 5,
  windowMs: 60_000,
  lockMs: 60_000,
  maxLockMs: 86_400_000,
  resetAfterMs: 30 * 86_400_000,
  maxConsecutive: 20,
};

export interface LockoutState {
  /** Monotonic times of recent failures, oldest first (at most maxFailures kept). */
  readonly failures: readonly number[];
  /** Locked until this monotonic time (exclusive); 0 when not locked. */
  readonly lockedUntil: number;
  /** How many lockouts in a row (0 = none yet): the next one lasts lockMs * 2^level. */
  readonly level: number;
  readonly lastFailureAt: number | null;
  /** Failures since the last grant, lockout or quiet gap (the slow-guessing rule). */
  readonly consecutive: number;
}

export const OPEN_LOCKOUT: LockoutState = {
  failures: [],
  lockedUntil: 0,
  level: 0,
  lastFailureAt: null,
  consecutive: 0,
};

export function isLockedOut(state: LockoutState, now: number): boolean {
  return now < state.lockedUntil;
}

/** Records a denial; returns the new state and, when it starts a lockout, how long it lasts. */
export function recordFailure(
  state: LockoutState,
  now: number,
  config: LockoutConfig = DEFAULT_LOCKOUT,
): { state: LockoutState; lockedForMs: number | null } {
  // A locked input cannot fail: its attempts are denied `locked_out` and change nothing (an over-long keypad
  // entry typed during a lockout used to count, and past maxConsecutive would have extended the lockout).
  if (isLockedOut(state, now)) return { state, lockedForMs: null };
  // Quiet time counts from the end of the last lockout, not from the failure that started it: a locked input
  // cannot fail, so time spent locked is not "without any failure". Counting from the last failure let the
  // default 24 h lockout (maxLockMs == resetAfterMs) drop an attacker who keeps guessing back to 60 s
  // lockouts every time it ended (~25 guesses a day instead of 5), and let a failure recorded during a long
  // lockout reset the level and shorten the lockout in force.
  const quietSince = state.lastFailureAt === null ? null : Math.max(state.lastFailureAt, state.lockedUntil);
  const quiet = quietSince !== null && now - quietSince >= config.resetAfterMs;
  const level = quiet ? 0 : state.level;
  const consecutive = (quiet ? 0 : state.consecutive) + 1;
  const failures = [...state.failures.filter((t) => now - t < config.windowMs), now];
  if (failures.length >= config.maxFailures || consecutive >= config.maxConsecutive) {
    // Never end before a lockout already in force: after a success (level 0) a failure recorded while still
    // locked would otherwise replace the running lockout with a shorter first-level one.
    const lockedUntil = Math.max(
      state.lockedUntil,
      now + Math.min(config.lockMs * 2 ** level, config.maxLockMs),
    );
    // `consecutive` is kept: once it has reached maxConsecutive, every further failure locks again (and
    // escalates) until a grant or a quiet gap. Resetting it here gave a patient attacker maxConsecutive
    // guesses per lockout, 20 a day at the 24 h cap.
    return {
      state: { failures: [], lockedUntil, level: level + 1, lastFailureAt: now, consecutive },
      lockedForMs: lockedUntil - now,
    };
  }
  return {
    state: { failures, lockedUntil: state.lockedUntil, level, lastFailureAt: now, consecutive },
    lockedForMs: null,
  };
}

/** A grant clears the failure history and the escalation level. */
export function recordSuccess(state: LockoutState): LockoutState {
  return state.lockedUntil === 0 &&
    state.failures.length === 0 &&
    state.level === 0 &&
    state.consecutive === 0
    ? state
    : { ...OPEN_LOCKOUT, lockedUntil: state.lockedUntil };
}
