import t from 'tap';
import fc from 'fast-check';
import type { UntrustedClock } from '../../src/core/clock-trust.js';
import {
  decide,
  type Decision,
  type DecisionInput,
  type DenyReason,
  type PassRule,
  type Usage,
} from '../../src/core/decide.js';
import { ALL_DAYS, dayMask, parseHhmm, type Schedule, type Weekday } from '../../src/core/schedule.js';
import { Zone } from '../../src/core/zone.js';

const MINUTE = 60_000;
const ny = new Zone('America/New_York');
const berlin = new Zone('Europe/Berlin');

function at(iso: string): number {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new Error(`bad instant in test table: ${iso}`);
  return ms;
}

function minuteOf(hhmm: string): number {
  const m = parseHhmm(hhmm);
  if (m === undefined) throw new Error(`bad HH:MM in test table: ${hhmm}`);
  return m;
}

/** A one-window schedule: `sched('daily', '01:00', '03:00')`, `sched(['sat'], '22:00', '04:00')`. */
function sched(days: 'daily' | readonly Weekday[], start: string, end: string): Schedule {
  return [{ days: days === 'daily' ? ALL_DAYS : dayMask(days), start: minuteOf(start), end: minuteOf(end) }];
}

/** A pass valid all of 2026 (New York and Berlin calendar year, with margin), for the lobby and the garage. */
const PASS: PassRule = {
  id: 'p1',
  revoked: false,
  validFrom: at('2025-12-31T00:00:00Z'),
  validUntil: at('2027-01-02T00:00:00Z'),
  doors: ['lobby', 'garage'],
};
/** Wed 2026-06-03 12:00 EDT = 18:00 CEST. */
const NOON_NY = at('2026-06-03T16:00:00Z');
const NO_USES: Usage = { own: 0, others: 0 };

function input(pass: PassRule | undefined, over: Partial<Omit<DecisionInput, 'pass'>> = {}): DecisionInput {
  return { pass, usage: NO_USES, group: undefined, door: 'lobby', now: NOON_NY, zone: ny, ...over };
}

const granted = (passId = 'p1'): Decision => ({ granted: true, reason: null, passId });
const denied = (reason: DenyReason, passId: string | null = 'p1'): Decision => ({
  granted: false,
  reason,
  passId,
});

t.test('unknown_credential: no pass holds the credential', (t) => {
  t.strictSame(decide(input(undefined)), denied('unknown_credential', null), 'plain');
  t.strictSame(
    decide(input(undefined, { group: null, usage: { own: 99, others: 99 }, door: 'nowhere', now: 0 })),
    denied('unknown_credential', null),
    'whatever else the input says, passId null',
  );
  t.end();
});

t.test('each rule on its own', (t) => {
  // [description, pass, other input, expected]
  const cases: [string, PassRule, Partial<Omit<DecisionInput, 'pass'>>, Decision][] = [
    ['a plain valid pass', PASS, {}, granted()],
    ['revoked', { ...PASS, revoked: true }, {}, denied('revoked')],
    ['not yet valid', { ...PASS, validFrom: NOON_NY + 1 }, {}, denied('not_yet_valid')],
    ['expired', { ...PASS, validUntil: NOON_NY }, {}, denied('expired')],
    ['door not in the list', PASS, { door: 'roof' }, denied('door_not_allowed')],
    [
      'repeat window closed',
      { ...PASS, repeat: sched('daily', '18:00', '20:00') },
      {},
      denied('outside_schedule'),
    ],
    [
      'group schedule closed',
      { ...PASS, accessGroup: 'evening' },
      { group: sched('daily', '18:00', '20:00') },
      denied('outside_schedule'),
    ],
    [
      'group unknown to this device (null)',
      { ...PASS, accessGroup: 'ghost' },
      { group: null },
      denied('outside_schedule'),
    ],
    [
      'per-device limit reached',
      { ...PASS, maxUsesPerDevice: 3 },
      { usage: { own: 3, others: 0 } },
      denied('device_use_limit'),
    ],
    ['total limit reached', { ...PASS, maxUses: 3 }, { usage: { own: 1, others: 2 } }, denied('use_limit')],
  ];
  for (const [desc, pass, over, expected] of cases)
    t.strictSame(decide(input(pass, over)), expected, `${desc} -> ${expected.reason ?? 'granted'}`);
  t.end();
});

