/**
 * Brute force at the keypad: how many PINs an attacker at one input can try, against the real lockout
 * (src/core/lockout.ts: recordOutcome, the function the input controller calls for every decision) on a
 * simulated clock, and what that means for a 6-digit PIN; and the other side of the trade: how often a
 * resident at a busy door finds the keypad locked.
 *
 * The attacker is optimal within a family of strategies and knows the algorithm and the configuration:
 * - typing a 6-digit PIN and `#` takes TYPE_MS (2 s), presenting a card or a QR code SCAN_MS (1 s);
 * - it sees the amber "locked out" feedback, so it never wastes an entry on a locked factor;
 * - it picks its pace (from flat out to just slow enough never to trip the per-minute rule), and a cycle
 *   length: after `locksPerCycle` lockouts it makes whatever guesses would not lock, then stays quiet for
 *   `resetAfterMs` so everything resets, and starts again; or it never goes quiet;
 * - and a mode:
 *   - `alone`: nobody else uses the input;
 *   - `own-pin` / `own-qr`: it holds a valid PIN (or QR code) of its own and presents it after every
 *     `every` guesses (the grant used to reset the lockout: four guesses, own QR, four guesses…);
 *   - `alternate-card`: it guesses a card number between two PINs (one lockout per input used to count
 *     both);
 *   - `busy-door`: residents enter with their own PINs all day (BUSY_DOOR_PER_DAY grants between 07:00 and
 *     23:00), every grant used to reset the lockout.
 * Every strategy is simulated over a year and, for each horizon (first hour, first day, the year), the best
 * strategy for that horizon is reported. Guesses are distinct PINs, so after n guesses a given PIN is found
 * with probability n / 10^6, and one of k valid PINs with 1 - C(10^6 - k, n) / C(10^6, n).
 *
 * The same attacker against the old wiring (one lockout per input, reset by every grant: GRANT_RESETS) is the
 * same-run baseline.
 */
import {
  DEFAULT_LOCKOUT,
  guessesLeft,
  isLockedOut,
  isNearMiss,
  NO_TYPOS,
  OPEN_LOCKOUT,
  OPEN_LOCKOUTS,
  recordGuess,
  recordOutcome,
  refundGuess,
  typoStep,
  type FactorLockouts,
  type LockoutConfig,
  type LockoutFactor,
  type TypoMemory,
} from '../src/core/lockout.js';
import { emit, log, Prng } from './stats.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
export const YEAR = 365 * DAY;
/** Typing six digits and `#` on a membrane keypad. */
export const TYPE_MS = 2 * SECOND;
/** Presenting a card or holding a QR code to the scanner. */
export const SCAN_MS = SECOND;
export const PIN_SPACE = 1_000_000;
/** Residents' PIN grants a day in the `busy-door` mode. */
export const BUSY_DOOR_PER_DAY = 500;

export type Mode = 'alone' | 'own-pin' | 'own-qr' | 'alternate-card' | 'busy-door';
export const MODES: readonly Mode[] = ['alone', 'own-pin', 'own-qr', 'alternate-card', 'busy-door'];

export interface Strategy {
  readonly mode: Mode;
  /** Time between two submitted PIN guesses while the keypad is open (at least TYPE_MS). */
  readonly gapMs: number;
  /** Lockouts taken before going quiet for the reset; Infinity = never quiet. */
  readonly locksPerCycle: number;
  /**
   * own-pin / own-qr: guesses between two presentations of the attacker's own credential; busy-door: guesses
   * before waiting for the next resident's grant (which used to reset the lockout).
   */
  readonly every?: number;
  /**
   * own-pin: play the typo rule. Keep a guess in reserve so that a typo of its own PIN never trips the budget,
   * type one (then its own PIN) whenever the once-a-day forgiveness is due, and wait for it otherwise.
   */
  readonly typoPlay?: boolean;
}

type Outcome = { readonly granted: boolean; readonly reason: string | null; readonly passId: string | null };
const GUESS: Outcome = { granted: false, reason: 'unknown_credential', passId: null };
const grant = (passId: string): Outcome => ({ granted: true, reason: null, passId });

/** The attacker's own valid PIN in the own-pin mode. */
export const OWN_PIN = '482915';

