/**
 * Lockout after repeated wrong credentials on one input, as a pure state machine over a monotonic clock
 * (a wall clock that jumps backwards must never shorten or reset a lockout).
 *
 * After `maxFailures` denials within `windowMs`, the input is locked for `lockMs`; each further lockout
 * doubles it (up to `maxLockMs`). A grant, or `resetAfterMs` without any failure, returns to the first
 * level. With the defaults (5 per minute, 60 s doubling, capped at 24 h) a keypad attacker gets a handful
 * of guesses a day once the lockout has escalated.
 *
 * Slow guessing is caught too: `maxConsecutive` failures with no grant in between (and no quiet gap of
 * `resetAfterMs`) lock the input the same way, however far apart they are — otherwise one guess every
 * 15 s would never trip the per-minute rule and would try every 4-digit PIN in two days.
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
  resetAfterMs: 86_400_000,
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
    return {
      state: { failures: [], lockedUntil, level: level + 1, lastFailureAt: now, consecutive: 0 },
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
