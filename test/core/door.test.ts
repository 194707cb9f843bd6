import t from 'tap';
import fc from 'fast-check';
import {
  INITIAL_DOOR,
  doorStep,
  type DoorEffect,
  type DoorEventType,
  type DoorInput,
  type DoorState,
  type DoorTiming,
} from '../../src/core/door.js';

const TIMING: DoorTiming = { pulseMs: 5_000, heldOpenMs: 30_000, graceMs: 2_000 };
/** Monotonic origin: a real panel's clock is not at 0. */
const T0 = 1_000_000;

const grant = (now: number): DoorInput => ({ kind: 'grant', now });
const exit = (now: number): DoorInput => ({ kind: 'exit', now });
const opens = (now: number): DoorInput => ({ kind: 'contact', open: true, now });
const closes = (now: number): DoorInput => ({ kind: 'contact', open: false, now });
const tick = (now: number): DoorInput => ({ kind: 'tick', now });

const PULSE: DoorEffect = { kind: 'pulse', ms: TIMING.pulseMs };
const ALARM_ON: DoorEffect = { kind: 'alarm', on: true };
const ALARM_OFF: DoorEffect = { kind: 'alarm', on: false };
const ev = (type: DoorEventType, openMs?: number): DoorEffect =>
  openMs === undefined ? { kind: 'event', type } : { kind: 'event', type, openMs };
const wake = (at: number): DoorEffect => ({ kind: 'wake', at });

/** Feeds inputs in order; returns the final state and every step's effects, one array per input. */
function run(
  inputs: readonly DoorInput[],
  from: DoorState = INITIAL_DOOR,
  timing: DoorTiming = TIMING,
): { state: DoorState; effects: DoorEffect[][] } {
  let state = from;
  const effects: DoorEffect[][] = [];
  for (const input of inputs) {
    const step = doorStep(state, input, timing);
    state = step.state;
    effects.push([...step.effects]);
  }
  return { state, effects };
}

/** A door whose sensor has reported closed at T0, never unlocked. */
const CLOSED: DoorState = doorStep(INITIAL_DOOR, closes(T0), TIMING).state;

/** The last step's effects. */
function last(effects: readonly DoorEffect[][]): DoorEffect[] {
  return effects.at(-1) ?? [];
}

t.test('initial state: level unknown, never unlocked, no alarm', (t) => {
  t.strictSame(INITIAL_DOOR, {
    open: null,
    unlockedUntil: 0,
    openedAt: null,
    forced: false,
    heldAlarm: false,
  });
  t.end();
});

t.test('first contact reading at start-up: closed is silent', (t) => {
  t.strictSame(doorStep(INITIAL_DOOR, closes(T0), TIMING), {
    state: { ...INITIAL_DOOR, open: false },
    effects: [],
  });
  t.end();
});

t.test('first contact reading at start-up: open (never unlocked) is a state, not a forced event', (t) => {
  const step = doorStep(INITIAL_DOOR, opens(T0), TIMING);
  t.strictSame(step.state, { ...INITIAL_DOOR, open: true, openedAt: T0 }, 'open, not forced, no alarm');
  t.strictSame(step.effects, [wake(T0 + TIMING.heldOpenMs)], 'only the held-open wake: no event, no alarm');
  // It is still a door standing open: held-open applies, and closing reports the time known open.
  const held = run([tick(T0 + TIMING.heldOpenMs), closes(T0 + 40_000)], step.state);
  t.strictSame(held.effects, [
    [ev('door.held_open', TIMING.heldOpenMs), ALARM_ON],
    [ev('door.closed', 40_000), ALARM_OFF],
  ]);
  t.end();
});

t.test('grant: a relay pulse, and the door is unlocked for pulseMs', (t) => {
  const step = doorStep(CLOSED, grant(T0), TIMING);
  t.strictSame(step.effects, [PULSE], 'a pulse of pulseMs, nothing else');
  t.strictSame(step.state, { ...CLOSED, unlockedUntil: T0 + TIMING.pulseMs });
  t.strictSame(
    doorStep(CLOSED, grant(T0), { ...TIMING, pulseMs: 8_000 }).effects,
    [{ kind: 'pulse', ms: 8_000 }],
    'pulse length follows the timing',
  );
  t.end();
});

