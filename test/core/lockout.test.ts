import t from 'tap';
import fc from 'fast-check';
import {
  DEFAULT_LOCKOUT,
  OPEN_LOCKOUT,
  isLockedOut,
  recordFailure,
  recordSuccess,
  type LockoutConfig,
  type LockoutState,
} from '../../src/core/lockout.js';
import { bruteForce, PIN_SPACE, probabilityFound } from '../../bench/bruteforce.js';

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** An arbitrary monotonic origin: the clock does not start at 0 on a real panel. */
const T0 = 5 * DAY + 12_345;

/** Records one failure per time; returns the final state and every non-null lockout length. */
function fail(
  state: LockoutState,
  times: readonly number[],
  config: LockoutConfig = DEFAULT_LOCKOUT,
): { state: LockoutState; locks: number[] } {
  let s = state;
  const locks: number[] = [];
  for (const now of times) {
    const r = recordFailure(s, now, config);
    s = r.state;
    if (r.lockedForMs !== null) locks.push(r.lockedForMs);
  }
  return { state: s, locks };
}

/** `n` failures one second apart from `start`. */
const burst = (start: number, n: number, gap = SECOND): number[] =>
  Array.from({ length: n }, (_, i) => start + i * gap);

/** Locks the input `times` times in a row, each burst starting the moment the previous lockout ends. */
function escalate(
  times: number,
  config: LockoutConfig = DEFAULT_LOCKOUT,
): { state: LockoutState; locks: number[] } {
  let s = OPEN_LOCKOUT;
  let now = T0;
  const locks: number[] = [];
  for (let i = 0; i < times; i++) {
    const r = fail(s, burst(now, config.maxFailures), config);
    s = r.state;
    locks.push(...r.locks);
    now = s.lockedUntil;
  }
  return { state: s, locks };
}

t.test('defaults: 5 failures per minute, 60 s doubling, capped at 24 h, reset after a quiet month', (t) => {
  t.strictSame(DEFAULT_LOCKOUT, {
    maxFailures: 5,
    windowMs: MINUTE,
    lockMs: MINUTE,
    maxLockMs: DAY,
    resetAfterMs: 30 * DAY,
    maxConsecutive: 20,
  });
  t.strictSame(OPEN_LOCKOUT, { failures: [], lockedUntil: 0, level: 0, lastFailureAt: null, consecutive: 0 });
  t.notOk(isLockedOut(OPEN_LOCKOUT, 0), 'a fresh input is open at time 0');
  t.notOk(isLockedOut(OPEN_LOCKOUT, T0), 'and later');
  t.end();
});

t.test('4 failures do not lock; the 5th within 60 s locks for 60 s', (t) => {
  const four = fail(OPEN_LOCKOUT, burst(T0, 4));
  t.strictSame(four.locks, [], 'no lockout after 4');
  t.notOk(isLockedOut(four.state, T0 + 4 * SECOND));
  t.strictSame(four.state.failures, burst(T0, 4), 'the 4 failures are remembered, oldest first');
  t.equal(four.state.lastFailureAt, T0 + 3 * SECOND);

  const fifthAt = T0 + 10 * SECOND;
  const r = recordFailure(four.state, fifthAt);
  t.equal(r.lockedForMs, MINUTE, 'the 5th starts a 60 s lockout');
  t.strictSame(r.state, {
    failures: [],
    lockedUntil: fifthAt + MINUTE,
    level: 1,
    lastFailureAt: fifthAt,
    consecutive: 5,
  });
  t.ok(isLockedOut(r.state, fifthAt), 'locked at once');
  t.end();
});

t.test('5 failures all at the same instant lock too', (t) => {
  t.strictSame(fail(OPEN_LOCKOUT, [T0, T0, T0, T0, T0]).locks, [MINUTE]);
  t.end();
});

t.test('the window is 60 s: a 5th failure 60 s after the 1st no longer counts it', (t) => {
  const first4 = [T0, T0 + SECOND, T0 + 2 * SECOND, T0 + 3 * SECOND];
  t.strictSame(fail(OPEN_LOCKOUT, [...first4, T0 + MINUTE - 1]).locks, [MINUTE], '5 within 59.999 s lock');
  const edge = fail(OPEN_LOCKOUT, [...first4, T0 + MINUTE]);
  t.strictSame(edge.locks, [], '5 spanning exactly 60 s do not');
  t.strictSame(
    edge.state.failures,
    [T0 + SECOND, T0 + 2 * SECOND, T0 + 3 * SECOND, T0 + MINUTE],
    'oldest dropped',
  );
  t.end();
});

