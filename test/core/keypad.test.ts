import { isDeepStrictEqual } from 'node:util';
import t from 'tap';
import fc from 'fast-check';
import {
  DEFAULT_KEYPAD,
  EMPTY_KEYPAD,
  keypadDeadline,
  keypadStep,
  type KeypadConfig,
  type KeypadEffect,
  type KeypadInput,
  type KeypadState,
  type KeypadStep,
} from '../../src/core/keypad.js';

const TIMEOUT = DEFAULT_KEYPAD.timeoutMs;
const CLICK: KeypadEffect = { kind: 'click' };
const submit = (pin: string): KeypadEffect => ({ kind: 'submit', pin });
const CLEARED_STAR: KeypadEffect = { kind: 'cleared', reason: 'star' };
const CLEARED_TIMEOUT: KeypadEffect = { kind: 'cleared', reason: 'timeout' };
const TOO_LONG: KeypadEffect = { kind: 'rejected', reason: 'too_long' };

const key = (k: string, now: number): KeypadInput => ({ kind: 'key', key: k, now });
const tick = (now: number): KeypadInput => ({ kind: 'tick', now });

/** Feeds inputs in order; returns the final state and every step's effects, one array per input. */
function run(
  inputs: readonly KeypadInput[],
  config: KeypadConfig = DEFAULT_KEYPAD,
  from: KeypadState = EMPTY_KEYPAD,
): { state: KeypadState; effects: KeypadEffect[][] } {
  let state = from;
  const effects: KeypadEffect[][] = [];
  for (const input of inputs) {
    const step: KeypadStep = keypadStep(state, input, config);
    state = step.state;
    effects.push([...step.effects]);
  }
  return { state, effects };
}

/** Types `keys` one character each, one second apart, starting at `start`. */
function typed(keys: string, start = 1_000, gap = 1_000): KeypadInput[] {
  return [...keys].map((k, i) => key(k, start + i * gap));
}

/** Every submitted PIN, in order. */
function pins(effects: readonly (readonly KeypadEffect[])[]): string[] {
  return effects.flat().flatMap((e) => (e.kind === 'submit' ? [e.pin] : []));
}

t.test('defaults: 10 s timeout, 12 digits (the pass format maximum)', (t) => {
  t.strictSame(DEFAULT_KEYPAD, { timeoutMs: 10_000, maxDigits: 12 });
  t.strictSame(EMPTY_KEYPAD, { digits: '', lastKeyAt: null });
  t.end();
});

t.test('digits collect and each one clicks', (t) => {
  const { state, effects } = run(typed('1234'));
  t.strictSame(state, { digits: '1234', lastKeyAt: 4_000 }, 'digits and the time of the last key');
  t.strictSame(effects, [[CLICK], [CLICK], [CLICK], [CLICK]], 'one click per digit, nothing else');
  for (const d of '0123456789') {
    const step = keypadStep(EMPTY_KEYPAD, key(d, 5));
    t.strictSame(step, { state: { digits: d, lastKeyAt: 5 }, effects: [CLICK] }, `digit ${d}`);
  }
  t.end();
});

t.test('leading zeros are kept: a PIN is a string, not a number', (t) => {
  const { effects } = run(typed('0070#'));
  t.strictSame(pins(effects), ['0070']);
  t.end();
});

t.test('# submits the digits and clears', (t) => {
  const { state, effects } = run(typed('4711#'));
  t.strictSame(effects.at(-1), [submit('4711')], 'the submit is the only effect of #');
  t.strictSame(state, EMPTY_KEYPAD, 'entry cleared after submit');
  t.equal(keypadDeadline(state, DEFAULT_KEYPAD), null, 'nothing pending, no deadline');
  // The next entry starts fresh: the submitted digits never prefix it.
  const next = run(typed('99#', 10_000), DEFAULT_KEYPAD, state);
  t.strictSame(pins(next.effects), ['99'], 'second entry is only its own digits');
  t.end();
});

