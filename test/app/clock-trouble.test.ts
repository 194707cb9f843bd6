/**
 * Clock trouble through the real parts: AccessControl on a SQLite store, the journal, input controllers
 * (keypad + lockout), the access pipeline and the clock guard, with a fake clock whose wall time the test
 * sets backwards while the monotonic clock keeps going.
 */
import t, { type Test } from 'tap';
import { chmodSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import path from 'node:path';
import { AccessControl } from '../../src/app/access.js';
import { CLOCK_FLOOR_KEY, ClockGuard, type NtpStatusSource } from '../../src/app/clock-guard.js';
import { createLogger, openSite, readStatus, startDaemon } from '../../src/app/compose.js';
import { loadConfig, statusSocketPath, type Config } from '../../src/app/config.js';
import { DoorController } from '../../src/app/door-controller.js';
import { importSnapshot } from '../../src/app/import.js';
import { InputController } from '../../src/app/input-controller.js';
import { Journal } from '../../src/app/journal.js';
import { AccessPipeline } from '../../src/app/pipeline.js';
import { RelayPulse } from '../../src/app/relay.js';
import { buildTime, timesyncProbe } from '../../src/adapters/clock-sync.js';
import { HmacHasher } from '../../src/adapters/hasher.js';
import { SqlitePassStore } from '../../src/adapters/sqlite/store.js';
import { DEFAULT_KEYPAD } from '../../src/core/keypad.js';
import { DEFAULT_LOCKOUT } from '../../src/core/lockout.js';
import { Zone } from '../../src/core/zone.js';
import type { UntrustedClockPolicy } from '../../src/core/clock-trust.js';
import type { DeviceEvent } from '../../src/core/events.js';
import { FakeClock, FakeSource, RecordingLine, recordingLogger } from '../helpers/fakes.js';
import { MID_2026, pass, tempSite } from '../helpers/fixtures.js';
import { NO_NOTIFIER } from '../../src/adapters/sd-notify.js';

const DAY = 86_400_000;
const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

class FakeNtp implements NtpStatusSource {
  value: boolean | null = null;
  checks = 0;
  check(): Promise<boolean | null> {
    this.checks++;
    return Promise.resolve(this.value);
  }
}

/** A single-use pass valid a year (so it is "non-expiring": only the counter can refuse it). */
const ONCE = pass({
  id: 'once',
  kind: 'resident',
  credentials: [{ type: 'pin', value: '111111' }],
  validFrom: '2026-06-01T00:00:00Z',
  validUntil: '2027-06-01T00:00:00Z',
  maxUses: 1,
});
/** A resident key: valid a year, no schedule. */
const RESIDENT = pass({
  id: 'resident',
  kind: 'resident',
  credentials: [{ type: 'pin', value: '222222' }],
  validFrom: '2026-06-01T00:00:00Z',
  validUntil: '2027-06-01T00:00:00Z',
});
/** A visitor's week. */
const VISITOR = pass({
  id: 'visitor',
  credentials: [{ type: 'pin', value: '333333' }],
  validFrom: '2026-06-14T00:00:00Z',
  validUntil: '2026-06-21T00:00:00Z',
});

interface RigOptions {
  readonly dbFile: string;
  readonly clock: FakeClock;
  readonly policy?: UntrustedClockPolicy;
  readonly buildTime?: number | null;
  readonly import?: boolean;
}

function rig(t: Test, o: RigOptions) {
  const store = new SqlitePassStore(o.dbFile);
  const hasher = new HmacHasher(Buffer.alloc(32, 7));
  if (o.import !== false)
    importSnapshot(
      store,
      hasher,
      { passes: [ONCE, RESIDENT, VISITOR], accessGroups: [] },
      { policy: { maxValidityMs: 366 * DAY }, now: MID_2026 },
    );
  const { clock } = o;
  const log = recordingLogger();
  const journal = new Journal(store, 'panel-west', clock, log);
  const access = new AccessControl(store, hasher, new Zone('America/New_York'), 'panel-west', journal.ids);
  const ntp = new FakeNtp();
  const guard = new ClockGuard(store, journal, clock, log, {
    policy: o.policy ?? 'allow-non-expiring',
    nonExpiringMinDays: 180,
    buildTime: o.buildTime === undefined ? Date.parse('2026-01-01T00:00:00Z') : o.buildTime,
    ntp,
  });
  access.clockTrust = () => guard.untrusted();
  const line = new RecordingLine();
  const door = new DoorController(
    'lobby',
    new RelayPulse(line, clock),
    { pulseMs: 3000, heldOpenMs: 30_000, graceMs: 2000 },
    clock,
    journal,
    log,
  );
  const pipeline = new AccessPipeline(access, new Map([['lobby', door]]), clock, log);
  const input = (name: string) => {
    const source = new FakeSource(name);
    const ic = new InputController(source, 'lobby', pipeline, journal, clock, log, DEFAULT_KEYPAD, {
      ...DEFAULT_LOCKOUT,
    });
    source.start(ic);
    return { source, ic };
  };
  const a = input('keypad-a');
  const b = input('keypad-b');
  guard.start();
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    guard.stop();
    door.close();
    store.close();
  };
  t.teardown(close);
  const clockEvents = () =>
    store
      .listEvents(1000)
      .filter((e): e is DeviceEvent => e.type.startsWith('device.clock_'))
      .map((e) => [e.type, (e.detail ?? '').split(':')[0]]);
  return { store, guard, ntp, line, a, b, log, close, clockEvents, pipeline };
}