t.test('first failing rule wins (every combination of failures)', (t) => {
  type Validity = 'ok' | 'early' | 'late';
  type Sched = 'none' | 'open' | 'closed';
  type Group = 'none' | 'open' | 'closed' | 'unknown';
  const open = sched('daily', '09:00', '17:00'); // 12:00 EDT is inside
  const closed = sched('daily', '18:00', '20:00'); // 12:00 EDT is outside
  let combos = 0;
  for (const revoked of [false, true])
    for (const validity of ['ok', 'early', 'late'] as Validity[])
      for (const wrongDoor of [false, true])
        for (const repeat of ['none', 'open', 'closed'] as Sched[])
          for (const group of ['none', 'open', 'closed', 'unknown'] as Group[])
            for (const deviceFull of [false, true])
              for (const totalFull of [false, true]) {
                const own = deviceFull ? 2 : 1;
                const others = 3;
                const pass: PassRule = {
                  ...PASS,
                  revoked,
                  ...(validity === 'early' && { validFrom: NOON_NY + 1 }),
                  ...(validity === 'late' && { validUntil: NOON_NY }),
                  ...(repeat !== 'none' && { repeat: repeat === 'open' ? open : closed }),
                  ...(group !== 'none' && { accessGroup: 'g1' }),
                  maxUsesPerDevice: 2,
                  maxUses: totalFull ? own + others : own + others + 1,
                };
                const groupSchedule =
                  group === 'open'
                    ? open
                    : group === 'closed'
                      ? closed
                      : group === 'unknown'
                        ? null
                        : undefined;
                const expected: DenyReason | null = revoked
                  ? 'revoked'
                  : validity === 'early'
                    ? 'not_yet_valid'
                    : validity === 'late'
                      ? 'expired'
                      : wrongDoor
                        ? 'door_not_allowed'
                        : repeat === 'closed' || group === 'closed' || group === 'unknown'
                          ? 'outside_schedule'
                          : deviceFull
                            ? 'device_use_limit'
                            : totalFull
                              ? 'use_limit'
                              : null;
                const d = decide(
                  input(pass, {
                    door: wrongDoor ? 'roof' : 'lobby',
                    group: groupSchedule,
                    usage: { own, others },
                  }),
                );
                t.strictSame(
                  d,
                  expected === null ? granted() : denied(expected),
                  `revoked=${revoked} validity=${validity} wrongDoor=${wrongDoor} repeat=${repeat} group=${group} deviceFull=${deviceFull} totalFull=${totalFull} -> ${expected ?? 'granted'}`,
                );
                combos++;
              }
  t.equal(combos, 576);
  t.end();
});

t.test('validity: from inclusive, until exclusive, by instant', (t) => {
  const from = at('2026-06-01T13:00:00Z'); // Mon 09:00 EDT
  const until = at('2026-06-05T21:00:00Z'); // Fri 17:00 EDT
  const pass: PassRule = { ...PASS, validFrom: from, validUntil: until };
  const cases: [string, number, Decision][] = [
    ['1 ms before validFrom', from - 1, denied('not_yet_valid')],
    ['at validFrom', from, granted()],
    ['in the middle', from + (until - from) / 2, granted()],
    ['1 ms before validUntil', until - 1, granted()],
    ['at validUntil', until, denied('expired')],
    ['a year after', until + 365 * 86_400_000, denied('expired')],
  ];
  for (const [desc, now, expected] of cases) t.strictSame(decide(input(pass, { now })), expected, desc);

  // Validity is an instant, not a wall-clock time: on the fall-back night 01:30 happens twice in New York,
  // and a pass valid until 06:00Z (01:00 EST, the second 01:00) admits the first 01:30 but not the second.
  const nightPass: PassRule = { ...PASS, validUntil: at('2026-11-01T06:00:00Z') };
  t.strictSame(
    decide(input(nightPass, { now: at('2026-11-01T05:30:00Z') })), // 01:30 EDT
    granted(),
    'first 01:30 (EDT) is before validUntil',
  );
  t.strictSame(
    decide(input(nightPass, { now: at('2026-11-01T06:30:00Z') })), // 01:30 EST
    denied('expired'),
    'second 01:30 (EST) is after it',
  );
  t.end();
});

t.test('doors', (t) => {
  const cases: [string, PassRule['doors'], string, Decision][] = [
    ['listed door', ['lobby', 'garage'], 'garage', granted()],
    ['unlisted door', ['lobby', 'garage'], 'roof', denied('door_not_allowed')],
    ['match is exact (case)', ['lobby'], 'Lobby', denied('door_not_allowed')],
    ['match is exact (whitespace)', ['lobby'], 'lobby ', denied('door_not_allowed')],
    ['no prefix match', ['lobby'], 'lob', denied('door_not_allowed')],
    ['"*" admits any door', '*', 'roof', granted()],
    ['"*" admits the empty door name', '*', '', granted()],
    ['a door literally named "*" is not a wildcard in a list', ['*'], 'roof', denied('door_not_allowed')],
    ['empty list admits nothing', [], 'lobby', denied('door_not_allowed')],
  ];
  for (const [desc, doors, door, expected] of cases)
    t.strictSame(decide(input({ ...PASS, doors }, { door })), expected, desc);
  t.end();
});

