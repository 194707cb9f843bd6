import t from 'tap';
import fc from 'fast-check';
import {
  clockTrustStep,
  INITIAL_CLOCK_TRUST,
  isNonExpiring,
  type ClockTrustInput,
  type ClockTrustState,
} from '../../src/core/clock-trust.js';

const DAY = 86_400_000;
const T0 = Date.parse('2026-06-15T16:00:00Z');
const BOOT_1970 = 5_000;

function run(
  inputs: readonly ClockTrustInput[],
  from: ClockTrustState = INITIAL_CLOCK_TRUST,
): ClockTrustState {
  return inputs.reduce((s, i) => clockTrustStep(s, i), from);
}
const obs = (wall: number, mono: number): ClockTrustInput => ({ kind: 'observe', wall, mono });

t.test('no floor and no NTP: untrusted, no-time-source', async (t) => {
  const s = run([obs(T0, 0)]);
  t.equal(s.trusted, false);
  t.equal(s.reason, 'no-time-source');
  t.equal(s.floor, null);
  t.equal(run([{ kind: 'ntp', synchronized: null }, obs(T0, 0)]).reason, 'no-time-source');
  t.equal(run([{ kind: 'ntp', synchronized: false }, obs(T0, 0)]).reason, 'no-time-source');
});

t.test('a floor: trusted at or after it (within the tolerance), before-last-seen before it', async (t) => {
  const withFloor = run([{ kind: 'evidence', at: T0 }]);
  t.equal(run([obs(T0, 0)], withFloor).trusted, true, 'at the floor');
  t.equal(run([obs(T0 - 1500, 0)], withFloor).trusted, true, 'within the 2 s tolerance');
  const before = run([obs(BOOT_1970, 0)], withFloor);
  t.equal(before.trusted, false);
  t.equal(before.reason, 'before-last-seen');
  t.equal(before.floor, T0, 'an untrusted clock never moves the floor');
  // The clock is set right later (by hand, or a late RTC read): trusted from then on.
  const later = run([obs(BOOT_1970 + 10_000, 10_000), obs(T0 + 60_000, 20_000)], before);
  t.equal(later.trusted, true);
  t.equal(later.floor, T0 + 60_000, 'the floor follows a trusted clock');
});

t.test('evidence raises the floor, never lowers it; bad numbers are ignored', async (t) => {
  const s = run([
    { kind: 'evidence', at: T0 },
    { kind: 'evidence', at: T0 - DAY },
    { kind: 'evidence', at: Number.NaN },
  ]);
  t.equal(s.floor, T0);
  t.equal(run([{ kind: 'evidence', at: T0 + 5 }], s).floor, T0 + 5);
});

t.test('NTP synchronised: trusted whatever the floor, and the floor follows the clock down', async (t) => {
  // A clock that once ran a year ahead left a floor in the future; NTP is the authority.
  const s = run([{ kind: 'evidence', at: T0 + 365 * DAY }, { kind: 'ntp', synchronized: true }, obs(T0, 0)]);
  t.equal(s.trusted, true);
  t.equal(s.reason, null);
  t.equal(s.floor, T0);
  t.equal(s.ntpSynchronized, true);
  // NTP lost again: still trusted as long as the clock does not go below what NTP last confirmed.
  const lost = run([{ kind: 'ntp', synchronized: false }, obs(T0 + 1000, 1000)], s);
  t.equal(lost.trusted, true);
  t.equal(run([obs(T0 - 60_000, 2000)], lost).reason, 'jumped-backwards');
  t.equal(clockTrustStep(s, { kind: 'ntp', synchronized: true }), s, 'the same report changes nothing');
});

