import t from 'tap';
import fc from 'fast-check';
import {
  DEFAULT_LOCKOUT,
  OPEN_LOCKOUT,
  countsAsGuess,
  forgive,
  guessesLeft,
  isLockedOut,
  isNearMiss,
  NO_TYPOS,
  OPEN_LOCKOUTS,
  recordGuess,
  recordOutcome,
  refundGuess,
  typoStep,
  type LockoutConfig,
  type LockoutState,
} from '../../src/core/lockout.js';
import { PIN_SPACE, probabilityFound } from '../../bench/bruteforce.js';

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
    const r = recordGuess(s, now, config);
    s = r.state;
    if (r.lockedForMs !== null) locks.push(r.lockedForMs);
  }
  return { state: s, locks };
}

/** `n` failures one second apart from `start`. */
const burst = (start: number, n: number, gap = SECOND): number[] =>
  Array.from({ length: n }, (_, i) => start + i * gap);

/**
 * The burst rule alone (a budget too large to matter, never forgiven): the escalation tests below are about
 * it; the budget has tests of its own.
 */
const BURST: LockoutConfig = { ...DEFAULT_LOCKOUT, maxConsecutive: 1000, forgiveMs: 365 * DAY };

/** Locks the input `times` times in a row, each burst starting the moment the previous lockout ends. */
function escalate(times: number, config: LockoutConfig = BURST): { state: LockoutState; locks: number[] } {
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

t.test('defaults: 5 guesses a minute, 60 s doubling to 24 h; a budget of 20, one forgiven a day', (t) => {
  t.strictSame(DEFAULT_LOCKOUT, {
    maxFailures: 5,
    windowMs: MINUTE,
    lockMs: MINUTE,
    maxLockMs: DAY,
    resetAfterMs: 30 * DAY,
    maxConsecutive: 20,
    forgiveMs: DAY,
    forgiveTypos: true,
  });
  t.strictSame(OPEN_LOCKOUT, {
    failures: [],
    lockedUntil: 0,
    level: 0,
    lastFailureAt: null,
    spent: 0,
    forgiveFrom: null,
  });
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
  const r = recordGuess(four.state, fifthAt);
  t.equal(r.lockedForMs, MINUTE, 'the 5th starts a 60 s lockout');
  t.strictSame(r.state, {
    failures: [],
    lockedUntil: fifthAt + MINUTE,
    level: 1,
    lastFailureAt: fifthAt,
    spent: 5,
    forgiveFrom: T0,
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
  // One every 15 s: any 60 s window holds at most 4; with the budget out of the way, nothing locks.
  const paced = fail(OPEN_LOCKOUT, burst(T0, 200, 15 * SECOND), BURST);
  t.strictSame(paced.locks, [], '200 failures at 15 s intervals');
  t.notOk(isLockedOut(paced.state, T0 + 200 * 15 * SECOND));
  t.ok(paced.state.failures.length < DEFAULT_LOCKOUT.maxFailures, 'history stays short');
  // Occasional mistakes never lock: one a day is forgiven as fast as it comes.
  let s: LockoutState = OPEN_LOCKOUT;
  for (let i = 0; i < 500; i++) {
    s = fail(s, [T0 + i * DAY]).state;
    t.notOk(isLockedOut(s, T0 + i * DAY), `day ${i}`);
  }
  t.ok(s.spent <= 1, 'one a day never accumulates');
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

t.test('a grant changes nothing: no reset of the count, the level or a lockout', (t) => {
  const four = fail(OPEN_LOCKOUT, burst(T0, 4)).state;
  const lockouts = { ...OPEN_LOCKOUTS, pin: four };
  const grant = { granted: true, reason: null };
  const after = recordOutcome(lockouts, 'pin', grant, T0 + 5 * SECOND);
  t.equal(after.lockouts, lockouts, 'the same object: nothing recorded');
  t.equal(after.lockedForMs, null);
  t.strictSame(fail(four, [T0 + 10 * SECOND]).locks, [MINUTE], 'the 5th guess after the grant still locks');
  const locked = escalate(2).state;
  t.equal(recordOutcome({ ...OPEN_LOCKOUTS, pin: locked }, 'pin', grant, T0).lockouts.pin, locked);
  t.end();
});

t.test('resetAfterMs without failures returns to the first level', (t) => {
  const twice = escalate(2).state; // level 2: the next lockout would be 240 s
  const end = twice.lockedUntil;
  t.strictSame(fail(twice, burst(end, 5)).locks, [4 * MINUTE], 'guessing on at once: 240 s');
  const quiet = DEFAULT_LOCKOUT.resetAfterMs;
  t.strictSame(fail(twice, burst(end + quiet, 5)).locks, [MINUTE], 'a quiet month after the lockout: 60 s');
  t.strictSame(fail(twice, burst(end + quiet - 1, 5), BURST).locks, [4 * MINUTE], '1 ms short of it: 240 s');

  // Quiet time counts from the last failure when no lockout is running.
  const one = escalate(1).state;
  const stray = fail(one, [one.lockedUntil + HOUR], BURST).state; // one failure, no lockout
  const last = one.lockedUntil + HOUR;
  t.strictSame(
    fail(stray, burst(last + quiet - 1, 5), BURST).locks,
    [2 * MINUTE],
    'within a month of the stray failure',
  );
  t.strictSame(fail(stray, burst(last + quiet, 5), BURST).locks, [MINUTE], 'a month after it');

  const short: LockoutConfig = { ...BURST, resetAfterMs: 10 * MINUTE };
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
    spent: 4,
    forgiveFrom: T0,
  });
  recordGuess(s, T0 + 4);
  recordGuess(s, T0 + 2 * DAY);
  forgive(s, T0 + 3 * DAY);
  refundGuess(s);
  t.strictSame(s, {
    failures: [T0, T0 + 1, T0 + 2, T0 + 3],
    lockedUntil: 0,
    level: 2,
    lastFailureAt: T0 + 3,
    spent: 4,
    forgiveFrom: T0,
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
  forgiveMs: fc.integer({ min: 1, max: 2 * DAY }),
  forgiveTypos: fc.boolean(),
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
        if (ok)
          s = refundGuess(forgive(s, now, config)); // the most a grant can ever do: a forgiven typo
        else {
          const r = recordGuess(s, now, config);
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
    s = recordGuess(s, now, config).state;
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

t.test(
  'the budget: 20 guesses however slow lock until one is forgiven; then one guess per forgiveness',
  (t) => {
    let s: LockoutState = OPEN_LOCKOUT;
    let now = T0;
    const locks: number[] = [];
    const accepted: number[] = [];
    for (let i = 0; i < 25; i++) {
      const r = recordGuess(s, now);
      s = r.state;
      accepted.push(now);
      if (r.lockedForMs !== null) locks.push(r.lockedForMs);
      now = Math.max(now + 15 * SECOND, s.lockedUntil); // paced: the per-minute rule never trips
    }
    t.equal(
      locks[0],
      DAY - 19 * 15 * SECOND,
      'the 20th locks until the first guess is forgiven, a day after it',
    );
    t.strictSame(
      accepted.slice(20).map((x) => (x - T0) / DAY),
      [1, 2, 3, 4, 5],
      'then one guess a day, each at the moment one is forgiven',
    );
    t.ok(
      locks.slice(1).every((l) => l === DAY),
      'each of them locks for a day',
    );
    t.equal(guessesLeft(s, now - 1), 0, 'nothing left');
    t.equal(
      guessesLeft(s, T0 + 30 * DAY),
      DEFAULT_LOCKOUT.maxConsecutive,
      'all forgiven after 20 quiet days',
    );
    t.end();
  },
);

t.test('forgiveness: one spent guess a forgiveMs; all forgiven forgets the escalation level', (t) => {
  const s = fail(OPEN_LOCKOUT, burst(T0, 5), BURST).state; // level 1, 5 spent from T0
  t.equal(forgive(s, T0 + DAY - 1), s, 'nothing due yet: the same state');
  t.equal(forgive(s, T0 + DAY).spent, 4);
  t.equal(forgive(s, T0 + DAY).forgiveFrom, T0 + DAY);
  t.equal(forgive(s, T0 + 3 * DAY + 5).spent, 2);
  t.equal(forgive(s, T0 + 3 * DAY + 5).level, 1, 'the level stays while anything is spent');
  const all = forgive(s, T0 + 5 * DAY);
  t.strictSame([all.spent, all.forgiveFrom, all.level], [0, null, 0]);
  t.strictSame(fail(s, burst(T0 + 5 * DAY, 5)).locks, [MINUTE], 'next burst lockout back at 60 s');
  t.strictSame(fail(s, burst(T0 + 4 * DAY, 5)).locks, [2 * MINUTE], 'a day earlier: 120 s');
  t.end();
});

t.test('a failure recorded while locked changes nothing (a locked input cannot fail)', (t) => {
  const locked = fail(OPEN_LOCKOUT, burst(T0, 5)).state;
  const r = recordGuess(locked, T0 + 10 * SECOND);
  t.equal(r.state, locked, 'same state');
  t.equal(r.lockedForMs, null);
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

t.test('slow guessing: one guess every 15 s for a day gets 20 (5,760 without the budget)', (t) => {
  let state: LockoutState = OPEN_LOCKOUT;
  let accepted = 0;
  for (let now = T0; now < T0 + DAY; now += 15_000) {
    if (isLockedOut(state, now)) continue;
    accepted++;
    state = recordGuess(state, now).state;
  }
  t.equal(accepted, 20);
  t.end();
});

t.test('countsAsGuess: only guesses count; matched passes, lockouts and store failures never do', (t) => {
  const counted = ['unknown_credential', 'invalid_token', 'clock_untrusted'];
  const not = [
    'revoked',
    'not_yet_valid',
    'expired',
    'door_not_allowed',
    'outside_schedule',
    'device_use_limit',
    'use_limit',
    'locked_out',
    'store_unavailable',
  ];
  for (const reason of counted) t.ok(countsAsGuess({ granted: false, reason }), reason);
  for (const reason of not) t.notOk(countsAsGuess({ granted: false, reason }), reason);
  t.notOk(countsAsGuess({ granted: true, reason: null }), 'a grant');
  t.end();
});

t.test('recordOutcome: each factor has its own state; a guess on one never touches another', (t) => {
  const wrong = { granted: false, reason: 'unknown_credential' };
  let l = OPEN_LOCKOUTS;
  for (let i = 0; i < 5; i++) l = recordOutcome(l, 'pin', wrong, T0 + i * SECOND).lockouts;
  t.ok(isLockedOut(l.pin, T0 + 5 * SECOND), 'the keypad is locked');
  t.equal(l.card, OPEN_LOCKOUT, 'the card reader untouched');
  t.equal(l.qr, OPEN_LOCKOUT, 'the QR scanner untouched');
  const r = recordOutcome(l, 'card', wrong, T0 + 6 * SECOND);
  t.equal(r.lockouts.card.spent, 1);
  t.equal(r.lockouts.pin, l.pin);
  const early = recordOutcome(l, 'qr', { granted: false, reason: 'not_yet_valid' }, T0);
  t.equal(early.lockouts, l, 'a matched pass denied: nothing recorded');
  const locked = recordOutcome(l, 'pin', wrong, T0 + 10 * SECOND);
  t.equal(locked.lockouts, l, 'a locked factor records nothing');
  const five = recordOutcome(
    recordOutcome(
      recordOutcome(recordOutcome(OPEN_LOCKOUTS, 'qr', wrong, T0).lockouts, 'qr', wrong, T0).lockouts,
      'qr',
      wrong,
      T0,
    ).lockouts,
    'qr',
    wrong,
    T0,
  ).lockouts;
  const fifth = recordOutcome(five, 'qr', wrong, T0);
  t.equal(fifth.lockedForMs, MINUTE);
  t.equal(fifth.rule, 'burst');
  t.end();
});

t.test('a budget lockout says so; a config with forgiveMs above maxLockMs still caps every lockout', (t) => {
  const cfg: LockoutConfig = { ...DEFAULT_LOCKOUT, maxConsecutive: 3, forgiveMs: 10 * DAY };
  const r1 = recordGuess(OPEN_LOCKOUT, T0, cfg);
  const r2 = recordGuess(r1.state, T0 + MINUTE, cfg);
  const r3 = recordGuess(r2.state, T0 + 2 * MINUTE, cfg);
  t.equal(r3.rule, 'budget');
  t.equal(r3.lockedForMs, DAY, 'capped at maxLockMs');
  const r4 = recordGuess(r3.state, T0 + 2 * MINUTE + DAY, cfg);
  t.equal(r4.lockedForMs, DAY, 'still spent: locks again at once');
  t.end();
});

t.test('isNearMiss: one keystroke off (changed, swapped, missing or extra digit)', (t) => {
  for (const typed of ['123457', '213456', '124356', '12346', '1234566', '0123456', '23456'])
    t.ok(isNearMiss(typed, '123456'), typed);
  for (const typed of ['123456', '654321', '123465x', '1234', '12345678', '113457', '214356', '999999'])
    t.notOk(isNearMiss(typed, '123456'), typed);
  t.notOk(isNearMiss('', ''), 'empty');
  t.ok(isNearMiss('1', ''), 'an extra digit on nothing');
  t.end();
});

t.test('typoStep: a typo corrected at once is forgiven, once per pass per forgiveMs', (t) => {
  const wrong = { granted: false, reason: 'unknown_credential', passId: null };
  const ok = (passId: string) => ({ granted: true, reason: null, passId });
  let m = typoStep(NO_TYPOS, wrong, '123457', T0).memory;
  t.same(m.last, { value: '123457', at: T0 }, 'the wrong PIN is remembered (in memory only)');
  let r = typoStep(m, ok('alice'), '123456', T0 + 5 * SECOND);
  t.equal(r.refund, true, 'one digit off, 5 s later: forgiven');
  t.equal(r.memory.last, null, 'and forgotten');
  m = typoStep(r.memory, wrong, '123458', T0 + MINUTE).memory;
  t.equal(typoStep(m, ok('alice'), '123456', T0 + MINUTE + SECOND).refund, false, 'not twice a day');
  t.equal(typoStep(m, ok('bob'), '123456', T0 + MINUTE + SECOND).refund, true, 'another pass: yes');
  r = typoStep(m, ok('alice'), '123456', T0 + DAY);
  t.equal(r.refund, false, 'too late (30 s window)');
  m = typoStep(r.memory, wrong, '123458', T0 + DAY + 10 * SECOND).memory;
  t.equal(typoStep(m, ok('alice'), '123456', T0 + DAY + 11 * SECOND).refund, true, 'a day later: again');
  t.equal(typoStep(m, ok('carol'), '777777', T0 + DAY + 11 * SECOND).refund, false, 'not a near miss');
  const off = { ...DEFAULT_LOCKOUT, forgiveTypos: false };
  t.equal(typoStep(m, ok('dave'), '123456', T0 + DAY + 11 * SECOND, off).refund, false, 'forgiveTypos off');
  const early = typoStep(m, { granted: false, reason: 'not_yet_valid', passId: 'x' }, '123456', T0 + DAY);
  t.equal(early.memory.last, null, 'any other decision in between: the typo is not the one just before');
  t.equal(typoStep(early.memory, ok('erin'), '123456', T0 + DAY + 10 * SECOND).refund, false);
  t.end();
});

t.test('refundGuess gives back one budget guess, never the burst count nor a lockout in force', (t) => {
  const four = fail(OPEN_LOCKOUT, burst(T0, 4)).state;
  const back = refundGuess(four);
  t.equal(back.spent, 3);
  t.strictSame(back.failures, four.failures, 'the burst window keeps all four');
  t.strictSame(fail(back, [T0 + 5 * SECOND]).locks, [MINUTE], 'the 5th within the minute still locks');
  const locked = fail(four, [T0 + 5 * SECOND]).state;
  t.equal(refundGuess(locked).lockedUntil, locked.lockedUntil);
  t.equal(refundGuess(OPEN_LOCKOUT), OPEN_LOCKOUT);
  t.equal(refundGuess(fail(OPEN_LOCKOUT, [T0]).state).forgiveFrom, null, 'nothing spent: nothing to forgive');
  t.end();
});