t.test('schedules: repeat window and access group', (t) => {
  const open = sched('daily', '09:00', '17:00');
  const closed = sched('daily', '18:00', '20:00');
  const weekdays = sched(['mon', 'tue', 'wed', 'thu', 'fri'], '08:00', '18:00');
  const cases: [string, PassRule, Schedule | null | undefined, Decision][] = [
    ['no repeat, no group', PASS, undefined, granted()],
    ['repeat open', { ...PASS, repeat: open }, undefined, granted()],
    ['repeat closed', { ...PASS, repeat: closed }, undefined, denied('outside_schedule')],
    ['weekly repeat on the right day (Wed)', { ...PASS, repeat: weekdays }, undefined, granted()],
    [
      'weekly repeat on the wrong day',
      { ...PASS, repeat: sched(['sat', 'sun'], '08:00', '18:00') },
      undefined,
      denied('outside_schedule'),
    ],
    ['empty repeat schedule', { ...PASS, repeat: [] }, undefined, denied('outside_schedule')],
    ['group open', { ...PASS, accessGroup: 'g' }, open, granted()],
    ['group closed', { ...PASS, accessGroup: 'g' }, closed, denied('outside_schedule')],
    ['group with an empty schedule', { ...PASS, accessGroup: 'g' }, [], denied('outside_schedule')],
    ['group with two windows, second open', { ...PASS, accessGroup: 'g' }, [...closed, ...open], granted()],
    ['group unknown here (null)', { ...PASS, accessGroup: 'ghost' }, null, denied('outside_schedule')],
    [
      'group not looked up (undefined) is fail-secure too',
      { ...PASS, accessGroup: 'g' },
      undefined,
      denied('outside_schedule'),
    ],
    ['pass names no group: a group schedule given anyway is ignored', PASS, closed, granted()],
    ['pass names no group: a null group is ignored', PASS, null, granted()],
    ['repeat open AND group open', { ...PASS, repeat: open, accessGroup: 'g' }, weekdays, granted()],
    [
      'repeat open but group closed',
      { ...PASS, repeat: open, accessGroup: 'g' },
      closed,
      denied('outside_schedule'),
    ],
    [
      'group open but repeat closed',
      { ...PASS, repeat: closed, accessGroup: 'g' },
      open,
      denied('outside_schedule'),
    ],
  ];
  for (const [desc, pass, group, expected] of cases)
    t.strictSame(decide(input(pass, { group })), expected, `${desc} (Wed 12:00 EDT)`);

  // The same instant on two sites: 16:00Z is 12:00 in New York and 18:00 in Berlin.
  const pass: PassRule = { ...PASS, repeat: open };
  t.strictSame(
    decide(input(pass, { zone: ny })),
    granted(),
    'New York site: 12:00 EDT is inside 09:00-17:00',
  );
  t.strictSame(
    decide(input(pass, { zone: berlin })),
    denied('outside_schedule'),
    'Berlin site: 18:00 CEST is not',
  );
  t.end();
});

t.test('use limits', (t) => {
  // [description, maxUses, maxUsesPerDevice, usage, expected]
  const cases: [string, number | undefined, number | undefined, Usage, Decision][] = [
    ['no limits, many uses', undefined, undefined, { own: 1000, others: 1000 }, granted()],
    ['single use, unused', 1, undefined, { own: 0, others: 0 }, granted()],
    ['single use, used here', 1, undefined, { own: 1, others: 0 }, denied('use_limit')],
    ['single use, used on another device', 1, undefined, { own: 0, others: 1 }, denied('use_limit')],
    ['5 uses, 4 spent across devices', 5, undefined, { own: 2, others: 2 }, granted()],
    ['5 uses, 5 spent across devices', 5, undefined, { own: 2, others: 3 }, denied('use_limit')],
    ['5 uses, over-spent (merged counters)', 5, undefined, { own: 4, others: 4 }, denied('use_limit')],
    ['2 per device, 1 here, many elsewhere', undefined, 2, { own: 1, others: 50 }, granted()],
    ['2 per device, 2 here', undefined, 2, { own: 2, others: 0 }, denied('device_use_limit')],
    ['2 per device, 3 here (over)', undefined, 2, { own: 3, others: 0 }, denied('device_use_limit')],
    ['2 per device and 5 total: 1 here + 3 elsewhere', 5, 2, { own: 1, others: 3 }, granted()],
    ['2 per device and 5 total: 1 here + 4 elsewhere', 5, 2, { own: 1, others: 4 }, denied('use_limit')],
    [
      '2 per device and 5 total: 2 here + 0 elsewhere',
      5,
      2,
      { own: 2, others: 0 },
      denied('device_use_limit'),
    ],
    ['both exhausted: per-device is reported', 3, 2, { own: 2, others: 5 }, denied('device_use_limit')],
    ['1 per device, single use: used here', 1, 1, { own: 1, others: 0 }, denied('device_use_limit')],
    ['1 per device, single use: used elsewhere', 1, 1, { own: 0, others: 1 }, denied('use_limit')],
  ];
  for (const [desc, maxUses, maxUsesPerDevice, usage, expected] of cases) {
    const pass: PassRule = {
      ...PASS,
      ...(maxUses !== undefined && { maxUses }),
      ...(maxUsesPerDevice !== undefined && { maxUsesPerDevice }),
    };
    t.strictSame(decide(input(pass, { usage })), expected, desc);
  }
  t.end();
});