/** Every PIN one keystroke off `pin` (isNearMiss): the only guesses a forgiven typo can give back. */
export function nearMisses(pin: string): string[] {
  const out = new Set<string>();
  const digits = '0123456789';
  for (let i = 0; i <= pin.length; i++) {
    for (const d of digits) out.add(pin.slice(0, i) + d + pin.slice(i)); // one extra
    if (i < pin.length) {
      out.add(pin.slice(0, i) + pin.slice(i + 1)); // one missing
      for (const d of digits) out.add(pin.slice(0, i) + d + pin.slice(i + 1)); // one changed
      if (i + 1 < pin.length)
        out.add(pin.slice(0, i) + (pin[i + 1] ?? '') + (pin[i] ?? '') + pin.slice(i + 2));
    }
  }
  out.delete(pin);
  return [...out].filter((x) => isNearMiss(x, pin));
}

/** How a decision updates an input's lockouts. */
export type Policy = (
  lockouts: FactorLockouts,
  factor: LockoutFactor,
  outcome: Outcome,
  now: number,
  config: LockoutConfig,
) => { lockouts: FactorLockouts; lockedForMs: number | null };

/** The real thing: what the input controller does. */
export const REAL: Policy = recordOutcome;

/**
 * The old wiring, for the baseline: one state for the whole input (every factor shares it) and every grant
 * resets it (except a lockout in force). Any denial counted.
 */
export const GRANT_RESETS: Policy = (lockouts, _factor, outcome, now, config) => {
  const s = lockouts.pin;
  const all = (x: typeof s): FactorLockouts => ({ pin: x, card: x, qr: x });
  if (outcome.granted)
    return { lockouts: all({ ...OPEN_LOCKOUT, lockedUntil: s.lockedUntil }), lockedForMs: null };
  const r = recordGuess(s, now, config);
  return { lockouts: all(r.state), lockedForMs: r.lockedForMs };
};

/** Residents' arrival times (monotonic, from t0) for `durationMs`: `perDay` a day between 07:00 and 23:00. */
function arrivals(perDay: number, durationMs: number, t0: number, seed: number): number[] {
  const rng = new Prng(seed);
  const out: number[] = [];
  for (let day = 0; day * DAY < durationMs; day++) {
    for (let i = 0; i < perDay; i++) out.push(t0 + day * DAY + 7 * HOUR + Math.floor(rng.next() * 16 * HOUR));
  }
  return out.sort((a, b) => a - b).filter((t) => t < t0 + durationMs);
}

export interface AttackResult {
  /** Times of the PIN guesses accepted (ms from the start). */
  readonly pinGuesses: number[];
  /** Card guesses accepted (alternate-card). */
  readonly cardGuesses: number;
}

