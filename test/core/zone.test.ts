import { deepStrictEqual } from 'node:assert/strict';
import t from 'tap';
import fc from 'fast-check';
import { isValidTimeZone, Zone } from '../../src/core/zone.js';

const HOUR = 3_600_000;
const MINUTE = 60_000;
const DAY = 86_400_000;

/** Epoch ms of an explicit ISO instant; throws on a typo so a table row can never silently be NaN. */
function at(iso: string): number {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new Error(`bad instant in test table: ${iso}`);
  return ms;
}

/** Days since 1970-01-01 of a calendar date (what WallClock.day should be for that local date). */
function dayOf(y: number, m: number, d: number): number {
  const date = new Date(0);
  date.setUTCFullYear(y, m - 1, d);
  return Math.floor(date.getTime() / DAY);
}

t.test('isValidTimeZone', (t) => {
  const good = [
    'UTC',
    'Etc/UTC',
    'GMT',
    'Etc/GMT-2',
    'Europe/Berlin',
    'America/New_York',
    'America/Argentina/Buenos_Aires',
    'Asia/Kathmandu',
    'Asia/Kolkata',
    'Australia/Lord_Howe',
    'Pacific/Chatham',
    // Intl resolves names case-insensitively and knows the backward-compatible links.
    'europe/berlin',
    'US/Eastern',
  ];
  for (const name of good) t.equal(isValidTimeZone(name), true, `accepts ${JSON.stringify(name)}`);
  const bad = [
    '',
    'Mars/Olympus',
    'Europe/Berlin ',
    ' Europe/Berlin',
    'America/New York',
    'Europe',
    'Not/A_Zone',
    'Europe/Berlin/Mitte',
    '+25:00',
    'x'.repeat(65),
    // Over the 64-character cap even though it is otherwise shaped like a name.
    `Europe/${'B'.repeat(60)}`,
  ];
  for (const name of bad) t.equal(isValidTimeZone(name), false, `rejects ${JSON.stringify(name)}`);
  t.end();
});

t.test('Zone constructor', (t) => {
  t.equal(new Zone('Europe/Berlin').name, 'Europe/Berlin', 'keeps the name it was given');
  for (const name of ['', 'Mars/Olympus', 'America/New York']) {
    t.throws(
      () => new Zone(name),
      { name: 'RangeError', message: `unknown time zone "${name}"` },
      `throws a RangeError naming ${JSON.stringify(name)}`,
    );
  }
  t.end();
});

t.test('offsetAt', (t) => {
  // [zone, instant, expected offset in minutes, what the instant is locally]
  const cases: [string, string, number, string][] = [
    ['UTC', '2026-06-01T12:00:00Z', 0, '12:00 UTC'],
    ['Etc/GMT-2', '2026-01-01T00:00:00Z', 120, 'POSIX sign: Etc/GMT-2 is UTC+2'],
    ['America/New_York', '2026-01-15T12:00:00Z', -300, 'Jan 15 07:00 EST'],
    ['America/New_York', '2026-07-15T12:00:00Z', -240, 'Jul 15 08:00 EDT'],
    // Spring forward 2026-03-08: 02:00 EST (07:00Z) becomes 03:00 EDT.
    ['America/New_York', '2026-03-08T06:45:00Z', -300, '01:45 EST, first ms of the last EST bucket'],
    ['America/New_York', '2026-03-08T06:59:59.999Z', -300, '01:59:59.999 EST, last EST ms'],
    ['America/New_York', '2026-03-08T07:00:00Z', -240, '03:00 EDT, first EDT ms'],
    ['America/New_York', '2026-03-08T07:14:59.999Z', -240, '03:14:59.999 EDT'],
    // Fall back 2026-11-01: 02:00 EDT (06:00Z) becomes 01:00 EST.
    ['America/New_York', '2026-11-01T05:59:59.999Z', -240, '01:59:59.999 EDT (first pass)'],
    ['America/New_York', '2026-11-01T06:00:00Z', -300, '01:00 EST (second pass)'],
    // Berlin spring forward 2026-03-29: 02:00 CET (01:00Z) becomes 03:00 CEST.
    ['Europe/Berlin', '2026-03-29T00:59:59.999Z', 60, '01:59:59.999 CET'],
    ['Europe/Berlin', '2026-03-29T01:00:00Z', 120, '03:00 CEST'],
    // Berlin fall back 2026-10-25: 03:00 CEST (01:00Z) becomes 02:00 CET.
    ['Europe/Berlin', '2026-10-25T00:59:59.999Z', 120, '02:59:59.999 CEST (first pass)'],
    ['Europe/Berlin', '2026-10-25T01:00:00Z', 60, '02:00 CET (second pass)'],
    // Zones whose offset is not a whole hour.
    ['Asia/Kathmandu', '2026-01-01T00:00:00Z', 345, '05:45 NPT'],
    ['Asia/Kolkata', '2026-01-01T00:00:00Z', 330, '05:30 IST'],
    ['Pacific/Chatham', '2026-07-01T00:00:00Z', 765, '12:45 CHAST (winter)'],
    ['Pacific/Chatham', '2026-01-01T00:00:00Z', 825, '13:45 CHADT (summer)'],
    // Lord Howe moves by 30 minutes: 2026-04-05 02:00 LHDT (+11, 15:00Z Apr 4) becomes 01:30 LHST (+10:30).
    ['Australia/Lord_Howe', '2026-04-04T14:59:59.999Z', 660, '01:59:59.999 LHDT'],
    ['Australia/Lord_Howe', '2026-04-04T15:00:00Z', 630, '01:30 LHST'],
    // Far instants, including years 0–99 (Date.UTC would read them as 19xx) and 1 BC (ISO year 0000).
    ['UTC', '1969-12-31T23:59:59.999Z', 0, 'before the epoch'],
    ['UTC', '0050-06-01T12:00:00Z', 0, 'year 50'],
    ['UTC', '0000-01-01T00:00:00Z', 0, 'ISO year 0 = 1 BC'],
    ['Etc/GMT-2', '0001-01-01T00:30:00Z', 120, 'year 1, fixed +2'],
    ['UTC', '9999-12-31T23:59:59.999Z', 0, 'last 4-digit-year instant'],
  ];
  for (const [name, iso, minutes, what] of cases) {
    const zone = new Zone(name);
    t.equal(zone.offsetAt(at(iso)), minutes * MINUTE, `${name} at ${iso} (${what}) is ${minutes} min`);
  }
  t.end();
});