t.test('failures spread over more than the window never trip the per-minute rule', (t) => {
  // One every 15 s: any 60 s window holds at most 4; with the consecutive rule off, nothing locks.
  const noConsecutive = { ...DEFAULT_LOCKOUT, maxConsecutive: 1000 };
  const paced = fail(OPEN_LOCKOUT, burst(T0, 200, 15 * SECOND), noConsecutive);
  t.strictSame(paced.locks, [], '200 failures at 15 s intervals');
  t.notOk(isLockedOut(paced.state, T0 + 200 * 15 * SECOND));
  t.ok(paced.state.failures.length < DEFAULT_LOCKOUT.maxFailures, 'history stays short');
  // Occasional typos from real users never lock: a grant on the input, or a quiet month, resets the count.
  let s: LockoutState = OPEN_LOCKOUT;
  for (let i = 0; i < 500; i++) {
    s = fail(s, [T0 + i * HOUR, T0 + i * HOUR + 5 * SECOND]).state; // two typos...
    t.notOk(isLockedOut(s, T0 + i * HOUR + 5 * SECOND), `typos ${i}`);
    s = recordSuccess(s); // ...then the right PIN
  }
  t.strictSame(fail(OPEN_LOCKOUT, burst(T0, 48, 30 * DAY + HOUR)).locks, [], 'a typo a month, no grant');
  t.end();
});

t.test('while locked isLockedOut is true; it becomes false exactly at lockedUntil', (t) => {
  const { state } = fail(OPEN_LOCKOUT, burst(T0, 5));
  const until = state.lockedUntil;
  t.equal(until, T0 + 4 * SECOND + MINUTE);
  for (const now of [T0 + 4 * SECOND, T0 + 30 * SECOND, until - 1])
    t.ok(isLockedOut(state, now), `locked at +${now - T0} ms`);
  t.notOk(isLockedOut(state, until), 'open at lockedUntil (exclusive)');
  t.notOk(isLockedOut(state, until + DAY), 'and after');
  t.end();
});

t.test('after a lockout the count starts afresh: 4 more failures do not lock again', (t) => {
  const first = fail(OPEN_LOCKOUT, burst(T0, 5)).state;
  const after = fail(first, burst(first.lockedUntil, 4));
  t.strictSame(after.locks, [], 'the failures before the lockout are not carried over');
  t.end();
});

t.test('each further lockout doubles: 60 s, 120 s, 240 s, ...', (t) => {
  const { state, locks } = escalate(5);
  t.strictSame(locks, [MINUTE, 2 * MINUTE, 4 * MINUTE, 8 * MINUTE, 16 * MINUTE]);
  t.equal(state.level, 5);
  t.end();
});

t.test('the doubling is capped at maxLockMs (defaults: reaches 24 h after 11 lockouts)', (t) => {
  const { locks } = escalate(12);
  t.strictSame(
    locks.slice(0, 11),
    [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024].map((m) => m * MINUTE),
  );
  t.equal(locks[11], DAY, '60 s * 2^11 would exceed 24 h: capped');
  const small: LockoutConfig = { ...DEFAULT_LOCKOUT, lockMs: SECOND, maxLockMs: 5 * SECOND };
  t.strictSame(
    escalate(6, small).locks,
    [1, 2, 4, 5, 5, 5].map((s) => s * SECOND),
    'a small cap',
  );
  t.end();
});

t.test('an attacker who keeps guessing stays at the cap: the lockout itself is not quiet time', (t) => {
  // Guessing resumes the instant each lockout ends. The 24 h lockout must not count as a day
  // "without failures" and drop the attacker back to 60 s lockouts.
  const { locks } = escalate(20);
  t.strictSame(locks.slice(11), Array<number>(9).fill(DAY), 'every lockout after the 11th is 24 h');
  t.end();
});

