import t from 'tap';
import fc from 'fast-check';
import {
  ALL_DAYS,
  dayMask,
  describeSchedule,
  formatHhmm,
  parseHhmm,
  scheduleAdmits,
  WEEKDAYS,
  windowAdmits,
  type Schedule,
  type Weekday,
  type Window,
} from '../../src/core/schedule.js';
import { Zone } from '../../src/core/zone.js';

const MINUTES_PER_DAY = 1440;
const MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY;

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

/** A window from readable parts: `win('fri', '22:00', '02:00')`, `win('daily', …)`, `win(['mon', 'wed'], …)`. */
function win(days: Weekday | readonly Weekday[] | 'daily', start: string, end: string): Window {
  const mask = days === 'daily' ? ALL_DAYS : dayMask(typeof days === 'string' ? [days] : days);
  return { days: mask, start: minuteOf(start), end: minuteOf(end) };
}

const dayIndex = (d: Weekday): number => WEEKDAYS.indexOf(d);

t.test('parseHhmm', (t) => {
  const good: [string, number][] = [
    ['00:00', 0],
    ['00:01', 1],
    ['09:05', 545],
    ['12:00', 720],
    ['19:30', 1170],
    ['20:00', 1200],
    ['23:59', 1439],
  ];
  for (const [text, minute] of good) t.equal(parseHhmm(text), minute, `${text} -> ${minute}`);
  const bad = [
    '',
    '24:00',
    '25:00',
    '23:60',
    '9:00',
    '09:5',
    '0900',
    '09-00',
    '09.00',
    '09:00:00',
    ' 09:00',
    '09:00 ',
    '09:00\n',
    '-1:00',
    '09:0a',
    '９:00',
    '２３:００',
    '12:00 PM',
    'T09:00',
  ];
  for (const text of bad) t.equal(parseHhmm(text), undefined, `rejects ${JSON.stringify(text)}`);
  t.end();
});

t.test('formatHhmm is the inverse of parseHhmm on every minute of the day', (t) => {
  const mismatches: number[] = [];
  for (let m = 0; m < MINUTES_PER_DAY; m++) if (parseHhmm(formatHhmm(m)) !== m) mismatches.push(m);
  t.strictSame(mismatches, []);
  t.equal(formatHhmm(0), '00:00');
  t.equal(formatHhmm(545), '09:05');
  t.equal(formatHhmm(1439), '23:59');
  t.end();
});

t.test('dayMask', (t) => {
  const cases: [Weekday[], number][] = [
    [[], 0],
    [['mon'], 0b1],
    [['sun'], 0b100_0000],
    [['mon', 'wed', 'fri'], 0b001_0101],
    [['fri', 'mon', 'wed'], 0b001_0101],
    [['sat', 'sun'], 0b110_0000],
    [[...WEEKDAYS], ALL_DAYS],
  ];
  for (const [days, mask] of cases) t.equal(dayMask(days), mask, `[${days.join(',')}] -> ${mask}`);
  t.equal(ALL_DAYS, 127);
  t.end();
});