t.test('offsetAt memo: the answer does not depend on call order or on cache eviction', (t) => {
  const name = 'America/New_York';
  // Every minute from 2026-03-08T05:00Z to 09:00Z (00:00 EST to 05:00 EDT), asked in reverse on a reused zone.
  const from = at('2026-03-08T05:00:00Z');
  const instants = Array.from({ length: 4 * 60 + 1 }, (_, i) => from + i * MINUTE);
  const reused = new Zone(name);
  const backwards = [...instants].reverse().map((ms) => reused.offsetAt(ms));
  const fresh = instants.map((ms) => new Zone(name).offsetAt(ms));
  t.strictSame([...backwards].reverse(), fresh, 'reverse order on one zone = fresh zone per instant');
  t.equal(fresh.filter((o) => o === -5 * HOUR).length, 120, '05:00Z–06:59Z is EST (120 minutes)');
  t.equal(fresh.filter((o) => o === -4 * HOUR).length, 121, '07:00Z–09:00Z is EDT (121 minutes)');

  // More than the cache holds (256 buckets): two full passes over 1000 quarter-hours across both transitions.
  const berlin = new Zone('Europe/Berlin');
  const start = at('2026-10-20T00:00:00Z');
  const quarters = Array.from({ length: 1000 }, (_, i) => start + i * 15 * MINUTE + 7 * MINUTE);
  const first = quarters.map((ms) => berlin.offsetAt(ms));
  const second = quarters.map((ms) => berlin.offsetAt(ms));
  t.strictSame(second, first, 'second pass (after evictions) equals the first');
  const switchAt = at('2026-10-25T01:00:00Z');
  t.ok(
    quarters.every((ms, i) => first[i] === (ms < switchAt ? 2 * HOUR : HOUR)),
    'every quarter-hour has the offset of its side of the 2026-10-25 transition',
  );
  t.end();
});

t.test('wallClock', (t) => {
  // [zone, instant, local weekday (0 = Mon), local minute, local date, what the instant is locally]
  const cases: [string, string, number, number, [number, number, number], string][] = [
    ['UTC', '1970-01-01T00:00:00Z', 3, 0, [1970, 1, 1], 'the epoch was a Thursday'],
    ['UTC', '1969-12-31T23:59:00Z', 2, 1439, [1969, 12, 31], 'Wednesday 23:59, day -1'],
    ['UTC', '2026-06-01T00:00:00Z', 0, 0, [2026, 6, 1], 'Monday 00:00'],
    ['UTC', '2026-06-07T23:59:59.999Z', 6, 1439, [2026, 6, 7], 'Sunday 23:59:59.999'],
    // Local date differs from the UTC date.
    ['America/New_York', '2026-03-07T03:30:00Z', 4, 22 * 60 + 30, [2026, 3, 6], 'Fri Mar 6 22:30 EST'],
    ['Europe/Berlin', '2026-03-28T23:30:00Z', 6, 30, [2026, 3, 29], 'Sun Mar 29 00:30 CET'],
    ['Asia/Kathmandu', '2026-06-01T18:15:00Z', 1, 0, [2026, 6, 2], 'Tue Jun 2 00:00 NPT'],
    // Spring forward: 01:59 EST is followed by 03:00 EDT.
    ['America/New_York', '2026-03-08T06:59:00Z', 6, 119, [2026, 3, 8], 'Sun 01:59 EST'],
    ['America/New_York', '2026-03-08T07:00:00Z', 6, 180, [2026, 3, 8], 'Sun 03:00 EDT'],
    // Fall back: 01:30 happens twice.
    ['America/New_York', '2026-11-01T05:30:00Z', 6, 90, [2026, 11, 1], 'Sun 01:30 EDT (first pass)'],
    ['America/New_York', '2026-11-01T06:30:00Z', 6, 90, [2026, 11, 1], 'Sun 01:30 EST (second pass)'],
    ['Europe/Berlin', '2026-03-29T00:59:00Z', 6, 119, [2026, 3, 29], 'Sun 01:59 CET'],
    ['Europe/Berlin', '2026-03-29T01:00:00Z', 6, 180, [2026, 3, 29], 'Sun 03:00 CEST'],
    ['Europe/Berlin', '2026-10-25T00:30:00Z', 6, 150, [2026, 10, 25], 'Sun 02:30 CEST (first pass)'],
    ['Europe/Berlin', '2026-10-25T01:30:00Z', 6, 150, [2026, 10, 25], 'Sun 02:30 CET (second pass)'],
    ['UTC', '0050-06-01T12:00:00Z', 2, 720, [50, 6, 1], 'Wed Jun 1 of year 50, 12:00'],
  ];
  for (const [name, iso, weekday, minute, [y, m, d], what] of cases) {
    t.strictSame(
      new Zone(name).wallClock(at(iso)),
      { weekday, minute, day: dayOf(y, m, d) },
      `${name} at ${iso}: ${what}`,
    );
  }
  t.end();
});