t.test('contact opens within the unlock window: door.opened, no alarm', (t) => {
  const { state, effects } = run([grant(T0), opens(T0 + 1_500)], CLOSED);
  t.strictSame(last(effects), [ev('door.opened'), wake(T0 + 1_500 + TIMING.heldOpenMs)]);
  t.strictSame(state, {
    open: true,
    unlockedUntil: T0 + TIMING.pulseMs,
    openedAt: T0 + 1_500,
    forced: false,
    heldAlarm: false,
  });
  t.end();
});

t.test('opening relative to unlockedUntil + graceMs: opened within grace, forced from its end', (t) => {
  const unlocked = doorStep(CLOSED, grant(T0), TIMING).state;
  const until = T0 + TIMING.pulseMs;
  const cases: [string, number, DoorEffect[]][] = [
    ['at the grant', T0, [ev('door.opened')]],
    ['1 ms before the relay releases', until - 1, [ev('door.opened')]],
    ['as the relay releases', until, [ev('door.opened')]],
    ['within grace', until + 1_000, [ev('door.opened')]],
    ['last ms of grace', until + TIMING.graceMs - 1, [ev('door.opened')]],
    ['grace over', until + TIMING.graceMs, [ev('door.forced'), ALARM_ON]],
    ['an hour later', until + 3_600_000, [ev('door.forced'), ALARM_ON]],
  ];
  for (const [desc, at, expected] of cases) {
    const step = doorStep(unlocked, opens(at), TIMING);
    t.strictSame(step.effects, [...expected, wake(at + TIMING.heldOpenMs)], desc);
    t.equal(step.state.forced, expected.includes(ALARM_ON), `${desc}: forced flag`);
  }
  t.end();
});

t.test('a door opened without any grant is forced: event + alarm on', (t) => {
  const step = doorStep(CLOSED, opens(T0 + 10_000), TIMING);
  t.strictSame(step.effects, [ev('door.forced'), ALARM_ON, wake(T0 + 10_000 + TIMING.heldOpenMs)]);
  t.strictSame(step.state, { ...CLOSED, open: true, openedAt: T0 + 10_000, forced: true, heldAlarm: false });
  t.end();
});

t.test('graceMs 0: opening as the relay releases is already forced', (t) => {
  const timing: DoorTiming = { ...TIMING, graceMs: 0 };
  const { effects } = run([grant(T0), opens(T0 + TIMING.pulseMs)], CLOSED, timing);
  t.strictSame(last(effects), [ev('door.forced'), ALARM_ON, wake(T0 + TIMING.pulseMs + TIMING.heldOpenMs)]);
  t.strictSame(
    last(run([grant(T0), opens(T0 + TIMING.pulseMs - 1)], CLOSED, timing).effects)[0],
    ev('door.opened'),
  );
  t.end();
});

t.test('closing: door.closed with openMs; no alarm effect after an authorised opening', (t) => {
  const { state, effects } = run([grant(T0), opens(T0 + 1_000), closes(T0 + 7_000)], CLOSED);
  t.strictSame(last(effects), [ev('door.closed', 6_000)], 'openMs = close - open; no alarm off');
  t.strictSame(state, { ...CLOSED, unlockedUntil: T0 + TIMING.pulseMs });
  t.end();
});

t.test('closing a forced door: door.closed and alarm off', (t) => {
  const { state, effects } = run([opens(T0 + 1_000), closes(T0 + 4_000)], CLOSED);
  t.strictSame(last(effects), [ev('door.closed', 3_000), ALARM_OFF]);
  t.strictSame(state, CLOSED, 'forced flag cleared');
  // The next opening is judged afresh.
  t.strictSame(last(run([grant(T0 + 10_000), opens(T0 + 11_000)], state).effects)[0], ev('door.opened'));
  t.end();
});

