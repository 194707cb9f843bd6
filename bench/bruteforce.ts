/**
 * Brute force at the keypad: how many PINs an attacker standing at one keypad can try, against the real
 * lockout state machine (src/core/lockout.ts) on a simulated clock, and what that means for a 6-digit PIN.
 *
 * The attacker is optimal within a family of strategies and knows the algorithm and the configuration:
 * - typing a 6-digit PIN and `#` takes TYPE_MS (2 s): no entry is faster, whatever the strategy;
 * - it sees the amber "locked out" feedback, so it never wastes an entry on a locked keypad (entries while
 *   locked are denied without counting, so this only saves it time);
 * - it picks its pace (from flat out to just slow enough never to trip the per-minute rule), and a cycle
 *   length: after `locksPerCycle` lockouts it makes whatever guesses would not lock, then stays quiet for
 *   `resetAfterMs` so the escalation resets, and starts again; or it never goes quiet;
 * - nobody else uses the keypad meanwhile (a grant resets the lockout: see docs/security.md).
 * Every strategy is simulated over a year, and for each horizon (first hour, first day, the year) the best
 * strategy for that horizon is reported. Guesses are distinct PINs, so after n guesses a given PIN is found
 * with probability n / 10^6, and one of k valid PINs with 1 - C(10^6 - k, n) / C(10^6, n).
 */
import {
  DEFAULT_LOCKOUT,
  isLockedOut,
  OPEN_LOCKOUT,
  recordFailure,
  type LockoutConfig,
  type LockoutState,
} from '../src/core/lockout.js';
import { emit, log } from './stats.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
export const YEAR = 365 * DAY;
/** Typing six digits and `#` on a membrane keypad. */
export const TYPE_MS = 2 * SECOND;
export const PIN_SPACE = 1_000_000;

export interface Strategy {
  /** Time between two submitted guesses while the keypad is open (at least TYPE_MS). */
  readonly gapMs: number;
  /** Lockouts taken before going quiet for the reset; Infinity = never quiet. */
  readonly locksPerCycle: number;
}

/** Submission times of every guess the strategy makes within `durationMs` (0 = the first guess). */
export function simulateAttack(config: LockoutConfig, strategy: Strategy, durationMs: number): number[] {
  const gap = Math.max(TYPE_MS, strategy.gapMs);
  const guesses: number[] = [];
  let s: LockoutState = OPEN_LOCKOUT;
  // Monotonic time starts well after 0 on a real panel (the state machine treats lockedUntil 0 as open).
  const t0 = 10 * DAY;
  let now = t0;
  let locks = 0;
  const end = t0 + durationMs;
  while (now < end) {
    if (isLockedOut(s, now)) {
      now = s.lockedUntil;
      continue;
    }
    const r = recordFailure(s, now, config);
    if (r.lockedForMs !== null && locks + 1 > strategy.locksPerCycle) {
      // This guess would start one lockout too many: stop guessing, stay quiet until the escalation resets.
      const quietSince = Math.max(s.lastFailureAt ?? now, s.lockedUntil);
      now = Math.max(now, quietSince + config.resetAfterMs);
      locks = 0;
      continue;
    }
    guesses.push(now - t0);
    s = r.state;
    if (r.lockedForMs !== null) locks++;
    now += gap;
  }
  return guesses;
}

/** The strategies tried: every pace that matters × every cycle length up to past the cap. */
export function strategies(config: LockoutConfig): Strategy[] {
  const paced = Math.ceil(config.windowMs / Math.max(1, config.maxFailures - 1)) + 1;
  const gaps = [...new Set([TYPE_MS, 5 * SECOND, 10 * SECOND, paced, 2 * paced, MINUTE, 10 * MINUTE])];
  const cycles = [...Array.from({ length: 18 }, (_, i) => i + 1), Infinity];
  return gaps.flatMap((gapMs) => cycles.map((locksPerCycle) => ({ gapMs, locksPerCycle })));
}

/** Probability that at least one of `k` valid PINs is among `n` distinct guesses out of `space`. */
export function probabilityFound(n: number, k = 1, space = PIN_SPACE): number {
  if (n >= space - k + 1) return 1;
  // 1 - prod_{i<k} (space - n - i) / (space - i), in logs for precision.
  let logMiss = 0;
  for (let i = 0; i < k; i++) logMiss += Math.log1p(-n / (space - i));
  return -Math.expm1(logMiss);
}

export interface BruteForceFigures {
  readonly firstHour: number;
  readonly firstDay: number;
  readonly year: number;
  /** Guesses per hour in the worst year strategy's last 300 days. */
  readonly steadyPerHour: number;
  readonly best: Strategy;
  readonly noLockoutPerHour: number;
}

/** The worst case over strategies(), per horizon. */
export function bruteForce(config: LockoutConfig = DEFAULT_LOCKOUT): BruteForceFigures {
  let firstHour = 0;
  let firstDay = 0;
  let year = 0;
  let best: Strategy = { gapMs: TYPE_MS, locksPerCycle: Infinity };
  let bestGuesses: number[] = [];
  for (const st of strategies(config)) {
    const g = simulateAttack(config, st, YEAR);
    firstHour = Math.max(firstHour, g.filter((x) => x < HOUR).length);
    firstDay = Math.max(firstDay, g.filter((x) => x < DAY).length);
    if (g.length > year) {
      year = g.length;
      best = st;
      bestGuesses = g;
    }
  }
  const steadyFrom = YEAR - 300 * DAY;
  const steady = bestGuesses.filter((x) => x >= steadyFrom).length / ((YEAR - steadyFrom) / HOUR);
  return { firstHour, firstDay, year, steadyPerHour: steady, best, noLockoutPerHour: HOUR / TYPE_MS };
}

/** bench/run.ts: the figures as JSON lines; the baseline is the same attacker with no lockout. */
export function benchBruteForce(): void {
  log('bruteforce: simulating an optimal keypad attacker for a year against the default lockout');
  const f = bruteForce(DEFAULT_LOCKOUT);
  const free = f.noLockoutPerHour;
  const base = 'bruteforce.attempts_per_hour.no_lockout';
  emit('bruteforce.attempts_per_hour.first_hour', f.firstHour, 'attempts/h', base, free);
  emit('bruteforce.attempts_per_hour.first_day', f.firstDay / 24, 'attempts/h', base, free);
  emit('bruteforce.attempts_per_hour.steady', f.steadyPerHour, 'attempts/h', base, free);
  emit(
    'bruteforce.attempts_per_year',
    f.year,
    'attempts',
    'bruteforce.attempts_per_year.no_lockout',
    free * 24 * 365,
  );
  for (const k of [1, 10, 100]) {
    emit(
      `bruteforce.p_found_within_year.k${k}`,
      probabilityFound(f.year, k),
      'probability',
      `bruteforce.p_found_within_year.k${k}.no_lockout`,
      probabilityFound(free * 24 * 365, k),
    );
  }
  log(
    `bruteforce: worst strategy for the year: a guess every ${f.best.gapMs} ms, ${Number.isFinite(f.best.locksPerCycle) ? `quiet after ${f.best.locksPerCycle} lockouts` : 'never quiet'}`,
  );
}