/** Types a PIN and # on an input; returns the last decision's reason (null: granted). */
function enter(input: { source: FakeSource }, pipeline: AccessPipeline, pin: string): string | null {
  input.source.type(`${pin}#`);
  const last = pipeline.recent[pipeline.recent.length - 1];
  if (last === undefined) throw new Error('no decision');
  return last.reason;
}

t.test(
  'the wall clock jumps back a month: a used single-use pass stays used, a lockout stays, the clock is untrusted with the policy applied',
  async (t) => {
    const site = tempSite();
    t.teardown(site.cleanup);
    const clock = new FakeClock(MID_2026);
    const r = rig(t, { dbFile: path.join(site.dir, 'd.db'), clock });
    t.same(r.guard.status(), {
      trusted: true,
      reason: null,
      floor: new Date(MID_2026).toISOString(),
      ntpSynchronized: null,
      policy: 'allow-non-expiring',
    });

    t.equal(enter(r.b, r.pipeline, '111111'), null, 'the single-use pass opens once');
    t.equal(enter(r.b, r.pipeline, '111111'), 'use_limit', 'and is used up');
    t.equal(enter(r.b, r.pipeline, '333333'), null, "the visitor's week pass opens");
    for (let i = 0; i < DEFAULT_LOCKOUT.maxFailures; i++) enter(r.a, r.pipeline, '999999');
    t.equal(r.a.ic.status().lockedOut, true, 'keypad a is locked out');
    t.equal(r.a.source.feedbacks.at(-1), 'deny');
    clock.advance(5000);

    // The clock is set back a month (a bad RTC, a hand-set date): the monotonic clock keeps going.
    clock.time -= 30 * DAY;
    clock.advance(1000);
    t.equal(enter(r.b, r.pipeline, '111111'), 'use_limit', 'the used single-use pass stays used');
    t.equal(enter(r.a, r.pipeline, '222222'), 'locked_out', 'the lockout is still in force');
    t.equal(r.a.ic.status().lockedOut, true);
    t.equal(enter(r.b, r.pipeline, '333333'), 'clock_untrusted', "the visitor's pass needs a trusted clock");
    t.equal(enter(r.b, r.pipeline, '222222'), null, 'a resident key still opens (allow-non-expiring)');
    const st = r.guard.status();
    t.equal(st.trusted, false);
    t.equal(st.reason, 'jumped-backwards', 'status says why');
    t.equal(st.floor, new Date(MID_2026 + 6000).toISOString(), 'where the clock should have been');
    t.same(r.clockEvents(), [['device.clock_untrusted', 'jumped-backwards']]);
    t.ok(r.log.lines.some((l) => l.level === 'warn' && l.msg?.startsWith('clock untrusted')));

    // The lockout ends on the monotonic clock, not the wall clock.
    clock.advance(DEFAULT_LOCKOUT.lockMs);
    t.equal(r.a.ic.status().lockedOut, false, 'the lockout ends after lockMs of monotonic time');

    // NTP synchronises (checked every 30 s): trusted again, and still nothing re-enabled.
    r.ntp.value = true;
    clock.advance(30_000);
    await flush();
    t.equal(r.guard.status().trusted, true);
    t.equal(r.guard.status().ntpSynchronized, true);
    t.same(r.clockEvents(), [
      ['device.clock_untrusted', 'jumped-backwards'],
      ['device.clock_trusted', 'NTP synchronised'],
    ]);
    clock.time += 30 * DAY; // timesyncd steps the clock to the right time
    t.equal(enter(r.b, r.pipeline, '111111'), 'use_limit', 'still used after NTP');
    t.equal(enter(r.b, r.pipeline, '333333'), null, "the visitor's pass opens again");
    t.ok(r.ntp.checks >= 2, 'NTP asked at start and every 30 s');
  },
);