t.test('a success resets the level and the failure history', (t) => {
  const four = fail(OPEN_LOCKOUT, burst(T0, 4)).state;
  const ok = recordSuccess(four);
  t.strictSame(ok, OPEN_LOCKOUT, 'history gone');
  t.strictSame(fail(ok, burst(T0 + 10 * SECOND, 4)).locks, [], '4 more failures after a success do not lock');

  const escalated = escalate(3).state; // level 3, lockout over at lockedUntil
  const reset = recordSuccess(escalated);
  t.equal(reset.level, 0);
  t.strictSame(reset.failures, []);
  t.equal(reset.lastFailureAt, null);
  t.strictSame(fail(reset, burst(escalated.lockedUntil + SECOND, 5)).locks, [MINUTE], 'back to 60 s');
  t.end();
});

t.test('a success does NOT end a lockout already in force', (t) => {
  const locked = escalate(2).state;
  const { lockedUntil } = locked;
  const ok = recordSuccess(locked);
  t.equal(ok.lockedUntil, lockedUntil, 'lockedUntil kept');
  t.ok(isLockedOut(ok, lockedUntil - 1), 'still locked');
  t.notOk(isLockedOut(ok, lockedUntil), 'ends when it would have');
  t.equal(ok.level, 0, 'but the next lockout is back at the first level');
  t.strictSame(fail(ok, burst(lockedUntil, 5)).locks, [MINUTE]);
  t.end();
});

t.test('a success on a clean state changes nothing', (t) => {
  t.equal(recordSuccess(OPEN_LOCKOUT), OPEN_LOCKOUT, 'same object');
  t.end();
});

t.test('resetAfterMs without failures returns to the first level', (t) => {
  const twice = escalate(2).state; // level 2: the next lockout would be 240 s
  const end = twice.lockedUntil;
  t.strictSame(fail(twice, burst(end, 5)).locks, [4 * MINUTE], 'guessing on at once: 240 s');
  const quiet = DEFAULT_LOCKOUT.resetAfterMs;
  t.strictSame(fail(twice, burst(end + quiet, 5)).locks, [MINUTE], 'a quiet month after the lockout: 60 s');
  t.strictSame(fail(twice, burst(end + quiet - 1, 5)).locks, [4 * MINUTE], '1 ms short of it: still 240 s');

  // Quiet time counts from the last failure when no lockout is running.
  const one = escalate(1).state;
  const stray = fail(one, [one.lockedUntil + HOUR]).state; // one failure, no lockout
  const last = one.lockedUntil + HOUR;
  t.strictSame(
    fail(stray, burst(last + quiet - 1, 5)).locks,
    [2 * MINUTE],
    'within a month of the stray failure',
  );
  t.strictSame(fail(stray, burst(last + quiet, 5)).locks, [MINUTE], 'a month after it');

  const short: LockoutConfig = { ...DEFAULT_LOCKOUT, resetAfterMs: 10 * MINUTE };
  const s = escalate(3, short).state;
  t.strictSame(fail(s, burst(s.lockedUntil + 10 * MINUTE, 5), short).locks, [MINUTE], 'follows the config');
  t.end();
});

t.test('the input state is never mutated', (t) => {
  const s: LockoutState = Object.freeze({
    failures: Object.freeze([T0, T0 + 1, T0 + 2, T0 + 3]),
    lockedUntil: 0,
    level: 2,
    lastFailureAt: T0 + 3,
    consecutive: 4,
  });
  recordFailure(s, T0 + 4);
  recordFailure(s, T0 + 2 * DAY);
  recordSuccess(s);
  t.strictSame(s, {
    failures: [T0, T0 + 1, T0 + 2, T0 + 3],
    lockedUntil: 0,
    level: 2,
    lastFailureAt: T0 + 3,
    consecutive: 4,
  });
  t.end();
});

// ---------------------------------------------------------------------------------------------------------
// Properties.

const configArb: fc.Arbitrary<LockoutConfig> = fc.record({
  maxFailures: fc.integer({ min: 1, max: 8 }),
  windowMs: fc.integer({ min: 1, max: 10 * MINUTE }),
  lockMs: fc.integer({ min: 1, max: 10 * MINUTE }),
  maxLockMs: fc.integer({ min: 1, max: 2 * DAY }),
  resetAfterMs: fc.integer({ min: 1, max: 2 * DAY }),
  maxConsecutive: fc.integer({ min: 1, max: 40 }),
});