t.test('windowAdmits', (t) => {
  // [description, window, local weekday, local HH:MM, admitted?]
  const cases: [string, Window, Weekday, string, boolean][] = [
    // Same-day window: start inclusive, end exclusive.
    ['mon 09:00-17:00', win('mon', '09:00', '17:00'), 'mon', '08:59', false],
    ['mon 09:00-17:00', win('mon', '09:00', '17:00'), 'mon', '09:00', true],
    ['mon 09:00-17:00', win('mon', '09:00', '17:00'), 'mon', '12:00', true],
    ['mon 09:00-17:00', win('mon', '09:00', '17:00'), 'mon', '16:59', true],
    ['mon 09:00-17:00', win('mon', '09:00', '17:00'), 'mon', '17:00', false],
    ['mon 09:00-17:00', win('mon', '09:00', '17:00'), 'tue', '12:00', false],
    ['mon 09:00-17:00', win('mon', '09:00', '17:00'), 'sun', '12:00', false],
    ['mon,wed 09:00-17:00', win(['mon', 'wed'], '09:00', '17:00'), 'wed', '09:00', true],
    ['mon,wed 09:00-17:00', win(['mon', 'wed'], '09:00', '17:00'), 'tue', '09:00', false],
    ['daily 00:00-23:59', win('daily', '00:00', '23:59'), 'thu', '00:00', true],
    ['daily 00:00-23:59', win('daily', '00:00', '23:59'), 'thu', '23:58', true],
    ['daily 00:00-23:59', win('daily', '00:00', '23:59'), 'thu', '23:59', false],
    ['sun 23:00-23:59 (last day)', win('sun', '23:00', '23:59'), 'sun', '23:30', true],
    // Cross-midnight: the window belongs to the day it starts.
    ['fri 22:00-02:00', win('fri', '22:00', '02:00'), 'fri', '21:59', false],
    ['fri 22:00-02:00', win('fri', '22:00', '02:00'), 'fri', '22:00', true],
    ['fri 22:00-02:00', win('fri', '22:00', '02:00'), 'fri', '23:30', true],
    ['fri 22:00-02:00', win('fri', '22:00', '02:00'), 'fri', '23:59', true],
    ['fri 22:00-02:00', win('fri', '22:00', '02:00'), 'sat', '00:00', true],
    ['fri 22:00-02:00', win('fri', '22:00', '02:00'), 'sat', '01:30', true],
    ['fri 22:00-02:00', win('fri', '22:00', '02:00'), 'sat', '01:59', true],
    ['fri 22:00-02:00', win('fri', '22:00', '02:00'), 'sat', '02:00', false],
    ['fri 22:00-02:00', win('fri', '22:00', '02:00'), 'fri', '01:30', false],
    ['fri 22:00-02:00', win('fri', '22:00', '02:00'), 'sat', '23:30', false],
    ['fri 22:00-02:00', win('fri', '22:00', '02:00'), 'thu', '23:30', false],
    ['fri 22:00-02:00', win('fri', '22:00', '02:00'), 'sun', '01:30', false],
    // Week wrap: a Sunday-night window runs into Monday (weekday 6 -> 0).
    ['sun 22:00-02:00', win('sun', '22:00', '02:00'), 'mon', '01:00', true],
    ['sun 22:00-02:00', win('sun', '22:00', '02:00'), 'sun', '01:00', false],
    ['mon 22:00-02:00', win('mon', '22:00', '02:00'), 'mon', '01:00', false],
    ['mon 22:00-02:00', win('mon', '22:00', '02:00'), 'tue', '01:00', true],
    // Daily cross-midnight: every early morning is the tail of the previous evening.
    ['daily 22:00-06:00', win('daily', '22:00', '06:00'), 'mon', '05:59', true],
    ['daily 22:00-06:00', win('daily', '22:00', '06:00'), 'mon', '06:00', false],
    ['daily 22:00-06:00', win('daily', '22:00', '06:00'), 'mon', '21:59', false],
    ['daily 22:00-06:00', win('daily', '22:00', '06:00'), 'mon', '22:00', true],
    // Weekday-only night shift: Sat morning is Fri night's tail; Mon morning belongs to no window.
    ['mon-fri 22:00-06:00', win(['mon', 'tue', 'wed', 'thu', 'fri'], '22:00', '06:00'), 'sat', '05:00', true],
    [
      'mon-fri 22:00-06:00',
      win(['mon', 'tue', 'wed', 'thu', 'fri'], '22:00', '06:00'),
      'sun',
      '05:00',
      false,
    ],
    [
      'mon-fri 22:00-06:00',
      win(['mon', 'tue', 'wed', 'thu', 'fri'], '22:00', '06:00'),
      'mon',
      '05:00',
      false,
    ],
    ['mon-fri 22:00-06:00', win(['mon', 'tue', 'wed', 'thu', 'fri'], '22:00', '06:00'), 'tue', '05:00', true],
    // End at midnight: 22:00-00:00 is the last two hours of the day, nothing after.
    ['fri 22:00-00:00', win('fri', '22:00', '00:00'), 'fri', '23:59', true],
    ['fri 22:00-00:00', win('fri', '22:00', '00:00'), 'sat', '00:00', false],
    ['fri 23:59-00:00 (one minute)', win('fri', '23:59', '00:00'), 'fri', '23:59', true],
    ['fri 23:59-00:00 (one minute)', win('fri', '23:59', '00:00'), 'fri', '23:58', false],
    ['fri 23:59-00:00 (one minute)', win('fri', '23:59', '00:00'), 'sat', '00:00', false],
    // start == end: 24 hours from start.
    ['fri 08:00-08:00', win('fri', '08:00', '08:00'), 'fri', '07:59', false],
    ['fri 08:00-08:00', win('fri', '08:00', '08:00'), 'fri', '08:00', true],
    ['fri 08:00-08:00', win('fri', '08:00', '08:00'), 'sat', '07:59', true],
    ['fri 08:00-08:00', win('fri', '08:00', '08:00'), 'sat', '08:00', false],
    ['fri 00:00-00:00', win('fri', '00:00', '00:00'), 'thu', '23:59', false],
    ['fri 00:00-00:00', win('fri', '00:00', '00:00'), 'fri', '00:00', true],
    ['fri 00:00-00:00', win('fri', '00:00', '00:00'), 'fri', '23:59', true],
    ['fri 00:00-00:00', win('fri', '00:00', '00:00'), 'sat', '00:00', false],
    ['daily 00:00-00:00 (always)', win('daily', '00:00', '00:00'), 'sun', '23:59', true],
    ['daily 13:00-13:00 (always)', win('daily', '13:00', '13:00'), 'wed', '12:59', true],
    ['sun 12:00-12:00', win('sun', '12:00', '12:00'), 'mon', '11:59', true],
    ['sun 12:00-12:00', win('sun', '12:00', '12:00'), 'mon', '12:00', false],
    // No days: never.
    ['(no days) 00:00-00:00', { days: 0, start: 0, end: 0 }, 'mon', '12:00', false],
    ['(no days) 22:00-02:00', { days: 0, start: 1320, end: 120 }, 'tue', '01:00', false],
  ];
  for (const [desc, w, day, hhmm, admitted] of cases) {
    t.equal(
      windowAdmits(w, dayIndex(day), minuteOf(hhmm)),
      admitted,
      `${desc} ${admitted ? 'admits' : 'does not admit'} ${day} ${hhmm}`,
    );
  }
  t.end();
});

