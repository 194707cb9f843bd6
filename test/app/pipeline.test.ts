import t from 'tap';
import path from 'node:path';
import { AccessControl } from '../../src/app/access.js';
import { importSnapshot } from '../../src/app/import.js';
import { AccessPipeline, redact } from '../../src/app/pipeline.js';
import { RelayPulse } from '../../src/app/relay.js';
import { HmacHasher } from '../../src/adapters/hasher.js';
import { SqlitePassStore } from '../../src/adapters/sqlite/store.js';
import { Zone } from '../../src/core/zone.js';
import type { Clock, Logger, RelayDriver, Timer } from '../../src/ports/io.js';
import { MID_2026, pass, tempSite } from '../helpers/fixtures.js';

/** A clock whose time moves only when the test says so. */
class FakeClock implements Clock {
  private timers: { at: number; fn: () => void; live: boolean }[] = [];
  constructor(public time: number) {}
  now(): number {
    return this.time;
  }
  after(ms: number, fn: () => void): Timer {
    const timer = { at: this.time + ms, fn, live: true };
    this.timers.push(timer);
    return { cancel: () => void (timer.live = false) };
  }
  advance(ms: number): void {
    this.time += ms;
    for (const timer of this.timers.filter((x) => x.live && x.at <= this.time)) {
      timer.live = false;
      timer.fn();
    }
  }
}

class RecordingRelay implements RelayDriver {
  states: boolean[] = [];
  closed = false;
  set(on: boolean): void {
    this.states.push(on);
  }
  close(): void {
    this.closed = true;
  }
}

function recordingLogger(): Logger & { lines: { level: string; obj: object; msg?: string }[] } {
  const lines: { level: string; obj: object; msg?: string }[] = [];
  const at = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj, msg });
  return { lines, info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') };
}

t.test(
  'relay pulse: energise, extend on a second grant, release after pulseMs, release on close',
  async (t) => {
    const clock = new FakeClock(0);
    const driver = new RecordingRelay();
    const relay = new RelayPulse(driver, clock, 3000);
    t.same(driver.states, [false], 'released at start (fail-secure)');
    relay.pulse();
    t.equal(relay.energised, true);
    clock.advance(2000);
    relay.pulse();
    clock.advance(2000);
    t.same(driver.states, [false, true], 'extended: still energised 4 s after the first grant');
    clock.advance(1000);
    t.same(driver.states, [false, true, false]);
    t.equal(relay.energised, false);
    relay.pulse();
    relay.close();
    t.same(driver.states, [false, true, false, true, false]);
    t.equal(driver.closed, true);
    clock.advance(10_000);
    t.equal(driver.states.length, 5, 'no late release after close');
  },
);

t.test(
  'pipeline: a grant pulses the door of the input, a denial does not; one log line per decision',
  async (t) => {
    const site = tempSite();
    const store = new SqlitePassStore(path.join(site.dir, 'd.db'));
    t.teardown(() => {
      store.close();
      site.cleanup();
    });
    const hasher = new HmacHasher(Buffer.alloc(32, 3));
    importSnapshot(
      store,
      hasher,
      { passes: [pass({ doors: ['lobby'] })], accessGroups: [] },
      { policy: { maxValidityMs: 366 * 86_400_000 }, now: MID_2026 },
    );
    const clock = new FakeClock(MID_2026);
    const lobby = new RecordingRelay();
    const garage = new RecordingRelay();
    const log = recordingLogger();
    const pipeline = new AccessPipeline(
      new AccessControl(store, hasher, new Zone('America/New_York'), 'panel-west'),
      new Map([
        ['lobby', new RelayPulse(lobby, clock, 3000)],
        ['garage', new RelayPulse(garage, clock, 3000)],
      ]),
      clock,
      log,
    );
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
    t.same(lobby.states, [false, true]);
    t.same(garage.states, [false]);
    t.equal(pipeline.decisionCount, 3);
    t.same(
      log.lines.map((l) => l.msg),
      ['access granted', 'access denied', 'access denied'],
    );
    t.notMatch(JSON.stringify(log.lines), /123456|999999/, 'no credential value in the log');

    store.close(); // the database goes away: the pipeline denies and logs, it does not throw
    const d = pipeline.handle({ type: 'pin', value: '123456', door: 'lobby', source: 'console' });
    t.same(d, { granted: false, reason: 'store_unavailable', passId: null });
    t.equal(log.lines.at(-1)?.level, 'error');
    t.notMatch(JSON.stringify(log.lines.at(-1)?.obj), /123456/);
    t.same(lobby.states, [false, true], 'no pulse on failure');
  },
);

t.test('redact shows the type and length only', async (t) => {
  t.equal(redact('pin', '123456'), 'pin(6 chars)');
});