t.test('a backwards jump while running: untrusted until the clock catches up or NTP syncs', async (t) => {
  let s = run([{ kind: 'evidence', at: T0 - DAY }, obs(T0, 0), obs(T0 + 30_000, 30_000)]);
  t.equal(s.trusted, true);
  t.equal(s.floor, T0 + 30_000);
  // 10 s later (monotonic), the wall clock reads an hour earlier.
  s = run([obs(T0 + 40_000 - 3_600_000, 40_000)], s);
  t.equal(s.trusted, false);
  t.equal(s.reason, 'jumped-backwards');
  t.equal(s.floor, T0 + 40_000, 'the floor is where the wall clock should have been');
  // Both clocks move on together: still behind the floor.
  s = run([obs(T0 + 100_000 - 3_600_000, 100_000)], s);
  t.equal(s.reason, 'jumped-backwards', 'no new jump, but not caught up either');
  // It catches up after the hour it lost.
  s = run([obs(T0 + 40_000, 3_640_000)], s);
  t.equal(s.trusted, true);
  t.equal(s.jumped, false);

  // Again, but NTP synchronises: trusted at once.
  let u = run([obs(T0 - 3_600_000, 3_650_000)], s);
  t.equal(u.reason, 'jumped-backwards');
  u = run([{ kind: 'ntp', synchronized: true }, obs(T0 - 3_590_000, 3_660_000)], u);
  t.equal(u.trusted, true);
  t.equal(u.floor, T0 - 3_590_000);
});

t.test('small steps back (within the tolerance) and forward jumps are not trouble', async (t) => {
  let s = run([{ kind: 'evidence', at: T0 }, obs(T0, 0)]);
  s = run([obs(T0 + 10_000 - 1500, 10_000)], s);
  t.equal(s.trusted, true, 'a 1.5 s step back');
  s = run([obs(T0 + 86_400_000, 20_000)], s);
  t.equal(s.trusted, true, 'a forward step (NTP after boot)');
  t.equal(s.floor, T0 + 86_400_000);
});

t.test('a jump while already untrusted keeps the floor and says jumped-backwards', async (t) => {
  let s = run([{ kind: 'evidence', at: T0 }, obs(BOOT_1970 + 100_000, 100_000)]);
  t.equal(s.reason, 'before-last-seen');
  s = run([obs(BOOT_1970, 110_000)], s);
  t.equal(s.reason, 'jumped-backwards');
  t.equal(s.floor, T0);
});

t.test('property: without NTP the clock is never trusted below the floor less the tolerance', async () => {
  const input = fc.oneof(
    fc.record({
      kind: fc.constant('observe' as const),
      dWall: fc.integer({ min: -DAY, max: DAY }),
      dMono: fc.nat(DAY),
    }),
    fc.record({ kind: fc.constant('evidence' as const), at: fc.integer({ min: 0, max: 2 * T0 }) }),
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 * T0 }), fc.array(input, { maxLength: 40 }), (start, steps) => {
      let s: ClockTrustState = INITIAL_CLOCK_TRUST;
      let wall = start;
      let mono = 0;
      let maxFloor: number | null = null;
      for (const step of steps) {
        if (step.kind === 'evidence') {
          s = clockTrustStep(s, step);
          maxFloor = maxFloor === null ? step.at : Math.max(maxFloor, step.at);
          continue;
        }
        wall += step.dWall;
        mono += step.dMono;
        const before = s.floor;
        s = clockTrustStep(s, { kind: 'observe', wall, mono });
        if (s.trusted && (before === null || wall < before - 2000)) return false;
        if (before !== null && (s.floor === null || s.floor < before)) return false; // never lowered
        if (s.floor !== null && maxFloor !== null && s.floor < maxFloor) return false; // evidence kept
      }
      return true;
    }),
  );
});

t.test('isNonExpiring: no repeat, no group, valid at the floor and long enough after it', async (t) => {
  const min = 180 * DAY;
  const p = { validFrom: T0 - DAY, validUntil: T0 + 200 * DAY };
  t.equal(isNonExpiring(p, T0, min), true);
  t.equal(isNonExpiring(p, null, min), false, 'no floor');
  t.equal(isNonExpiring({ ...p, validFrom: T0 + 1 }, T0, min), false, 'not yet valid at the floor');
  t.equal(isNonExpiring({ ...p, validUntil: T0 + min - 1 }, T0, min), false, 'too short');
  t.equal(isNonExpiring({ ...p, validUntil: T0 + min }, T0, min), true, 'exactly the minimum');
  t.equal(isNonExpiring({ ...p, repeat: [] }, T0, min), false, 'a repeat window');
  t.equal(isNonExpiring({ ...p, accessGroup: 'g' }, T0, min), false, 'an access group');
});