t.test('held open: wake time, a tick before it re-wakes, at it one held_open + alarm', (t) => {
  const openedAt = T0 + 1_000;
  const deadline = openedAt + TIMING.heldOpenMs;
  const open = run([grant(T0), opens(openedAt)], CLOSED);
  t.strictSame(last(open.effects).at(-1), wake(deadline), 'opening asks for a tick at openedAt + heldOpenMs');

  const early = doorStep(open.state, tick(deadline - 1), TIMING);
  t.equal(early.state, open.state, 'a tick before it changes nothing');
  t.strictSame(early.effects, [wake(deadline)], 'and asks again for the same time');
  t.strictSame(doorStep(open.state, tick(openedAt), TIMING).effects, [wake(deadline)], 'tick at the opening');

  const due = doorStep(open.state, tick(deadline), TIMING);
  t.strictSame(due.effects, [ev('door.held_open', TIMING.heldOpenMs), ALARM_ON], 'at the deadline');
  t.strictSame(due.state, { ...open.state, heldAlarm: true });

  const lateStep = doorStep(open.state, tick(deadline + 4_000), TIMING);
  t.strictSame(lateStep.effects, [ev('door.held_open', TIMING.heldOpenMs + 4_000), ALARM_ON], 'a late tick');

  for (const at of [deadline, deadline + 1, deadline + 3_600_000]) {
    const again = doorStep(due.state, tick(at), TIMING);
    t.equal(again.state, due.state, `tick at +${at - deadline} after: same state`);
    t.strictSame(again.effects, [], `tick at +${at - deadline} after: nothing (one held_open per opening)`);
  }

  const closed = doorStep(due.state, closes(deadline + 10_000), TIMING);
  t.strictSame(closed.effects, [ev('door.closed', TIMING.heldOpenMs + 10_000), ALARM_OFF], 'closing ends it');
  t.strictSame(closed.state, { ...CLOSED, unlockedUntil: T0 + TIMING.pulseMs });
  t.end();
});

t.test('each opening gets its own held-open check', (t) => {
  const { effects } = run(
    [
      grant(T0),
      opens(T0 + 1_000),
      tick(T0 + 31_000), // held open
      closes(T0 + 32_000),
      grant(T0 + 40_000),
      opens(T0 + 41_000),
      tick(T0 + 70_999),
      tick(T0 + 71_000),
    ],
    CLOSED,
  );
  t.strictSame(effects.slice(5), [
    [ev('door.opened'), wake(T0 + 71_000)],
    [wake(T0 + 71_000)],
    [ev('door.held_open', TIMING.heldOpenMs), ALARM_ON],
  ]);
  t.end();
});

t.test('a forced door held open raises held_open but no second alarm on; one alarm off on close', (t) => {
  const at = T0 + 1_000;
  const { effects, state } = run(
    [opens(at), tick(at + TIMING.heldOpenMs), tick(at + TIMING.heldOpenMs + 1), closes(at + 60_000)],
    CLOSED,
  );
  t.strictSame(effects, [
    [ev('door.forced'), ALARM_ON, wake(at + TIMING.heldOpenMs)],
    [ev('door.held_open', TIMING.heldOpenMs)],
    [],
    [ev('door.closed', 60_000), ALARM_OFF],
  ]);
  t.strictSame(state, CLOSED);
  t.end();
});

t.test('a grant while a forced door stands open does not silence the alarm', (t) => {
  const { effects, state } = run([opens(T0 + 1_000), grant(T0 + 2_000)], CLOSED);
  t.strictSame(last(effects), [PULSE]);
  t.equal(state.forced, true, 'still forced until it closes');
  t.end();
});

t.test('exit button: pulse + door.exit, then opening is authorised', (t) => {
  const { state, effects } = run([exit(T0), opens(T0 + 2_000), closes(T0 + 4_000)], CLOSED);
  t.strictSame(effects, [
    [PULSE, ev('door.exit')],
    [ev('door.opened'), wake(T0 + 2_000 + TIMING.heldOpenMs)],
    [ev('door.closed', 2_000)],
  ]);
  t.equal(state.unlockedUntil, T0 + TIMING.pulseMs, 'exit unlocks like a grant');
  t.strictSame(
    last(run([exit(T0), opens(T0 + TIMING.pulseMs + TIMING.graceMs)], CLOSED).effects).slice(0, 2),
    [ev('door.forced'), ALARM_ON],
    'but only for the pulse and grace',
  );
  t.end();
});