/** Simulates one strategy for `durationMs` against `policy` (the real lockout unless a baseline). */
export function simulateAttack(
  config: LockoutConfig,
  strategy: Strategy,
  durationMs: number,
  policy: Policy = REAL,
): AttackResult {
  const gap = Math.max(TYPE_MS, strategy.gapMs);
  const pinGuesses: number[] = [];
  let cardGuesses = 0;
  let l: FactorLockouts = OPEN_LOCKOUTS;
  // The input controller's typo memory (the real one only: the old wiring had none).
  let typos: TypoMemory = NO_TYPOS;
  const real = policy === REAL;
  // Monotonic time starts well after 0 on a real panel (the state machine treats lockedUntil 0 as open).
  const t0 = 10 * DAY;
  const end = t0 + durationMs;
  const busy = strategy.mode === 'busy-door';
  const residents = busy ? arrivals(BUSY_DOOR_PER_DAY, durationMs, t0, 1) : [];
  const rng = new Prng(3);
  let ri = 0;
  let now = t0;
  let locks = 0;
  let sinceOwn = 0;
  const every = strategy.every ?? 1;
  // The guesses the own-pin attacker makes just before its own PIN: typos of it, while any are left.
  const near = strategy.mode === 'own-pin' ? nearMisses(OWN_PIN) : [];
  let farPin = 0;
  const pinDecision = (outcome: Outcome, value: string, at: number): number | null => {
    const r = policy(l, 'pin', outcome, at, config);
    l = r.lockouts;
    if (real) {
      const t = typoStep(typos, outcome, value, at, config);
      typos = t.memory;
      if (t.refund) l = { ...l, pin: refundGuess(l.pin) };
    }
    return r.lockedForMs;
  };
  const residentsUntil = (until: number): void => {
    // Residents who came before `until` (their PIN works unless the keypad is locked).
    while (ri < residents.length && (residents[ri] ?? end) <= until) {
      const at = residents[ri++] ?? end;
      if (isLockedOut(l.pin, at)) continue;
      pinDecision(grant(`resident-${rng.int(0, 299)}`), rng.digits(6), at);
      sinceOwn = 0;
    }
  };
  const own = strategy.mode === 'own-pin' ? 'pin' : strategy.mode === 'own-qr' ? 'qr' : null;
  while (now < end) {
    residentsUntil(now);
    if (own !== null && sinceOwn >= every) {
      // Its own credential: a grant (or, on a locked factor, a locked_out denial that changes nothing).
      if (!isLockedOut(l[own], now)) {
        if (own === 'pin') pinDecision(grant('own'), OWN_PIN, now);
        else l = policy(l, 'qr', grant('own'), now, config).lockouts;
      }
      sinceOwn = 0;
      now += own === 'pin' ? TYPE_MS : SCAN_MS;
      continue;
    }
    if (busy && sinceOwn >= every) {
      // Wait for the next resident's grant (it used to reset the lockout).
      const next = residents[ri];
      if (next === undefined) break;
      now = Math.max(now, next + 1);
      continue;
    }
    if (isLockedOut(l.pin, now)) {
      // A waiting attacker still gets its own grant in (it might reset something).
      if (own !== null && sinceOwn > 0 && !isLockedOut(l[own], now)) sinceOwn = every;
      else now = l.pin.lockedUntil;
      continue;
    }
    let typoNext = own === 'pin' && sinceOwn + 1 >= every && near.length > 0;
    if (strategy.typoPlay === true && own === 'pin') {
      const last = typos.forgivenAt.get('own');
      const due = last === undefined ? now : last + config.forgiveMs;
      const left = guessesLeft(l.pin, now, config);
      typoNext = near.length > 0 && due <= now && left >= 2;
      if (typoNext)
        sinceOwn = every - 1; // its own PIN right after this typo
      else if (left <= 1 || (near.length > 0 && left <= 2)) {
        // Hold the reserve: wait for the next forgiveness, or the typo rule's next turn.
        const s = l.pin;
        const next = s.forgiveFrom === null ? now + config.forgiveMs : s.forgiveFrom + config.forgiveMs;
        now = Math.max(now + 1, Math.min(next, due > now ? due : next));
        continue;
      } else sinceOwn = -Infinity; // far guesses: no own PIN needed in between
    }
    const before = { l, typos };
    let value = typoNext ? (near[near.length - 1] ?? '') : '';
    if (!typoNext) {
      do value = String(farPin++).padStart(6, '0');
      while (isNearMiss(value, OWN_PIN));
    }
    const lockedForMs = pinDecision(GUESS, value, now);
    if (lockedForMs !== null && locks + 1 > strategy.locksPerCycle) {
      // This guess would start one lockout too many: undo it, stay quiet until everything resets.
      ({ l, typos } = before);
      const s = l.pin;
      const quietSince = Math.max(s.lastFailureAt ?? now, s.lockedUntil);
      now = Math.max(now, quietSince + config.resetAfterMs);
      locks = 0;
      continue;
    }
    if (typoNext) near.pop(); // each PIN is guessed once: a typo already tried is not tried again
    pinGuesses.push(now - t0);
    sinceOwn++;
    if (lockedForMs !== null) locks++;
    if (strategy.mode === 'alternate-card') {
      // A card guess while the next PIN is typed, on the same input.
      const at = now + TYPE_MS;
      if (!isLockedOut(l.card, at)) {
        l = policy(l, 'card', GUESS, at, config).lockouts;
        cardGuesses++;
      }
      now += Math.max(gap, TYPE_MS + SCAN_MS);
    } else now += gap;
  }
  return { pinGuesses, cardGuesses };
}

/** The strategies tried for a mode: every pace that matters × every cycle length up to past the cap. */
export function strategies(config: LockoutConfig, modes: readonly Mode[] = MODES): Strategy[] {
  const paced = Math.ceil(config.windowMs / Math.max(1, config.maxFailures - 1)) + 1;
  const gaps = [...new Set([TYPE_MS, 5 * SECOND, 10 * SECOND, paced, 2 * paced, MINUTE, 10 * MINUTE])];
  const cycles = [...Array.from({ length: 18 }, (_, i) => i + 1), Infinity];
  const everies = Array.from({ length: Math.max(1, config.maxFailures - 1) }, (_, i) => i + 1);
  return modes.flatMap((mode) =>
    gaps.flatMap((gapMs) =>
      mode === 'own-pin' || mode === 'own-qr' || mode === 'busy-door'
        ? [
            ...everies.flatMap((every): Strategy[] =>
              [Infinity, 1].map((locksPerCycle) => ({ mode, gapMs, locksPerCycle, every })),
            ),
            ...(mode === 'own-pin' ? [{ mode, gapMs, locksPerCycle: Infinity, typoPlay: true }] : []),
          ]
        : cycles.map((locksPerCycle): Strategy => ({ mode, gapMs, locksPerCycle })),
    ),
  );
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
  /** Guesses per hour in the best year strategy's last 300 days. */
  readonly steadyPerHour: number;
  readonly best: Strategy;
  readonly noLockoutPerHour: number;
}