t.test('floors', (t) => {
  const withFloors: PassRule = { ...PASS, floors: [-1, 0, 12] };
  const d = decide(input(withFloors));
  t.strictSame(
    d,
    { granted: true, reason: null, passId: 'p1', floors: [-1, 0, 12] },
    'granted with the floors',
  );
  t.strictSame(
    decide(input({ ...PASS, floors: [] })),
    { ...granted(), floors: [] },
    'an empty floor list is returned as is',
  );
  const without = decide(input(PASS));
  t.notOk('floors' in without, 'no floors key when the pass has none');
  const deniedWithFloors = decide(input(withFloors, { door: 'roof' }));
  t.strictSame(deniedWithFloors, denied('door_not_allowed'), 'a denial carries no floors');
  t.notOk('floors' in deniedWithFloors);
  t.strictSame(
    decide(input({ ...withFloors, id: 'p2' })),
    { ...granted('p2'), floors: [-1, 0, 12] },
    'passId is the pass id',
  );
  t.end();
});

/**
 * DST: windows compare the site's wall clock, so on a transition day a window follows the clocks on the
 * wall. Each row: [instant (UTC), local time it is, admitted?]. Every table is checked both as a pass's
 * repeat window and as its access group's schedule.
 */
type Row = [string, string, boolean];
interface DstCase {
  readonly desc: string;
  readonly zone: Zone;
  readonly schedule: Schedule;
  readonly rows: readonly Row[];
  /** Minutes admitted between two instants, counted minute by minute: the real length of the window. */
  readonly span?: { readonly from: string; readonly to: string; readonly minutes: number };
}