t.test('# on an empty entry submits nothing (it just clicks)', (t) => {
  t.strictSame(keypadStep(EMPTY_KEYPAD, key('#', 1)), { state: EMPTY_KEYPAD, effects: [CLICK] });
  const { effects } = run(typed('12##'));
  t.strictSame(pins(effects), ['12'], 'a second # right after a submit submits nothing');
  t.strictSame(effects.at(-1), [CLICK]);
  t.end();
});

t.test('* clears the entry (click + cleared star); nothing is submitted afterwards', (t) => {
  const { state, effects } = run(typed('123*'));
  t.strictSame(state, EMPTY_KEYPAD);
  t.strictSame(effects.at(-1), [CLICK, CLEARED_STAR]);
  t.equal(keypadDeadline(state, DEFAULT_KEYPAD), null, 'no pending entry after *');
  const after = run(typed('123*45#'));
  t.strictSame(pins(after.effects), ['45'], 'digits before * are discarded');
  t.strictSame(
    keypadStep(EMPTY_KEYPAD, key('*', 1)),
    {
      state: EMPTY_KEYPAD,
      effects: [CLICK, CLEARED_STAR],
    },
    '* on an empty entry still clicks and reports the clear',
  );
  t.end();
});

t.test('keypadDeadline: last key + timeout, refreshed by every digit, null when empty', (t) => {
  t.equal(keypadDeadline(EMPTY_KEYPAD, DEFAULT_KEYPAD), null);
  let s = keypadStep(EMPTY_KEYPAD, key('1', 1_000)).state;
  t.equal(keypadDeadline(s, DEFAULT_KEYPAD), 1_000 + TIMEOUT);
  s = keypadStep(s, key('2', 9_000)).state;
  t.equal(keypadDeadline(s, DEFAULT_KEYPAD), 9_000 + TIMEOUT, 'each digit restarts the timeout');
  t.equal(keypadDeadline(s, { timeoutMs: 3_000, maxDigits: 12 }), 12_000, 'follows the config');
  t.end();
});

t.test('inactivity timeout on a tick: clears exactly at the deadline, not before', (t) => {
  const s = run(typed('123')).state; // last key at 3 000
  const deadline = keypadDeadline(s, DEFAULT_KEYPAD);
  t.equal(deadline, 3_000 + TIMEOUT);
  if (deadline === null) throw new Error('unreachable');
  t.strictSame(keypadStep(s, tick(deadline - 1)), { state: s, effects: [] }, '1 ms before: untouched');
  t.strictSame(
    keypadStep(s, tick(deadline)),
    { state: EMPTY_KEYPAD, effects: [CLEARED_TIMEOUT] },
    'at the deadline: cleared',
  );
  t.strictSame(
    keypadStep(s, tick(deadline + 60_000)),
    { state: EMPTY_KEYPAD, effects: [CLEARED_TIMEOUT] },
    'a late tick clears too',
  );
  // Once cleared, further ticks say nothing more.
  const cleared = keypadStep(s, tick(deadline)).state;
  t.strictSame(keypadStep(cleared, tick(deadline + 1)), { state: EMPTY_KEYPAD, effects: [] });
  t.strictSame(keypadStep(EMPTY_KEYPAD, tick(123)), { state: EMPTY_KEYPAD, effects: [] }, 'idle tick');
  t.end();
});

t.test('inactivity timeout on the next key: the stale digits never prefix the new entry', (t) => {
  const s = run(typed('123')).state; // last key at 3 000
  const late = 3_000 + TIMEOUT;
  t.strictSame(
    keypadStep(s, key('9', late)),
    { state: { digits: '9', lastKeyAt: late }, effects: [CLEARED_TIMEOUT, CLICK] },
    'a digit at the deadline starts a new entry',
  );
  t.strictSame(
    keypadStep(s, key('9', late - 1)),
    { state: { digits: '1239', lastKeyAt: late - 1 }, effects: [CLICK] },
    'a digit 1 ms before the deadline continues the entry',
  );
  const { effects } = run([...typed('123'), key('4', late + 5), key('#', late + 6)]);
  t.strictSame(pins(effects), ['4'], 'only the digit typed after the timeout is submitted');
  t.end();
});