t.test('wallClock agrees with an independent Intl reading (property)', (t) => {
  const zones = ['America/New_York', 'Europe/Berlin', 'Australia/Lord_Howe', 'Asia/Kathmandu', 'UTC'].map(
    (name) => ({
      zone: new Zone(name),
      fmt: new Intl.DateTimeFormat('en-US', {
        timeZone: name,
        hourCycle: 'h23',
        weekday: 'short',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
      }),
    }),
  );
  const WEEKDAY_INDEX: Record<string, number> = { Mon: 0, Tue: 1, Wed: 2, Thu: 3, Fri: 4, Sat: 5, Sun: 6 };
  const lo = at('2000-01-01T00:00:00Z');
  const hi = at('2040-01-01T00:00:00Z');
  fc.assert(
    fc.property(fc.integer({ min: 0, max: zones.length - 1 }), fc.integer({ min: lo, max: hi }), (zi, ms) => {
      const { zone, fmt } = zones[zi]!;
      const parts: Record<string, string> = {};
      for (const p of fmt.formatToParts(ms)) parts[p.type] = p.value;
      const expected = {
        weekday: WEEKDAY_INDEX[parts.weekday!],
        minute: Number(parts.hour) * 60 + Number(parts.minute),
        day: dayOf(Number(parts.year), Number(parts.month), Number(parts.day)),
      };
      deepStrictEqual(zone.wallClock(ms), expected, `${zone.name} at ${new Date(ms).toISOString()}`);
    }),
    { numRuns: 2000 },
  );
  t.pass('2000 random instants in 2000–2040 over 5 zones match Intl');
  t.end();
});

t.test('formatLocal', (t) => {
  // [zone, instant, expected local text]
  const cases: [string, string, string][] = [
    ['UTC', '2026-05-01T09:00:00Z', '2026-05-01 09:00'],
    ['UTC', '2026-05-01T09:00:59.999Z', '2026-05-01 09:00'],
    ['Europe/Berlin', '2026-05-01T09:00:00Z', '2026-05-01 11:00'],
    ['America/New_York', '2026-01-01T04:59:00Z', '2025-12-31 23:59'],
    ['Asia/Kathmandu', '2026-06-01T18:15:00Z', '2026-06-02 00:00'],
    ['America/New_York', '2026-03-08T06:59:00Z', '2026-03-08 01:59'],
    ['America/New_York', '2026-03-08T07:00:00Z', '2026-03-08 03:00'],
    // The repeated hour prints the same text twice (no offset in the output).
    ['America/New_York', '2026-11-01T05:30:00Z', '2026-11-01 01:30'],
    ['America/New_York', '2026-11-01T06:30:00Z', '2026-11-01 01:30'],
    ['Europe/Berlin', '2026-10-25T00:30:00Z', '2026-10-25 02:30'],
    ['Europe/Berlin', '2026-10-25T01:30:00Z', '2026-10-25 02:30'],
    ['UTC', '0050-06-01T12:00:00Z', '0050-06-01 12:00'],
    ['UTC', '0000-01-01T00:00:00Z', '0000-01-01 00:00'],
    ['Etc/GMT-2', '0050-06-01T23:30:00Z', '0050-06-02 01:30'],
    ['UTC', '9999-12-31T23:59:00Z', '9999-12-31 23:59'],
  ];
  for (const [name, iso, text] of cases)
    t.equal(new Zone(name).formatLocal(at(iso)), text, `${name} at ${iso} -> ${text}`);
  t.end();
});