const DST_CASES: DstCase[] = [
  // --- America/New_York, spring forward Sun 2026-03-08: 02:00 EST (07:00Z) -> 03:00 EDT ---
  {
    desc: 'NY spring forward, daily 01:00-03:00 lasts one real hour',
    zone: ny,
    schedule: sched('daily', '01:00', '03:00'),
    rows: [
      ['2026-03-08T05:59:00Z', 'Sun 00:59 EST', false],
      ['2026-03-08T06:00:00Z', 'Sun 01:00 EST', true],
      ['2026-03-08T06:30:00Z', 'Sun 01:30 EST', true],
      ['2026-03-08T06:59:00Z', 'Sun 01:59 EST', true],
      ['2026-03-08T07:00:00Z', 'Sun 03:00 EDT', false],
    ],
    span: { from: '2026-03-08T04:00:00Z', to: '2026-03-08T10:00:00Z', minutes: 60 },
  },
  {
    desc: 'NY the day before, daily 01:00-03:00 lasts two hours',
    zone: ny,
    schedule: sched('daily', '01:00', '03:00'),
    rows: [
      ['2026-03-07T07:59:00Z', 'Sat 02:59 EST', true],
      ['2026-03-07T08:00:00Z', 'Sat 03:00 EST', false],
    ],
    span: { from: '2026-03-07T04:00:00Z', to: '2026-03-07T10:00:00Z', minutes: 120 },
  },
  {
    desc: 'NY the day after (EDT), daily 01:00-03:00 lasts two hours',
    zone: ny,
    schedule: sched('daily', '01:00', '03:00'),
    rows: [
      ['2026-03-09T05:00:00Z', 'Mon 01:00 EDT', true],
      ['2026-03-09T06:59:00Z', 'Mon 02:59 EDT', true],
      ['2026-03-09T07:00:00Z', 'Mon 03:00 EDT', false],
    ],
    span: { from: '2026-03-09T03:00:00Z', to: '2026-03-09T09:00:00Z', minutes: 120 },
  },
  {
    desc: 'NY spring forward, daily 02:30-04:00 (starts in the skipped hour) opens when the clock reads 03:00',
    zone: ny,
    schedule: sched('daily', '02:30', '04:00'),
    rows: [
      ['2026-03-08T06:59:00Z', 'Sun 01:59 EST', false],
      ['2026-03-08T07:00:00Z', 'Sun 03:00 EDT', true],
      ['2026-03-08T07:59:00Z', 'Sun 03:59 EDT', true],
      ['2026-03-08T08:00:00Z', 'Sun 04:00 EDT', false],
    ],
    span: { from: '2026-03-08T04:00:00Z', to: '2026-03-08T10:00:00Z', minutes: 60 },
  },
  {
    desc: 'NY spring forward, daily 02:00-02:30 (wholly inside the skipped hour) does not open that day',
    zone: ny,
    schedule: sched('daily', '02:00', '02:30'),
    rows: [
      ['2026-03-08T06:59:00Z', 'Sun 01:59 EST', false],
      ['2026-03-08T07:00:00Z', 'Sun 03:00 EDT', false],
      ['2026-03-09T06:15:00Z', 'Mon 02:15 EDT', true],
    ],
    span: { from: '2026-03-08T04:00:00Z', to: '2026-03-08T10:00:00Z', minutes: 0 },
  },
  {
    desc: 'NY weekly sat 22:00-04:00 across the spring-forward night lasts five real hours',
    zone: ny,
    schedule: sched(['sat'], '22:00', '04:00'),
    rows: [
      ['2026-03-08T02:59:00Z', 'Sat 21:59 EST', false],
      ['2026-03-08T03:00:00Z', 'Sat 22:00 EST', true],
      ['2026-03-08T06:59:00Z', 'Sun 01:59 EST', true],
      ['2026-03-08T07:00:00Z', 'Sun 03:00 EDT', true],
      ['2026-03-08T07:59:00Z', 'Sun 03:59 EDT', true],
      ['2026-03-08T08:00:00Z', 'Sun 04:00 EDT', false],
      ['2026-03-09T02:00:00Z', 'Sun 22:00 EDT (Sunday is not a start day)', false],
    ],
    span: { from: '2026-03-08T00:00:00Z', to: '2026-03-08T12:00:00Z', minutes: 300 },
  },
  // --- America/New_York, fall back Sun 2026-11-01: 02:00 EDT (06:00Z) -> 01:00 EST ---
  {
    desc: 'NY fall back, daily 01:00-02:00 admits both passes of the repeated hour',
    zone: ny,
    schedule: sched('daily', '01:00', '02:00'),
    rows: [
      ['2026-11-01T04:59:00Z', 'Sun 00:59 EDT', false],
      ['2026-11-01T05:00:00Z', 'Sun 01:00 EDT (first pass)', true],
      ['2026-11-01T05:59:00Z', 'Sun 01:59 EDT (first pass)', true],
      ['2026-11-01T06:00:00Z', 'Sun 01:00 EST (second pass)', true],
      ['2026-11-01T06:59:00Z', 'Sun 01:59 EST (second pass)', true],
      ['2026-11-01T07:00:00Z', 'Sun 02:00 EST', false],
    ],
    span: { from: '2026-11-01T03:00:00Z', to: '2026-11-01T09:00:00Z', minutes: 120 },
  },
  {
    desc: 'NY fall back, daily 00:30-02:30 covering the repeated hour lasts three real hours',
    zone: ny,
    schedule: sched('daily', '00:30', '02:30'),
    rows: [
      ['2026-11-01T04:29:00Z', 'Sun 00:29 EDT', false],
      ['2026-11-01T04:30:00Z', 'Sun 00:30 EDT', true],
      ['2026-11-01T05:30:00Z', 'Sun 01:30 EDT (first pass)', true],
      ['2026-11-01T06:30:00Z', 'Sun 01:30 EST (second pass)', true],
      ['2026-11-01T07:29:00Z', 'Sun 02:29 EST', true],
      ['2026-11-01T07:30:00Z', 'Sun 02:30 EST', false],
    ],
    span: { from: '2026-11-01T03:00:00Z', to: '2026-11-01T09:00:00Z', minutes: 180 },
  },
  {
    desc: 'NY weekly sat 22:00-04:00 across the fall-back night lasts seven real hours',
    zone: ny,
    schedule: sched(['sat'], '22:00', '04:00'),
    rows: [
      ['2026-11-01T01:59:00Z', 'Sat 21:59 EDT', false],
      ['2026-11-01T02:00:00Z', 'Sat 22:00 EDT', true],
      ['2026-11-01T05:30:00Z', 'Sun 01:30 EDT (first pass)', true],
      ['2026-11-01T06:30:00Z', 'Sun 01:30 EST (second pass)', true],
      ['2026-11-01T08:59:00Z', 'Sun 03:59 EST', true],
      ['2026-11-01T09:00:00Z', 'Sun 04:00 EST', false],
    ],
    span: { from: '2026-10-31T23:00:00Z', to: '2026-11-01T12:00:00Z', minutes: 420 },
  },
  // --- Europe/Berlin, spring forward Sun 2026-03-29: 02:00 CET (01:00Z) -> 03:00 CEST ---
  {
    desc: 'Berlin spring forward, daily 01:00-03:00 lasts one real hour',
    zone: berlin,
    schedule: sched('daily', '01:00', '03:00'),
    rows: [
      ['2026-03-28T23:59:00Z', 'Sun 00:59 CET', false],
      ['2026-03-29T00:00:00Z', 'Sun 01:00 CET', true],
      ['2026-03-29T00:59:00Z', 'Sun 01:59 CET', true],
      ['2026-03-29T01:00:00Z', 'Sun 03:00 CEST', false],
    ],
    span: { from: '2026-03-28T22:00:00Z', to: '2026-03-29T04:00:00Z', minutes: 60 },
  },
  {
    desc: 'Berlin spring forward, daily 02:30-04:00 (starts in the skipped hour) opens when the clock reads 03:00',
    zone: berlin,
    schedule: sched('daily', '02:30', '04:00'),
    rows: [
      ['2026-03-29T00:59:00Z', 'Sun 01:59 CET', false],
      ['2026-03-29T01:00:00Z', 'Sun 03:00 CEST', true],
      ['2026-03-29T01:59:00Z', 'Sun 03:59 CEST', true],
      ['2026-03-29T02:00:00Z', 'Sun 04:00 CEST', false],
    ],
    span: { from: '2026-03-28T22:00:00Z', to: '2026-03-29T04:00:00Z', minutes: 60 },
  },
  {
    desc: 'Berlin weekly sat 23:00-03:30 across the spring-forward night lasts 3.5 real hours',
    zone: berlin,
    schedule: sched(['sat'], '23:00', '03:30'),
    rows: [
      ['2026-03-28T21:59:00Z', 'Sat 22:59 CET', false],
      ['2026-03-28T22:00:00Z', 'Sat 23:00 CET', true],
      ['2026-03-29T00:59:00Z', 'Sun 01:59 CET', true],
      ['2026-03-29T01:00:00Z', 'Sun 03:00 CEST', true],
      ['2026-03-29T01:29:00Z', 'Sun 03:29 CEST', true],
      ['2026-03-29T01:30:00Z', 'Sun 03:30 CEST', false],
    ],
    span: { from: '2026-03-28T18:00:00Z', to: '2026-03-29T06:00:00Z', minutes: 210 },
  },
  // --- Europe/Berlin, fall back Sun 2026-10-25: 03:00 CEST (01:00Z) -> 02:00 CET ---
  {
    desc: 'Berlin fall back, daily 02:00-03:00 admits both passes of the repeated hour',
    zone: berlin,
    schedule: sched('daily', '02:00', '03:00'),
    rows: [
      ['2026-10-24T23:59:00Z', 'Sun 01:59 CEST', false],
      ['2026-10-25T00:00:00Z', 'Sun 02:00 CEST (first pass)', true],
      ['2026-10-25T00:59:00Z', 'Sun 02:59 CEST (first pass)', true],
      ['2026-10-25T01:00:00Z', 'Sun 02:00 CET (second pass)', true],
      ['2026-10-25T01:59:00Z', 'Sun 02:59 CET (second pass)', true],
      ['2026-10-25T02:00:00Z', 'Sun 03:00 CET', false],
    ],
    span: { from: '2026-10-24T22:00:00Z', to: '2026-10-25T04:00:00Z', minutes: 120 },
  },
  {
    desc: 'Berlin fall back, daily 01:30-03:30 covering the repeated hour lasts three real hours',
    zone: berlin,
    schedule: sched('daily', '01:30', '03:30'),
    rows: [
      ['2026-10-24T23:29:00Z', 'Sun 01:29 CEST', false],
      ['2026-10-24T23:30:00Z', 'Sun 01:30 CEST', true],
      ['2026-10-25T00:30:00Z', 'Sun 02:30 CEST (first pass)', true],
      ['2026-10-25T01:30:00Z', 'Sun 02:30 CET (second pass)', true],
      ['2026-10-25T02:29:00Z', 'Sun 03:29 CET', true],
      ['2026-10-25T02:30:00Z', 'Sun 03:30 CET', false],
    ],
    span: { from: '2026-10-24T22:00:00Z', to: '2026-10-25T04:00:00Z', minutes: 180 },
  },
  {
    // Ends inside the repeated hour: it closes at the first 02:30 and opens again when the clock goes back
    // to 02:00, until the second 02:30 (the wall-clock rule, applied literally).
    desc: 'Berlin weekly sat 23:00-02:30 across the fall-back night closes and reopens',
    zone: berlin,
    schedule: sched(['sat'], '23:00', '02:30'),
    rows: [
      ['2026-10-24T20:59:00Z', 'Sat 22:59 CEST', false],
      ['2026-10-24T21:00:00Z', 'Sat 23:00 CEST', true],
      ['2026-10-25T00:15:00Z', 'Sun 02:15 CEST (first pass)', true],
      ['2026-10-25T00:30:00Z', 'Sun 02:30 CEST (first pass)', false],
      ['2026-10-25T00:59:00Z', 'Sun 02:59 CEST (first pass)', false],
      ['2026-10-25T01:00:00Z', 'Sun 02:00 CET (second pass)', true],
      ['2026-10-25T01:29:00Z', 'Sun 02:29 CET (second pass)', true],
      ['2026-10-25T01:30:00Z', 'Sun 02:30 CET (second pass)', false],
    ],
    span: { from: '2026-10-24T18:00:00Z', to: '2026-10-25T06:00:00Z', minutes: 210 + 30 },
  },
];