/** The worst case over `strategies` (default: every mode), per horizon. */
export function bruteForce(
  config: LockoutConfig = DEFAULT_LOCKOUT,
  modes: readonly Mode[] = MODES,
  durationMs = YEAR,
  policy: Policy = REAL,
  list: readonly Strategy[] = strategies(config, modes),
): BruteForceFigures {
  let firstHour = 0;
  let firstDay = 0;
  let year = -1;
  let best: Strategy = { mode: 'alone', gapMs: TYPE_MS, locksPerCycle: Infinity };
  let bestGuesses: number[] = [];
  for (const st of list) {
    const g = simulateAttack(config, st, durationMs, policy).pinGuesses;
    firstHour = Math.max(firstHour, g.filter((x) => x < HOUR).length);
    firstDay = Math.max(firstDay, g.filter((x) => x < DAY).length);
    if (g.length > year) {
      year = g.length;
      best = st;
      bestGuesses = g;
    }
  }
  const steadyFrom = durationMs - 300 * DAY;
  const steady =
    steadyFrom > 0
      ? bestGuesses.filter((x) => x >= steadyFrom).length / ((durationMs - steadyFrom) / HOUR)
      : NaN;
  return { firstHour, firstDay, year, steadyPerHour: steady, best, noLockoutPerHour: HOUR / TYPE_MS };
}

// ---------------------------------------------------------------------------------------------------------
// The legitimate side.

/** A door's PIN traffic: entries a day (between 07:00 and 23:00) and the chance that one PIN is mistyped. */
export interface Traffic {
  readonly entriesPerDay: number;
  readonly typoRate: number;
  /** Of the mistyped PINs, the share one keystroke off (the rest: a wrong PIN altogether); default 0.8. */
  readonly nearMissShare?: number;
}

export interface ResidentFigures {
  readonly entries: number;
  /** Entries that found the keypad locked (on the first try or on a retry after a typo). */
  readonly metLocked: number;
  readonly fractionLocked: number;
  /** Days on which at least one resident found the keypad locked. */
  readonly daysWithLockout: number;
  readonly typos: number;
}

/**
 * Residents at one keypad for `days`: 300 residents with PINs of their own; each entry is one of them typing
 * their PIN; a typo (probability typoRate per try; one keystroke off with probability nearMissShare, else a
 * wrong PIN altogether) is followed 5 s later by another try, up to three. A resident who finds the keypad
 * locked gives up (uses a card, calls someone). No attacker. `policy` = GRANT_RESETS gives the old wiring.
 */
export function residentLockouts(
  config: LockoutConfig,
  traffic: Traffic,
  days = 365,
  seed = 7,
  policy: Policy = REAL,
): ResidentFigures {
  const t0 = 10 * DAY;
  const rng = new Prng(seed);
  const pins = Array.from({ length: 300 }, () => rng.digits(6));
  let l: FactorLockouts = OPEN_LOCKOUTS;
  let typos: TypoMemory = NO_TYPOS;
  let metLocked = 0;
  let typoCount = 0;
  const lockedDays = new Set<number>();
  const times = arrivals(traffic.entriesPerDay, days * DAY, t0, seed + 1);
  // Each entry is played out whole, in arrival order (a retry 5 s later rarely meets the next arrival).
  for (const at of times) {
    const who = rng.int(0, pins.length - 1);
    const pin = pins[who] ?? '';
    for (let attempt = 0; attempt < 3; attempt++) {
      const now = at + attempt * 5 * SECOND;
      if (isLockedOut(l.pin, now)) {
        metLocked++;
        lockedDays.add(Math.floor((now - t0) / DAY));
        break;
      }
      const typo = rng.chance(traffic.typoRate);
      let value = pin;
      if (typo) {
        if (rng.chance(traffic.nearMissShare ?? 0.8)) {
          const i = rng.int(0, pin.length - 1);
          value = pin.slice(0, i) + String((Number(pin[i]) + rng.int(1, 9)) % 10) + pin.slice(i + 1);
        } else value = rng.digits(6);
      }
      const outcome = typo ? GUESS : grant(`resident-${who}`);
      l = policy(l, 'pin', outcome, now, config).lockouts;
      if (policy === REAL) {
        const t = typoStep(typos, outcome, value, now, config);
        typos = t.memory;
        if (t.refund) l = { ...l, pin: refundGuess(l.pin) };
      }
      if (!typo) break;
      typoCount++;
    }
  }
  return {
    entries: times.length,
    metLocked,
    fractionLocked: times.length === 0 ? 0 : metLocked / times.length,
    daysWithLockout: lockedDays.size,
    typos: typoCount,
  };
}