t.test(
  'restart with the clock at 1970: before-last-seen from the persisted floor and journal; deny policy',
  async (t) => {
    const site = tempSite();
    t.teardown(site.cleanup);
    const dbFile = path.join(site.dir, 'd.db');
    const clock = new FakeClock(MID_2026);
    const first = rig(t, { dbFile, clock, policy: 'deny' });
    t.equal(enter(first.b, first.pipeline, '222222'), null);
    clock.advance(60_000); // the floor is written every minute
    t.equal(first.store.getMeta(CLOCK_FLOOR_KEY), String(MID_2026 + 60_000));
    clock.advance(20_000);
    t.equal(enter(first.b, first.pipeline, '111111'), null, 'an event newer than the mark');
    const lastEventAt = MID_2026 + 80_000;
    first.close(); // stop() writes the floor...

    const reopened = new SqlitePassStore(dbFile);
    t.equal(reopened.getMeta(CLOCK_FLOOR_KEY), String(lastEventAt), '... at shutdown');
    // A crash would lose the last minute of the mark: the journal's newest event covers it.
    reopened.setMeta(CLOCK_FLOOR_KEY, String(MID_2026));
    reopened.close();

    const boot = new FakeClock(5_000); // a Pi without an RTC
    const second = rig(t, { dbFile, clock: boot, policy: 'deny', import: false });
    t.same(second.guard.status(), {
      trusted: false,
      reason: 'before-last-seen',
      floor: new Date(lastEventAt).toISOString(),
      ntpSynchronized: null,
      policy: 'deny',
    });
    t.equal(enter(second.b, second.pipeline, '222222'), 'clock_untrusted', 'deny: even a resident key');
    t.equal(enter(second.b, second.pipeline, '111111'), 'clock_untrusted');
    t.same(second.line.states, [false], 'the door never opened');
    t.same(second.clockEvents(), [['device.clock_untrusted', 'before-last-seen']]);
    // The clock is set right (NTP not available): trusted once it is not before the floor.
    boot.time = lastEventAt + 1000;
    t.equal(enter(second.b, second.pipeline, '222222'), null);
    t.equal(enter(second.b, second.pipeline, '111111'), 'use_limit', 'the use survived the restart');
    t.same(second.clockEvents().at(-1), ['device.clock_trusted', 'not before 2026-06-15T16']);
  },
);

t.test('no floor at all and no NTP: no-time-source; untrusted events are not evidence', async (t) => {
  const site = tempSite();
  t.teardown(site.cleanup);
  const dbFile = path.join(site.dir, 'd.db');
  const r = rig(t, { dbFile, clock: new FakeClock(5_000), buildTime: null });
  t.equal(r.guard.status().reason, 'no-time-source');
  t.equal(enter(r.b, r.pipeline, '222222'), 'clock_untrusted', 'no floor: not even a resident key');
  r.close();
  // Those events carry 1970 times: after a restart they must not become a floor that trusts 1970.
  const again = rig(t, { dbFile, clock: new FakeClock(6_000), buildTime: null, import: false });
  t.equal(again.guard.status().reason, 'no-time-source');
});

t.test('a floor that cannot be written is logged, never thrown', async (t) => {
  const site = tempSite();
  t.teardown(site.cleanup);
  const clock = new FakeClock(MID_2026);
  const r = rig(t, { dbFile: path.join(site.dir, 'd.db'), clock });
  clock.advance(1000);
  r.store.close(); // the database went away
  t.doesNotThrow(() => r.guard.stop());
  t.ok(r.log.lines.some((l) => l.level === 'warn' && l.msg === 'could not record the clock floor'));
});

t.test('the daemon: status shows the clock, and why it is untrusted', async (t) => {
  const site = tempSite();
  t.teardown(site.cleanup);
  const loaded = loadConfig(site.configFile);
  const s = openSite(loaded);
  importSnapshot(
    s.store,
    s.hasher,
    { passes: [RESIDENT, VISITOR], accessGroups: [] },
    { policy: { maxValidityMs: 366 * DAY }, now: MID_2026 },
  );
  s.store.setMeta(CLOCK_FLOOR_KEY, String(MID_2026 + DAY));
  s.close();
  const stdin = new PassThrough();
  const daemon = startDaemon(loaded, {
    logger: createLogger('silent'),
    clock: new FakeClock(MID_2026),
    stdin,
    ntp: new FakeNtp(),
    buildTime: null,
    notifier: NO_NOTIFIER,
  });
  t.teardown(() => daemon.stop());
  const expected = {
    trusted: false,
    reason: 'before-last-seen',
    floor: new Date(MID_2026 + DAY).toISOString(),
    ntpSynchronized: null,
    policy: 'allow-non-expiring',
  };
  t.same(daemon.localStatus().clock, expected);
  t.same(daemon.status().clock, expected, 'the retained MQTT status too');
  const cfg: Config = loaded.config;
  const viaSocket = (await readStatus(statusSocketPath(cfg))) as { clock: unknown };
  t.same(viaSocket.clock, expected, 'doorpass status (the socket)');
  stdin.write('pin:222222\npin:333333\n');
  await flush();
  t.same(
    daemon.pipeline.recent.map((d) => [d.passId, d.reason]),
    [
      ['resident', null],
      ['visitor', 'clock_untrusted'],
    ],
  );
});