t.test('inactivity timeout then # or *: the stale digits are not submitted', (t) => {
  const s = run(typed('5555')).state; // last key at 4 000
  const late = 4_000 + TIMEOUT;
  t.strictSame(keypadStep(s, key('#', late)), { state: EMPTY_KEYPAD, effects: [CLEARED_TIMEOUT, CLICK] });
  t.strictSame(keypadStep(s, key('*', late)), {
    state: EMPTY_KEYPAD,
    effects: [CLEARED_TIMEOUT, CLICK, CLEARED_STAR],
  });
  t.strictSame(
    keypadStep(s, key('F1', late)),
    { state: EMPTY_KEYPAD, effects: [CLEARED_TIMEOUT] },
    'even an ignored key notices the timeout',
  );
  t.end();
});

t.test('slow but steady typing never times out', (t) => {
  const { state, effects } = run(typed('123456#', 0, TIMEOUT - 1));
  t.strictSame(pins(effects), ['123456']);
  t.notOk(
    effects.flat().some((e) => e.kind === 'cleared'),
    'no clear',
  );
  t.strictSame(state, EMPTY_KEYPAD);
  t.end();
});

t.test('a 13th digit is rejected as too_long and clears at once', (t) => {
  const twelve = run(typed('123456789012'));
  t.equal(twelve.state.digits, '123456789012', '12 digits (maxDigits) are fine');
  t.ok(
    twelve.effects.every((e) => e.length === 1 && e[0]?.kind === 'click'),
    'all clicked',
  );
  const thirteenth = keypadStep(twelve.state, key('3', 13_000));
  t.strictSame(thirteenth, { state: EMPTY_KEYPAD, effects: [TOO_LONG] }, 'rejected, no click, cleared');
  t.equal(keypadDeadline(thirteenth.state, DEFAULT_KEYPAD), null, 'no pending entry');
  // The # that follows submits nothing; the next PIN is typed afresh.
  const after = run([key('#', 14_000), ...typed('42#', 15_000)], DEFAULT_KEYPAD, thirteenth.state);
  t.strictSame(pins(after.effects), ['42']);
  t.strictSame(pins(run(typed('123456789012#')).effects), ['123456789012'], 'a 12-digit PIN submits');
  t.end();
});

t.test('maxDigits follows the config', (t) => {
  const config: KeypadConfig = { timeoutMs: TIMEOUT, maxDigits: 4 };
  const { effects } = run(typed('12345'), config);
  t.strictSame(effects.at(-1), [TOO_LONG]);
  t.strictSame(pins(run(typed('1234#'), config).effects), ['1234']);
  t.end();
});

t.test('non-keypad keys are ignored: no effect, no state change, no timeout refresh', (t) => {
  const s = run(typed('12')).state; // last key at 2 000
  for (const k of ['', 'A', 'a', 'D', ' ', '+', '/', ':', '10', '1 ', '٣', '１', 'Enter', '**', '##', '\n']) {
    const step = keypadStep(s, key(k, 2_500));
    t.strictSame(step, { state: s, effects: [] }, `key ${JSON.stringify(k)} ignored`);
  }
  // An ignored key does not extend the entry's life.
  const ignored = keypadStep(s, key('A', 11_000)).state;
  t.equal(keypadDeadline(ignored, DEFAULT_KEYPAD), 2_000 + TIMEOUT);
  t.strictSame(pins(run([...typed('1A2B3#')]).effects), ['123'], 'ignored keys between digits');
  t.end();
});