function admittedMinutes(pass: PassRule, zone: Zone, from: number, to: number): number {
  let n = 0;
  for (let now = from; now < to; now += MINUTE) if (decide(input(pass, { zone, now })).granted) n++;
  return n;
}

t.test('DST transitions in 2026 (New York and Berlin)', (t) => {
  for (const c of DST_CASES) {
    t.test(c.desc, (t) => {
      const viaRepeat: PassRule = { ...PASS, repeat: c.schedule };
      const viaGroup: PassRule = { ...PASS, accessGroup: 'night-shift' };
      for (const [iso, local, admitted] of c.rows) {
        const now = at(iso);
        t.equal(c.zone.formatLocal(now).slice(11), local.match(/\d\d:\d\d/)?.[0], `${iso} reads ${local}`);
        const expected = admitted ? granted() : denied('outside_schedule');
        t.strictSame(decide(input(viaRepeat, { zone: c.zone, now })), expected, `repeat: ${iso} = ${local}`);
        t.strictSame(
          decide(input(viaGroup, { zone: c.zone, now, group: c.schedule })),
          expected,
          `group: ${iso} = ${local}`,
        );
      }
      if (c.span)
        t.equal(
          admittedMinutes(viaRepeat, c.zone, at(c.span.from), at(c.span.to)),
          c.span.minutes,
          `admits ${c.span.minutes} real minutes between ${c.span.from} and ${c.span.to}`,
        );
      t.end();
    });
  }
  t.test('an unknown group denies even inside the hour a known one would admit', (t) => {
    const pass: PassRule = { ...PASS, accessGroup: 'night-shift' };
    for (const iso of ['2026-10-25T00:30:00Z', '2026-10-25T01:30:00Z'])
      // 02:30 CEST, 02:30 CET
      t.strictSame(
        decide(input(pass, { zone: berlin, now: at(iso), group: null })),
        denied('outside_schedule'),
        iso,
      );
    t.end();
  });
  t.end();
});