/** Reference model: mark every minute of the week the window covers, counting forward from each start. */
function referenceWeek(w: Window): boolean[] {
  const covered = new Array<boolean>(MINUTES_PER_WEEK).fill(false);
  const length = w.end > w.start ? w.end - w.start : w.end - w.start + MINUTES_PER_DAY;
  for (let day = 0; day < 7; day++) {
    if (((w.days >> day) & 1) === 0) continue;
    for (let k = 0; k < length; k++) covered[(day * MINUTES_PER_DAY + w.start + k) % MINUTES_PER_WEEK] = true;
  }
  return covered;
}

const minuteArb = fc.oneof(
  fc.integer({ min: 0, max: MINUTES_PER_DAY - 1 }),
  fc.constantFrom(0, 1, 60, 719, 720, 1438, 1439),
);
const windowArb: fc.Arbitrary<Window> = fc
  .tuple(fc.integer({ min: 0, max: ALL_DAYS }), minuteArb, fc.oneof(minuteArb, fc.constant(-1)))
  // end -1 stands for "same as start" so the 24-hour case is generated often.
  .map(([days, start, end]) => ({ days, start, end: end === -1 ? start : end }));

t.test('windowAdmits matches a minute-by-minute reference model (property)', (t) => {
  fc.assert(
    fc.property(windowArb, (w) => {
      const expected = referenceWeek(w);
      for (let i = 0; i < MINUTES_PER_WEEK; i++) {
        const weekday = Math.floor(i / MINUTES_PER_DAY);
        const minute = i % MINUTES_PER_DAY;
        if (windowAdmits(w, weekday, minute) !== expected[i]) return false;
      }
      return true;
    }),
    { numRuns: 400 },
  );
  t.pass('every minute of the week agrees for 400 random windows');
  t.end();
});

t.test('a window covers exactly its length once per selected day (property)', (t) => {
  fc.assert(
    fc.property(windowArb, (w) => {
      let admitted = 0;
      for (let i = 0; i < MINUTES_PER_WEEK; i++)
        if (windowAdmits(w, Math.floor(i / MINUTES_PER_DAY), i % MINUTES_PER_DAY)) admitted++;
      let days = 0;
      for (let d = 0; d < 7; d++) days += (w.days >> d) & 1;
      const length = w.end > w.start ? w.end - w.start : w.end - w.start + MINUTES_PER_DAY;
      // At most 24 hours long, so the copies on consecutive days never overlap and never leave a gap inside.
      return admitted === days * length;
    }),
    { numRuns: 300 },
  );
  t.pass('a window admits exactly (selected days) x (length) minutes a week');
  t.end();
});