/** The traffic grid reported by the bench and the docs. */
export const TRAFFIC: readonly Traffic[] = [20, 50, 100, 200, 500].flatMap((entriesPerDay) =>
  [0.01, 0.03].map((typoRate) => ({ entriesPerDay, typoRate })),
);

/** bench/run.ts: the figures as JSON lines; the baseline is the same attacker with the old wiring. */
export function benchBruteForce(): void {
  log('bruteforce: simulating optimal keypad attackers for a year against the default lockout');
  const free = HOUR / TYPE_MS;
  const all = bruteForce(DEFAULT_LOCKOUT);
  emit(
    'bruteforce.attempts_per_hour.first_hour',
    all.firstHour,
    'attempts/h',
    'bruteforce.attempts_per_hour.no_lockout',
    free,
  );
  emit(
    'bruteforce.attempts_per_hour.first_day',
    all.firstDay / 24,
    'attempts/h',
    'bruteforce.attempts_per_hour.no_lockout',
    free,
  );
  emit(
    'bruteforce.attempts_per_hour.steady',
    all.steadyPerHour,
    'attempts/h',
    'bruteforce.attempts_per_hour.no_lockout',
    free,
  );
  emit(
    'bruteforce.attempts_per_year',
    all.year,
    'attempts',
    'bruteforce.attempts_per_year.no_lockout',
    free * 24 * 365,
  );
  for (const k of [1, 10, 100]) {
    emit(
      `bruteforce.p_found_within_year.k${k}`,
      probabilityFound(all.year, k),
      'probability',
      `bruteforce.p_found_within_year.k${k}.no_lockout`,
      probabilityFound(free * 24 * 365, k),
    );
  }
  log(`bruteforce: best strategy for the year: ${JSON.stringify(all.best)}`);
  // Per mode; the baseline is the old wiring (grant resets, one lockout per input) over its first day.
  for (const mode of MODES) {
    const f = bruteForce(DEFAULT_LOCKOUT, [mode]);
    const old = bruteForce(DEFAULT_LOCKOUT, [mode], DAY, GRANT_RESETS);
    emit(
      `bruteforce.${mode}.first_hour`,
      f.firstHour,
      'attempts',
      `bruteforce.${mode}.first_hour.grant_resets`,
      old.firstHour,
    );
    emit(
      `bruteforce.${mode}.first_day`,
      f.firstDay,
      'attempts',
      `bruteforce.${mode}.first_day.grant_resets`,
      old.firstDay,
    );
    emit(
      `bruteforce.${mode}.per_year`,
      f.year,
      'attempts',
      `bruteforce.${mode}.per_year.grant_resets_first_day_x365`,
      old.firstDay * 365,
    );
    emit(
      `bruteforce.${mode}.p_found_within_year`,
      probabilityFound(f.year),
      'probability',
      `bruteforce.${mode}.p_found_within_year.grant_resets`,
      probabilityFound(old.firstDay * 365),
    );
  }
  for (const tr of TRAFFIC) {
    const name = `bruteforce.residents.${tr.entriesPerDay}_per_day.typo_${Math.round(tr.typoRate * 100)}pct`;
    const now = residentLockouts(DEFAULT_LOCKOUT, tr);
    const old = residentLockouts(DEFAULT_LOCKOUT, tr, 365, 7, GRANT_RESETS);
    emit(
      `${name}.entries_locked`,
      now.fractionLocked,
      'fraction',
      `${name}.entries_locked.grant_resets`,
      old.fractionLocked,
    );
    emit(
      `${name}.days_with_lockout`,
      now.daysWithLockout,
      'days/year',
      `${name}.days_with_lockout.grant_resets`,
      old.daysWithLockout,
    );
  }
}