// ---------------------------------------------------------------------------------------------------------
// An untrusted wall clock (clock-trust.ts): the policy decides instead of `now`.

const DAY = 86_400_000;
/** The trusted floor: the newest time the device knew to be right. */
const FLOOR = at('2026-06-01T00:00:00Z');
const untrusted = (policy: UntrustedClock['policy']): UntrustedClock => ({
  policy,
  floor: FLOOR,
  nonExpiringMinMs: 180 * DAY,
});
/** A resident key: valid since before the floor, for a year after it, no schedule. */
const RESIDENT: PassRule = {
  id: 'r1',
  revoked: false,
  validFrom: at('2026-01-01T00:00:00Z'),
  validUntil: FLOOR + 366 * DAY,
  doors: '*',
};
/** The clock a Pi without an RTC boots with. */
const BOOT_1970 = 5_000;

t.test('untrusted clock, allow-non-expiring: only non-expiring passes, whatever now says', (t) => {
  const clock = untrusted('allow-non-expiring');
  const cases: [string, PassRule, Partial<Omit<DecisionInput, 'pass'>>, Decision][] = [
    ['a resident key at 1970', RESIDENT, { now: BOOT_1970 }, granted('r1')],
    ['a resident key, now in the far future', RESIDENT, { now: at('2099-01-01T00:00:00Z') }, granted('r1')],
    [
      'a week-long visitor pass, now inside its week',
      { ...PASS, validFrom: FLOOR - DAY, validUntil: FLOOR + 6 * DAY },
      { now: FLOOR + DAY },
      denied('clock_untrusted'),
    ],
    ['a pass valid all of 2026 (215 days after the floor)', PASS, {}, granted()],
    [
      'valid only from after the floor',
      { ...RESIDENT, validFrom: FLOOR + 1 },
      {},
      denied('clock_untrusted', 'r1'),
    ],
    [
      'ends less than 180 days after the floor',
      { ...RESIDENT, validUntil: FLOOR + 179 * DAY },
      {},
      denied('clock_untrusted', 'r1'),
    ],
    [
      'a repeat window',
      { ...RESIDENT, repeat: sched('daily', '00:00', '23:59') },
      {},
      denied('clock_untrusted', 'r1'),
    ],
    [
      'an access group',
      { ...RESIDENT, accessGroup: 'g' },
      { group: sched('daily', '00:00', '23:59') },
      denied('clock_untrusted', 'r1'),
    ],
    ['revoked comes first', { ...RESIDENT, revoked: true }, {}, denied('revoked', 'r1')],
    ['doors still apply', { ...RESIDENT, doors: ['garage'] }, {}, denied('door_not_allowed', 'r1')],
    [
      'use limits still apply',
      { ...RESIDENT, maxUses: 1 },
      { usage: { own: 0, others: 1 } },
      denied('use_limit', 'r1'),
    ],
    [
      'no floor: nothing qualifies',
      RESIDENT,
      { clock: { ...clock, floor: null } },
      denied('clock_untrusted', 'r1'),
    ],
  ];
  for (const [what, pass, over, expected] of cases)
    t.strictSame(decide(input(pass, { now: BOOT_1970, clock, ...over })), expected, what);
  t.strictSame(decide(input(undefined, { clock })), denied('unknown_credential', null));
  t.end();
});