t.test('a repeated contact level is no change', (t) => {
  const open = run([grant(T0), opens(T0 + 1_000)], CLOSED).state;
  const again = doorStep(open, opens(T0 + 20_000), TIMING);
  t.equal(again.state, open, 'open again: same state (the held-open timer is not restarted)');
  t.strictSame(again.effects, []);
  const afterRepeat = doorStep(again.state, tick(T0 + 31_000), TIMING);
  t.strictSame(
    afterRepeat.effects,
    [ev('door.held_open', TIMING.heldOpenMs), ALARM_ON],
    'held from the first',
  );

  const closedAgain = doorStep(CLOSED, closes(T0 + 5_000), TIMING);
  t.equal(closedAgain.state, CLOSED, 'closed again: same state');
  t.strictSame(closedAgain.effects, []);
  // A forced door whose contact repeats open raises nothing new.
  const forced = doorStep(CLOSED, opens(T0 + 1_000), TIMING).state;
  t.strictSame(doorStep(forced, opens(T0 + 2_000), TIMING), { state: forced, effects: [] });
  t.end();
});

t.test('a second grant during a pulse extends unlockedUntil (max of both)', (t) => {
  const first = doorStep(CLOSED, grant(T0), TIMING);
  const second = doorStep(first.state, grant(T0 + 3_000), TIMING);
  t.strictSame(second.effects, [PULSE], 'each grant pulses');
  t.equal(second.state.unlockedUntil, T0 + 3_000 + TIMING.pulseMs, 'extended to the later end');
  // Opening after the first pulse's end (+ grace) but within the second's is authorised.
  t.strictSame(
    last(run([opens(T0 + TIMING.pulseMs + TIMING.graceMs + 500)], second.state).effects)[0],
    ev('door.opened'),
  );
  // A grant never shortens an unlock already running (max, not last).
  const long: DoorState = { ...CLOSED, unlockedUntil: T0 + 60_000 };
  t.equal(doorStep(long, grant(T0), TIMING).state.unlockedUntil, T0 + 60_000, 'kept the longer one');
  t.equal(doorStep(long, exit(T0), TIMING).state.unlockedUntil, T0 + 60_000, 'exit too');
  // A grant after the previous pulse ended starts a fresh one.
  t.equal(
    doorStep(first.state, grant(T0 + 100_000), TIMING).state.unlockedUntil,
    T0 + 100_000 + TIMING.pulseMs,
  );
  t.end();
});

t.test('no contact sensor (open null): ticks, grants and exits never raise door events', (t) => {
  let s = INITIAL_DOOR;
  for (const at of [0, T0, T0 + TIMING.heldOpenMs, T0 + 86_400_000]) {
    const step = doorStep(s, tick(at), TIMING);
    t.equal(step.state, s, `tick at ${at}: same state`);
    t.strictSame(step.effects, [], `tick at ${at}: nothing`);
  }
  s = doorStep(s, grant(T0), TIMING).state;
  s = doorStep(s, exit(T0 + 1_000), TIMING).state;
  t.equal(s.open, null, 'still unknown');
  t.strictSame(doorStep(s, tick(T0 + 10 * TIMING.heldOpenMs), TIMING).effects, []);
  t.end();
});

t.test('a closed door: ticks do nothing', (t) => {
  for (const at of [T0, T0 + TIMING.heldOpenMs, T0 + 10 * TIMING.heldOpenMs]) {
    t.strictSame(doorStep(CLOSED, tick(at), TIMING), { state: CLOSED, effects: [] });
  }
  t.end();
});

t.test('the input state is never mutated', (t) => {
  const s: DoorState = Object.freeze({ ...CLOSED, unlockedUntil: T0 + 5_000 });
  const o: DoorState = Object.freeze({ ...s, open: true, openedAt: T0, forced: true });
  for (const input of [grant(T0), exit(T0), opens(T0 + 1), closes(T0 + 1), tick(T0 + 100_000)]) {
    doorStep(s, input, TIMING);
    doorStep(o, input, TIMING);
  }
  t.strictSame(s, { ...CLOSED, unlockedUntil: T0 + 5_000 });
  t.strictSame(o, { ...CLOSED, unlockedUntil: T0 + 5_000, open: true, openedAt: T0, forced: true });
  t.end();
});

