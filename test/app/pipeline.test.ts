import t, { type Test } from 'tap';
import path from 'node:path';
import { AccessControl } from '../../src/app/access.js';
import { DoorController } from '../../src/app/door-controller.js';
import { importSnapshot } from '../../src/app/import.js';
import { InputController } from '../../src/app/input-controller.js';
import { Journal } from '../../src/app/journal.js';
import { AccessPipeline, redact } from '../../src/app/pipeline.js';
import { RelayPulse } from '../../src/app/relay.js';
import { HmacHasher } from '../../src/adapters/hasher.js';
import { SqlitePassStore } from '../../src/adapters/sqlite/store.js';
import { DEFAULT_KEYPAD } from '../../src/core/keypad.js';
import { DEFAULT_LOCKOUT } from '../../src/core/lockout.js';
import { Zone } from '../../src/core/zone.js';
import { FakeClock, FakeSource, RecordingLine, recordingLogger } from '../helpers/fakes.js';
import { MID_2026, pass, tempSite } from '../helpers/fixtures.js';

t.test(
  'relay pulse: energise, extend on a second grant, release after the pulse, release on close',
  async (t) => {
    const clock = new FakeClock(0);
    const line = new RecordingLine();
    const relay = new RelayPulse(line, clock);
    t.same(line.states, [false], 'released at start (fail-secure)');
    relay.pulse(3000);
    t.equal(relay.energised, true);
    clock.advance(2000);
    relay.pulse(3000);
    clock.advance(2000);
    t.same(line.states, [false, true], 'extended: still energised 4 s after the first grant');
    clock.advance(1000);
    t.same(line.states, [false, true, false]);
    relay.pulse(3000);
    relay.pulse(1000);
    clock.advance(1500);
    t.equal(relay.energised, true, 'a shorter pulse does not cut a longer one short');
    relay.close();
    t.same(line.states, [false, true, false, true, false]);
    t.equal(line.closed, true);
    clock.advance(10_000);
    t.equal(line.states.length, 5, 'no late release after close');
  },
);

function rig(t: Test, passes = [pass({ doors: ['lobby'] })]) {
  const site = tempSite();
  const store = new SqlitePassStore(path.join(site.dir, 'd'));
  t.teardown(() => {
    store.close();
    site.cleanup();
  });
  const hasher = new HmacHasher(Buffer.alloc(32, 3));
  importSnapshot(
    store,
    hasher,
    { passes, accessGroups: [] },
    { policy: { maxValidityMs: 366 * 86_400_000 }, now: MID_2026 },
  );
  const clock = new FakeClock(MID_2026);
  const log = recordingLogger();
  const journal = new Journal(store, 'panel-west', clock, log);
  const access = new AccessControl(store, hasher, new Zone('America/New_York'), 'panel-west', journal.ids);
  const lines = { lobby: new RecordingLine(), garage: new RecordingLine() };
  const doors = new Map(
    (['lobby', 'garage'] as const).map((id) => [
      id,
      new DoorController(
        id,
        new RelayPulse(lines[id], clock),
        { pulseMs: 3000, heldOpenMs: 30_000, graceMs: 2000 },
        clock,
        journal,
        log,
      ),
    ]),
  );
  const pipeline = new AccessPipeline(access, doors, clock, log);
  const source = new FakeSource('keypad');
  const input = new InputController(
    source,
    'lobby',
    pipeline,
    journal,
    clock,
    log,
    DEFAULT_KEYPAD,
    DEFAULT_LOCKOUT,
  );
  source.start(input);
  return { store, clock, log, lines, doors, pipeline, source, input, journal };
}

t.test(
  'pipeline: a grant pulses the door of the input, a denial does not; one log line per decision',
  async (t) => {
    const { pipeline, lines, log, store, doors } = rig(t);
    t.equal(
      pipeline.handle({ type: 'pin', value: '123456', door: 'lobby', source: 'console' }).granted,
      true,
    );
    t.equal(
      pipeline.handle({ type: 'pin', value: '123456', door: 'garage', source: 'console' }).reason,
      'door_not_allowed',
    );
    t.equal(
      pipeline.handle({ type: 'pin', value: '999999', door: 'lobby', source: 'console' }).reason,
      'unknown_credential',
    );
    t.same(lines.lobby.states, [false, true]);
    t.same(lines.garage.states, [false]);
    t.equal(pipeline.decisionCount, 3);
    t.same(
      pipeline.recent.map((d) => [d.door, d.granted, d.reason]),
      [
        ['lobby', true, null],
        ['garage', false, 'door_not_allowed'],
        ['lobby', false, 'unknown_credential'],
      ],
    );
    t.same(
      log.lines.map((l) => l.msg),
      ['access granted', 'access denied', 'access denied'],
    );
    t.notMatch(JSON.stringify(log.lines), /123456|999999/, 'no credential value in the log');

    store.close(); // the database goes away: the pipeline denies and logs, it does not throw
    const d = pipeline.handle({ type: 'pin', value: '123456', door: 'lobby', source: 'console' });
    t.same(d, { granted: false, reason: 'store_unavailable', passId: null });
    t.ok(log.lines.some((l) => l.level === 'error' && l.msg === 'access decision failed; denying'));
    t.notMatch(JSON.stringify(log.lines), /123456/);
    t.same(lines.lobby.states, [false, true], 'no pulse on failure');
    doors.forEach((d) => d.close());
  },
);