t.test('property: a lockout is never shortened, whatever the calls and the config', (t) => {
  // Even a caller that records failures while the input is locked (or a success) must not shorten it.
  const event = fc.record({
    gap: fc.oneof(fc.integer({ min: 0, max: 5 * SECOND }), fc.integer({ min: 0, max: 3 * DAY })),
    ok: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  });
  fc.assert(
    fc.property(configArb, fc.array(event, { maxLength: 120 }), (config, events) => {
      let s = OPEN_LOCKOUT;
      let now = T0;
      for (const { gap, ok } of events) {
        now += gap;
        const lockedBefore = isLockedOut(s, now);
        const before = s.lockedUntil;
        if (ok) s = recordSuccess(s);
        else {
          const r = recordFailure(s, now, config);
          if (r.lockedForMs !== null && (r.lockedForMs > config.maxLockMs || r.lockedForMs <= 0))
            return false;
          if (r.lockedForMs !== null && r.state.lockedUntil !== now + r.lockedForMs) return false;
          s = r.state;
        }
        if (s.lockedUntil < before) return false;
        if (lockedBefore && !isLockedOut(s, now)) return false;
        if (s.failures.length >= config.maxFailures) return false;
      }
      return true;
    }),
    { numRuns: 400 },
  );
  t.pass('lockedUntil never decreased in 400 random histories');
  t.end();
});

/**
 * An attacker guessing whenever the input is open, with gaps short enough that every 5 consecutive guesses
 * fall inside the window (the brute-force case), for `days`. Returns the accepted failure times.
 */
function attack(gaps: readonly number[], days: number, config: LockoutConfig = DEFAULT_LOCKOUT): number[] {
  let s = OPEN_LOCKOUT;
  let now = T0;
  const accepted: number[] = [];
  for (let i = 0; now < T0 + days * DAY; i++) {
    if (isLockedOut(s, now)) {
      now = s.lockedUntil;
      continue;
    }
    s = recordFailure(s, now, config).state;
    accepted.push(now);
    now += gaps[i % gaps.length] ?? 0;
  }
  return accepted;
}

/** Most accepted failures in any half-open span [a, a + span) (a span starting at a failure is the worst). */
function maxInSpan(times: readonly number[], span: number): number {
  let best = 0;
  let j = 0;
  for (let i = 0; i < times.length; i++) {
    const start = times[i] ?? 0;
    if (j < i) j = i;
    while (j < times.length && (times[j] ?? 0) < start + span) j++;
    best = Math.max(best, j - i);
  }
  return best;
}

// Gaps under windowMs / (maxFailures - 1) = 15 s: every 5 consecutive guesses are within 60 s.
const fastGaps = fc.array(fc.integer({ min: 0, max: 15 * SECOND - 1 }), { minLength: 1, maxLength: 8 });

t.test(
  'property: continuous guessing gets one guess per maxLockMs once escalated (brute-force bound)',
  (t) => {
    const { maxLockMs } = DEFAULT_LOCKOUT;
    // Escalating 60 s .. 1024 min takes under 35 h; from day 2 on the attacker is at the 24 h cap.
    const settled = T0 + 2 * DAY;
    fc.assert(
      fc.property(fastGaps, fc.integer({ min: 1, max: 10 * DAY }), (gaps, span) => {
        const accepted = attack(gaps, 30, DEFAULT_LOCKOUT);
        const steady = accepted.filter((f) => f >= settled);
        // Past maxConsecutive every failure locks: any span T holds at most one per started maxLockMs.
        return maxInSpan(steady, DAY) <= 1 && maxInSpan(steady, span) <= Math.ceil(span / maxLockMs);
      }),
      { numRuns: 60 },
    );
    const all = attack([SECOND], 30);
    const steady = all.filter((f) => f >= settled);
    t.ok(
      steady.length >= 27 && steady.length <= 29,
      `one guess a day at steady state (${steady.length} in 28 days)`,
    );
    t.ok(all.length < 30 + 40, `in 30 days the whole attack gets ${all.length} guesses (was ~200)`);
    t.end();
  },
);

t.test('past maxConsecutive every failure locks again, escalating, until a grant', (t) => {
  let s: LockoutState = OPEN_LOCKOUT;
  let now = T0;
  const locks: number[] = [];
  for (let i = 0; i < 25; i++) {
    const r = recordFailure(s, now);
    s = r.state;
    if (r.lockedForMs !== null) locks.push(r.lockedForMs);
    now = Math.max(now + 15 * SECOND, s.lockedUntil); // paced: the per-minute rule never trips
  }
  t.strictSame(
    locks,
    [1, 2, 4, 8, 16, 32].map((m) => m * MINUTE),
    'the 20th locks, then each of the next five',
  );
  s = recordSuccess(s);
  t.equal(s.consecutive, 0, 'a grant resets the count');
  t.strictSame(fail(s, burst(now + DAY, 4)).locks, [], 'a few typos after it do not lock');
  t.end();
});