t.test('the NTP probe: the timesyncd flag file, then timedatectl, and unknown without either', async (t) => {
  const site = tempSite();
  t.teardown(site.cleanup);
  const flag = path.join(site.dir, 'synchronized');
  const missing = path.join(site.dir, 'no-such-tool');
  t.equal(await timesyncProbe({ flagFile: flag, timedatectl: null }).check(), null, 'neither');
  t.equal(await timesyncProbe({ flagFile: flag, timedatectl: missing }).check(), null, 'no timedatectl');
  const bin = path.join(site.dir, 'bin');
  mkdirSync(bin);
  const tool = (name: string, script: string): string => {
    const file = path.join(bin, name);
    writeFileSync(file, `#!/bin/sh\n${script}\n`);
    chmodSync(file, 0o755);
    return file;
  };
  const yes = tool('yes', '[ "$*" = "show -p NTPSynchronized --value" ] && echo yes');
  t.equal(await timesyncProbe({ flagFile: flag, timedatectl: yes }).check(), true, 'timedatectl: yes');
  t.equal(await timesyncProbe({ flagFile: flag, timedatectl: tool('no', 'echo no') }).check(), false);
  t.equal(await timesyncProbe({ flagFile: flag, timedatectl: tool('odd', 'echo maybe') }).check(), null);
  t.equal(await timesyncProbe({ flagFile: flag, timedatectl: tool('fail', 'exit 1') }).check(), null);
  t.equal(
    await timesyncProbe({ flagFile: flag, timedatectl: tool('slow', 'sleep 5'), timeoutMs: 100 }).check(),
    null,
    'a hung timedatectl times out',
  );
  writeFileSync(flag, '');
  t.equal(
    await timesyncProbe({ flagFile: flag, timedatectl: tool('never', 'exit 1') }).check(),
    true,
    'flag file',
  );
  // This machine's own answer (no systemd here): never throws.
  const own = await timesyncProbe().check();
  t.ok(own === null || typeof own === 'boolean');

  t.ok((buildTime() ?? 0) > Date.parse('2024-01-01T00:00:00Z'), 'the build time of this code');
  t.equal(buildTime(missing), null);
  const old = path.join(site.dir, 'old');
  writeFileSync(old, '');
  utimesSync(old, new Date('1985-10-26T08:15:00Z'), new Date('1985-10-26T08:15:00Z'));
  t.equal(buildTime(old), null, "npm pack's 1985 mtime is not a build time");
});

t.test(
  "a verified cloud issuedAt raises the floor: a clock two days behind the cloud is untrusted, the visitor's expired week is not honoured, and a restart remembers",
  async (t) => {
    const site = tempSite();
    t.teardown(site.cleanup);
    const clock = new FakeClock(MID_2026 + 5 * DAY); // the visitor's week ends in 1 day by this clock
    const dbFile = path.join(site.dir, 'd.db');
    const r = rig(t, { dbFile, clock });
    t.equal(enter(r.a, r.pipeline, '333333'), null, 'by its own clock the visitor is still valid');
    // The cloud says it is 2 days later (the visitor's week is over); the panel's clock is behind.
    r.guard.raiseFloor(MID_2026 + 7 * DAY);
    t.match(r.guard.status(), { trusted: false, reason: 'before-last-seen' });
    t.equal(enter(r.a, r.pipeline, '333333'), 'clock_untrusted', 'no longer honoured');
    t.equal(enter(r.a, r.pipeline, '222222'), null, 'a long-term resident key still opens (policy)');
    t.same(r.clockEvents().at(-1), ['device.clock_untrusted', 'before-last-seen']);
    r.guard.raiseFloor(MID_2026); // older evidence never lowers the floor
    t.equal(r.guard.status().floor, new Date(MID_2026 + 7 * DAY).toISOString());
    r.close();
    const again = rig(t, { dbFile, clock, import: false });
    t.match(again.guard.status(), { trusted: false, floor: new Date(MID_2026 + 7 * DAY).toISOString() });
    again.ntp.value = true; // NTP is the reference when it answers: the floor follows the clock again
    clock.advance(30_000); // the next periodic NTP check
    await flush();
    t.match(again.guard.status(), { trusted: true });
  },
);