t.test('keypad PIN entry through the input: click per key, # submits, accept/deny feedback', async (t) => {
  const { source, lines, store } = rig(t);
  source.type('123456#');
  t.same(source.feedbacks, ['click', 'click', 'click', 'click', 'click', 'click', 'accept']);
  t.same(lines.lobby.states, [false, true]);
  source.feedbacks = [];
  source.type('12*123456#');
  t.same(
    source.feedbacks,
    ['click', 'click', 'click', 'click', 'click', 'click', 'click', 'click', 'click', 'accept'],
    '* clears',
  );
  source.feedbacks = [];
  source.type('0000#');
  t.equal(source.feedbacks.at(-1), 'deny');
  source.feedbacks = [];
  source.type('1234567890123');
  t.same(source.feedbacks.slice(-1), ['deny'], 'a 13th digit is refused at once');
  const events = store.listEvents(10).map((e) => [e.type, 'reason' in e ? e.reason : null]);
  t.same(events, [
    ['access.granted', null],
    ['access.granted', null],
    ['access.denied', 'unknown_credential'],
  ]);
});

t.test('keypad inactivity timeout discards a partial entry', async (t) => {
  const { source, clock, store } = rig(t);
  source.type('123');
  clock.advance(DEFAULT_KEYPAD.timeoutMs);
  source.type('456#');
  t.equal(source.feedbacks.at(-1), 'deny', '"456" alone, not "123456"');
  t.equal(store.listEvents(5).length, 1);
});

t.test(
  'lockout: 5 wrong PINs in a minute lock the input; attempts are denied locked_out and journalled',
  async (t) => {
    const { source, clock, store, input, lines } = rig(t);
    for (let i = 0; i < 5; i++) source.type(`99990${i}#`);
    t.equal(input.status().lockedOut, true);
    const lockEvent = store.listEvents(20).find((e) => e.type === 'input.locked_out');
    t.match(lockEvent, { type: 'input.locked_out', source: 'keypad', door: 'lobby', lockedForMs: 60_000 });
    source.feedbacks = [];
    source.type('123456#');
    t.equal(source.feedbacks.at(-1), 'locked_out', 'even the right PIN is refused while locked out');
    t.same(lines.lobby.states, [false]);
    const last = store.listEvents(1)[0];
    t.match(last, { type: 'access.denied', reason: 'locked_out', passId: null });
    clock.advance(60_000);
    source.type('123456#');
    t.equal(source.feedbacks.at(-1), 'accept', 'open again after the lockout');
    t.equal(input.status().lockedOut, false);
    t.notMatch(JSON.stringify(store.listEvents(50)), /123456|99990/);
  },
);

t.test('lockout doubles on repeat and is not reset by a wall clock set backwards', async (t) => {
  const { source, clock, input } = rig(t);
  for (let i = 0; i < 5; i++) source.type('000000#');
  clock.advance(60_000);
  for (let i = 0; i < 5; i++) source.type('000000#');
  clock.time -= 86_400_000; // the wall clock jumps back a day: lockouts run on the monotonic clock
  clock.advance(119_000);
  t.equal(input.status().lockedOut, true, 'second lockout lasts 120 s');
  clock.advance(1000);
  t.equal(input.status().lockedOut, false);
});

t.test('read errors and online/offline are journalled; a read error gives deny feedback', async (t) => {
  const { input, source, store } = rig(t);
  input.readError('wiegand 26-bit parity: even parity failed');
  input.online(false, 'port closed');
  input.online(false, 'still closed');
  input.online(true, 'hello');
  t.same(source.feedbacks, ['deny']);
  t.same(
    store.listEvents(10).map((e) => e.type),
    ['input.read_error', 'input.offline', 'input.online'],
  );
  t.equal(input.status().readErrors, 1);
});

t.test(
  'door: forced open and held open raise events and the alarm; an authorised opening does not',
  async (t) => {
    const { doors, clock, store, source } = rig(t);
    const lobby = doors.get('lobby');
    if (!lobby) throw new Error('no lobby');
    const alarms: boolean[] = [];
    lobby.onAlarm((on) => alarms.push(on));
    lobby.contact(false); // start-up level: closed
    source.type('123456#');
    clock.advance(1000);
    lobby.contact(true);
    clock.advance(5000);
    lobby.contact(false);
    t.same(alarms, []);
    clock.advance(60_000);
    lobby.contact(true); // nobody was let in
    t.same(alarms, [true]);
    clock.advance(31_000);
    lobby.contact(false);
    t.same(alarms, [true, false]);
    lobby.exit();
    lobby.contact(true);
    clock.advance(30_000);
    t.same(alarms, [true, false, true], 'held open after an exit');
    lobby.contact(false);
    const types = store.listEvents(20).map((e) => e.type);
    t.same(types, [
      'access.granted',
      'door.opened',
      'door.closed',
      'door.forced',
      'door.held_open',
      'door.closed',
      'door.exit',
      'door.opened',
      'door.held_open',
      'door.closed',
    ]);
    t.match(
      store.listEvents(20).find((e) => e.type === 'door.held_open'),
      { openMs: 30_000 },
    );
  },
);

t.test('redact shows the type and length only', async (t) => {
  t.equal(redact('pin', '123456'), 'pin(6 chars)');
});