t.test('a failure recorded while locked changes nothing (a locked input cannot fail)', (t) => {
  const locked = fail(OPEN_LOCKOUT, burst(T0, 5)).state;
  const r = recordFailure(locked, T0 + 10 * SECOND);
  t.equal(r.state, locked, 'same state');
  t.equal(r.lockedForMs, null);
  t.end();
});

t.test('brute force (bench/bruteforce.ts): a 6-digit PIN survives a year of the best attack', (t) => {
  const f = bruteForce(DEFAULT_LOCKOUT);
  t.ok(f.year <= 1000, `${f.year} guesses in a year (limit 1000 = 0.1 % of 10^6)`);
  t.ok(probabilityFound(f.year) <= 0.001, `P(a given PIN found in a year) = ${probabilityFound(f.year)}`);
  t.ok(f.firstHour <= 30, `${f.firstHour} guesses in the first hour`);
  t.ok(f.steadyPerHour <= 1 / 23, `steady state ${f.steadyPerHour} guesses/h: about one a day`);
  t.equal(f.noLockoutPerHour, 1800, 'without lockout: one guess per 2 s');
  // The simulation is real: with the rule that consecutive resets at each lockout (the old behaviour,
  // emulated by a huge maxConsecutive and a short quiet gap) the same attacker does far better.
  const weak = bruteForce({ ...DEFAULT_LOCKOUT, maxConsecutive: 1000, resetAfterMs: DAY });
  t.ok(weak.year > 10 * f.year, `a weaker config lets through ${weak.year} guesses a year`);
  t.end();
});

t.test('probabilityFound: the hypergeometric tail', (t) => {
  t.equal(probabilityFound(0), 0);
  t.equal(probabilityFound(1000), 0.001);
  t.equal(probabilityFound(PIN_SPACE), 1);
  t.ok(Math.abs(probabilityFound(1000, 100) - (1 - (1 - 0.001) ** 100)) < 1e-4, 'about 1-(1-n/N)^k');
  t.ok(probabilityFound(1000, 10) > probabilityFound(1000, 1));
  t.end();
});

t.test('property: whatever the pace, any windowMs span accepts at most maxFailures', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 3 * MINUTE }), { minLength: 1, maxLength: 8 }),
      fc.integer({ min: 1, max: 30 * MINUTE }),
      (gaps, span) => {
        const accepted = attack(gaps, 3, DEFAULT_LOCKOUT);
        const { maxFailures, windowMs } = DEFAULT_LOCKOUT;
        return (
          maxInSpan(accepted, windowMs) <= maxFailures &&
          maxInSpan(accepted, span) <= maxFailures * Math.ceil(span / windowMs)
        );
      },
    ),
    { numRuns: 60 },
  );
  t.pass('rate never exceeds maxFailures per window');
  t.end();
});

t.test(
  'slow guessing: maxConsecutive failures lock however far apart they are; a grant resets the count',
  (t) => {
    let s: LockoutState = OPEN_LOCKOUT;
    let locks = 0;
    for (let i = 0; i < 19; i++) {
      const r = recordFailure(s, T0 + i * 15_000);
      s = r.state;
      if (r.lockedForMs !== null) locks++;
    }
    t.equal(locks, 0, '19 guesses 15 s apart: not yet');
    const r = recordFailure(s, T0 + 19 * 15_000);
    t.equal(r.lockedForMs, MINUTE, 'the 20th locks');
    s = recordSuccess(recordFailure(OPEN_LOCKOUT, T0).state);
    t.equal(s.consecutive, 0);
    // One guess every 15 s for a day: the per-minute rule never trips, the consecutive rule does, escalating.
    let state: LockoutState = OPEN_LOCKOUT;
    let accepted = 0;
    for (let now = T0; now < T0 + DAY; now += 15_000) {
      if (isLockedOut(state, now)) continue;
      accepted++;
      state = recordFailure(state, now).state;
    }
    t.ok(accepted <= 220, `${accepted} slow guesses accepted in the first day (5,760 without the rule)`);
    t.end();
  },
);