t.test('the input state is never mutated', (t) => {
  const s: KeypadState = Object.freeze({ digits: '12', lastKeyAt: 1_000 });
  for (const input of [key('3', 1_500), key('#', 1_500), key('*', 1_500), tick(50_000), key('3', 50_000)]) {
    keypadStep(s, input);
  }
  t.strictSame(s, { digits: '12', lastKeyAt: 1_000 });
  t.end();
});

// ---------------------------------------------------------------------------------------------------------
// Model-based property: an independent, obviously-correct model of what a user expects.

interface Model {
  buffer: string;
  last: number | null;
}

const KEYS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'x', '', '10'] as const;

const inputArb = (timeoutMs: number): fc.Arbitrary<{ gap: number; input: string | null }> =>
  fc.record({
    // Gaps around the timeout are generated often, including exactly the timeout.
    gap: fc.oneof(
      { weight: 6, arbitrary: fc.integer({ min: 0, max: Math.floor(timeoutMs / 2) }) },
      { weight: 1, arbitrary: fc.constantFrom(timeoutMs - 1, timeoutMs, timeoutMs + 1) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 3 * timeoutMs }) },
    ),
    input: fc.oneof(
      { weight: 10, arbitrary: fc.constantFrom(...'0123456789') },
      { weight: 2, arbitrary: fc.constant('#') },
      { weight: 2, arbitrary: fc.constantFrom(...KEYS) },
      { weight: 1, arbitrary: fc.constant(null) }, // a tick
    ),
  });

t.test('property: a submitted PIN is always 1..maxDigits digits typed since the last clear', (t) => {
  const configArb = fc.record({
    timeoutMs: fc.constantFrom(1, 1_000, TIMEOUT),
    maxDigits: fc.integer({ min: 1, max: 14 }),
  });
  let submitted = 0;
  fc.assert(
    fc.property(
      configArb.chain((config) =>
        fc.tuple(fc.constant(config), fc.array(inputArb(config.timeoutMs), { maxLength: 80 })),
      ),
      ([config, steps]) => {
        let state = EMPTY_KEYPAD;
        const model: Model = { buffer: '', last: null };
        let now = 0;
        for (const { gap, input } of steps) {
          now += gap;
          const real = keypadStep(state, input === null ? tick(now) : key(input, now), config);
          state = real.state;

          // The model: expire, then apply the key.
          const expected: KeypadEffect[] = [];
          if (model.last !== null && now >= model.last + config.timeoutMs) {
            model.buffer = '';
            model.last = null;
            expected.push(CLEARED_TIMEOUT);
          }
          if (input !== null) {
            if (/^[0-9]$/.test(input)) {
              if (model.buffer.length === config.maxDigits) {
                model.buffer = '';
                model.last = null;
                expected.push(TOO_LONG);
              } else {
                model.buffer += input;
                model.last = now;
                expected.push(CLICK);
              }
            } else if (input === '*') {
              model.buffer = '';
              model.last = null;
              expected.push(CLICK, CLEARED_STAR);
            } else if (input === '#') {
              expected.push(model.buffer === '' ? CLICK : submit(model.buffer));
              model.buffer = '';
              model.last = null;
            }
          }

          if (!isDeepStrictEqual(real.effects, expected)) return false;
          for (const e of real.effects) {
            if (e.kind !== 'submit') continue;
            submitted++;
            if (!/^[0-9]+$/.test(e.pin) || e.pin.length < 1 || e.pin.length > config.maxDigits) return false;
          }
          if (state.digits !== model.buffer || state.lastKeyAt !== model.last) return false;
          if (keypadDeadline(state, config) !== (model.last === null ? null : model.last + config.timeoutMs))
            return false;
          if (state.digits.length > config.maxDigits) return false;
          if ((state.digits === '') !== (state.lastKeyAt === null)) return false;
        }
        return true;
      },
    ),
    { numRuns: 500 },
  );
  t.ok(submitted > 100, 'the property exercised a good number of submits');
  t.end();
});