// ---------------------------------------------------------------------------------------------------------
// Property: over any input sequence the alarm output is consistent and the events tell a coherent story.

type Kind = 'grant' | 'exit' | 'open' | 'close' | 'tick';
const inputArb = fc.record({
  gap: fc.oneof(
    fc.integer({ min: 0, max: 3_000 }),
    fc.constantFrom(TIMING.pulseMs, TIMING.graceMs, TIMING.heldOpenMs, TIMING.heldOpenMs - 1),
    fc.integer({ min: 0, max: 3 * TIMING.heldOpenMs }),
  ),
  kind: fc.constantFrom<Kind>('grant', 'exit', 'open', 'close', 'tick', 'tick'),
});

function toInput(kind: Kind, now: number): DoorInput {
  switch (kind) {
    case 'grant':
      return grant(now);
    case 'exit':
      return exit(now);
    case 'open':
      return opens(now);
    case 'close':
      return closes(now);
    case 'tick':
      return tick(now);
  }
}

t.test('property: alarm on/off alternate and match the state; events follow the contact', (t) => {
  fc.assert(
    fc.property(fc.boolean(), fc.array(inputArb, { maxLength: 60 }), (withSensor, steps) => {
      let s = INITIAL_DOOR;
      let now = T0;
      let alarm = false;
      let heldThisOpening = 0;
      let pendingWake: number | null = null;
      for (const { gap, kind } of steps) {
        now += gap;
        // Without a sensor, contact inputs never arrive.
        if (!withSensor && (kind === 'open' || kind === 'close')) continue;
        const before = s;
        const { state, effects } = doorStep(s, toInput(kind, now), TIMING);
        s = state;
        if (s.unlockedUntil < before.unlockedUntil) return false;
        for (const e of effects) {
          if (e.kind === 'alarm') {
            if (e.on === alarm) return false; // on twice, or off while off
            alarm = e.on;
          }
          if (e.kind === 'event') {
            const type = e.type;
            if (type === 'door.opened' || type === 'door.forced') {
              if (before.open === true || kind !== 'open') return false;
              heldThisOpening = 0;
            }
            if (type === 'door.forced' && !effects.some((x) => x.kind === 'alarm' && x.on)) return false;
            if (type === 'door.closed') {
              if (kind !== 'close' || before.open !== true || before.openedAt === null) return false;
              if (e.openMs !== now - before.openedAt || e.openMs < 0) return false;
            }
            if (type === 'door.held_open') {
              if (kind !== 'tick' || before.openedAt === null) return false;
              if (now - before.openedAt < TIMING.heldOpenMs || e.openMs !== now - before.openedAt)
                return false;
              if (++heldThisOpening > 1) return false;
            }
            if (type === 'door.exit' && kind !== 'exit') return false;
          }
          if (e.kind === 'pulse' && kind !== 'grant' && kind !== 'exit') return false;
          if (e.kind === 'wake') {
            // Always the current opening's deadline, and in the future (a wake in the past would spin).
            if (s.openedAt === null || e.at !== s.openedAt + TIMING.heldOpenMs || e.at <= now) return false;
            pendingWake = e.at;
          }
        }
        if (alarm !== (s.forced || s.heldAlarm)) return false;
        if (
          !withSensor &&
          (s.open !== null || effects.some((e) => e.kind === 'event' && e.type !== 'door.exit'))
        )
          return false;
        if (s.open !== true && (s.openedAt !== null || s.forced || s.heldAlarm || alarm)) return false;
        if (s.open === true && s.openedAt === null) return false;
        if (s.open !== true) pendingWake = null;
      }
      // A door left open gets its held-open alarm when the requested wake arrives.
      if (s.open === true && !s.heldAlarm && pendingWake !== null) {
        const { effects } = doorStep(s, tick(Math.max(now, pendingWake)), TIMING);
        if (effects[0]?.kind !== 'event' || effects[0].type !== 'door.held_open') return false;
      }
      return true;
    }),
    { numRuns: 1_000 },
  );
  t.pass('1000 random input sequences');
  t.end();
});