t.test('scheduleAdmits', (t) => {
  const utc = new Zone('UTC');
  const ny = new Zone('America/New_York');
  const berlin = new Zone('Europe/Berlin');
  const office: Schedule = [
    win(['mon', 'tue', 'wed', 'thu', 'fri'], '08:00', '18:00'),
    win('sat', '09:00', '13:00'),
  ];
  const night: Schedule = [win('fri', '22:00', '02:00')];
  // [description, schedule, zone, instant (comment: local time), admitted?]
  const cases: [string, Schedule, Zone, string, boolean][] = [
    ['empty schedule', [], utc, '2026-06-03T12:00:00Z', false], // Wed 12:00 UTC
    ['office', office, utc, '2026-06-03T12:00:00Z', true], // Wed 12:00
    ['office', office, utc, '2026-06-03T18:00:00Z', false], // Wed 18:00
    ['office', office, utc, '2026-06-06T12:59:00Z', true], // Sat 12:59 (second window)
    ['office', office, utc, '2026-06-06T13:00:00Z', false], // Sat 13:00
    ['office', office, utc, '2026-06-07T12:00:00Z', false], // Sun 12:00
    // The zone's wall clock decides, not UTC: 12:30Z on Wed is 08:30 EDT and 14:30 CEST.
    ['office', office, ny, '2026-06-03T12:30:00Z', true], // Wed 08:30 EDT
    ['office', office, ny, '2026-06-03T11:30:00Z', false], // Wed 07:30 EDT
    ['office', office, berlin, '2026-06-03T16:30:00Z', false], // Wed 18:30 CEST
    ['office', office, berlin, '2026-06-03T15:30:00Z', true], // Wed 17:30 CEST
    // Local weekday differs from the UTC weekday.
    ['fri night', night, ny, '2026-06-06T03:30:00Z', true], // Fri Jun 5 23:30 EDT (Sat in UTC)
    ['fri night', night, ny, '2026-06-06T05:30:00Z', true], // Sat Jun 6 01:30 EDT
    ['fri night', night, ny, '2026-06-06T06:00:00Z', false], // Sat Jun 6 02:00 EDT
    ['fri night', night, ny, '2026-06-05T05:30:00Z', false], // Fri Jun 5 01:30 EDT
    ['fri night', night, ny, '2026-06-07T03:30:00Z', false], // Sat Jun 6 23:30 EDT
    ['fri night', night, berlin, '2026-06-05T21:30:00Z', true], // Fri Jun 5 23:30 CEST
    ['fri night', night, berlin, '2026-06-05T23:30:00Z', true], // Sat Jun 6 01:30 CEST
    ['fri night', night, berlin, '2026-06-06T21:30:00Z', false], // Sat Jun 6 23:30 CEST
    ['fri night', night, utc, '2026-06-06T01:30:00Z', true], // Sat Jun 6 01:30 UTC
  ];
  for (const [desc, schedule, zone, iso, admitted] of cases) {
    t.equal(
      scheduleAdmits(schedule, zone, at(iso)),
      admitted,
      `${desc} in ${zone.name} ${admitted ? 'admits' : 'does not admit'} ${iso} (${zone.formatLocal(at(iso))})`,
    );
  }
  t.end();
});

t.test('scheduleAdmits = any window admits (property, UTC week)', (t) => {
  const utc = new Zone('UTC');
  const monday = at('2026-06-01T00:00:00Z'); // Mon 00:00 UTC
  fc.assert(
    fc.property(
      fc.array(windowArb, { maxLength: 4 }),
      fc.integer({ min: 0, max: MINUTES_PER_WEEK - 1 }),
      (schedule, i) => {
        const weekday = Math.floor(i / MINUTES_PER_DAY);
        const minute = i % MINUTES_PER_DAY;
        const expected = schedule.some((w) => referenceWeek(w)[i] === true);
        return (
          scheduleAdmits(schedule, utc, monday + i * 60_000) === expected &&
          schedule.some((w) => windowAdmits(w, weekday, minute)) === expected
        );
      },
    ),
    { numRuns: 300 },
  );
  t.pass('scheduleAdmits agrees with the reference for random schedules and minutes');
  t.end();
});

t.test('describeSchedule', (t) => {
  const cases: [Schedule, string][] = [
    [[], ''],
    [[win('daily', '09:00', '17:00')], 'daily 09:00-17:00'],
    [[win(['mon', 'wed'], '08:00', '17:00')], 'mon,wed 08:00-17:00'],
    // Days are listed in week order whatever order they were given in.
    [[win(['sun', 'wed', 'mon'], '08:00', '17:00')], 'mon,wed,sun 08:00-17:00'],
    [[win('fri', '22:00', '02:00')], 'fri 22:00-02:00'],
    [[win('sat', '00:00', '00:00')], 'sat 00:00-00:00'],
    [
      [win(['mon', 'tue', 'wed', 'thu', 'fri', 'sat'], '06:00', '23:59')],
      'mon,tue,wed,thu,fri,sat 06:00-23:59',
    ],
    [
      [win('mon', '08:00', '12:00'), win(['sat', 'sun'], '10:00', '14:00'), win('daily', '23:00', '01:00')],
      'mon 08:00-12:00; sat,sun 10:00-14:00; daily 23:00-01:00',
    ],
  ];
  for (const [schedule, text] of cases) t.equal(describeSchedule(schedule), text, JSON.stringify(text));
  t.end();
});