t.test('untrusted clock, deny: every pass is denied clock_untrusted', (t) => {
  const clock = untrusted('deny');
  t.strictSame(decide(input(RESIDENT, { now: BOOT_1970, clock })), denied('clock_untrusted', 'r1'));
  t.strictSame(decide(input(PASS, { clock })), denied('clock_untrusted'));
  t.strictSame(decide(input({ ...PASS, revoked: true }, { clock })), denied('revoked'));
  t.end();
});

t.test('a trusted clock (no clock input) decides exactly as before', (t) => {
  t.strictSame(decide(input(RESIDENT, { now: BOOT_1970 })), denied('not_yet_valid', 'r1'));
  t.strictSame(decide(input(PASS, { clock: undefined })), granted());
  t.end();
});

t.test('property: while untrusted, no time-bound pass is ever granted', (t) => {
  const passArb = fc.record({
    id: fc.constant('p'),
    revoked: fc.boolean(),
    validFrom: fc.integer({ min: FLOOR - 400 * DAY, max: FLOOR + 400 * DAY }),
    span: fc.integer({ min: 1, max: 800 * DAY }),
    doors: fc.constantFrom<'*' | string[]>('*', ['lobby'], ['garage']),
    repeat: fc.option(fc.constant(sched('daily', '08:00', '18:00')), { nil: undefined }),
    accessGroup: fc.option(fc.constant('g'), { nil: undefined }),
    maxUses: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
  });
  fc.assert(
    fc.property(
      passArb,
      fc.constantFrom<UntrustedClock['policy']>('deny', 'allow-non-expiring'),
      fc.integer({ min: 0, max: 2 * FLOOR }),
      fc.nat(3),
      (p, policy, now, uses) => {
        const { span, repeat, accessGroup, maxUses, ...rest } = p;
        const pass: PassRule = {
          ...rest,
          validUntil: p.validFrom + span,
          ...(repeat !== undefined && { repeat }),
          ...(accessGroup !== undefined && { accessGroup }),
          ...(maxUses !== undefined && { maxUses }),
        };
        const d = decide(
          input(pass, {
            now,
            usage: { own: uses, others: 0 },
            group: sched('daily', '00:00', '23:59'),
            clock: untrusted(policy),
          }),
        );
        if (!d.granted) return true;
        // A grant: only under allow-non-expiring, and only for a pass valid at the floor and 180 days on.
        return (
          policy === 'allow-non-expiring' &&
          pass.repeat === undefined &&
          pass.accessGroup === undefined &&
          pass.validFrom <= FLOOR &&
          pass.validUntil >= FLOOR + 180 * DAY &&
          !pass.revoked
        );
      },
    ),
    { numRuns: 2000 },
  );
  t.end();
});
