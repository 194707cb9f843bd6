/**
 * A lockout survives a daemon restart (or a power cut): the state is kept in the journal database, and time
 * spent while the daemon was down does not count towards it. A restart can only lengthen a lockout.
 */
import t, { type Test } from 'tap';
import path from 'node:path';
import { AccessControl } from '../../src/app/access.js';
import { importSnapshot } from '../../src/app/import.js';
import { InputController, type LockoutPersistence } from '../../src/app/input-controller.js';
import { Journal } from '../../src/app/journal.js';
import { AccessPipeline } from '../../src/app/pipeline.js';
import { HmacHasher } from '../../src/adapters/hasher.js';
import { SqlitePassStore } from '../../src/adapters/sqlite/store.js';
import { DEFAULT_KEYPAD } from '../../src/core/keypad.js';
import { DEFAULT_LOCKOUT } from '../../src/core/lockout.js';
import { Zone } from '../../src/core/zone.js';
import { FakeClock, FakeSource, recordingLogger } from '../helpers/fakes.js';
import { MID_2026, pass, tempSite } from '../helpers/fixtures.js';

const hasher = new HmacHasher(Buffer.alloc(32, 3));

/** One daemon lifetime over the store directory: a fresh process has a fresh monotonic clock. */
function boot(t: Test, dir: string, wallTime: number, persistence?: LockoutPersistence) {
  const store = new SqlitePassStore(dir);
  const clock = new FakeClock(wallTime);
  const log = recordingLogger();
  const journal = new Journal(store, 'panel-west', clock, log);
  const access = new AccessControl(store, hasher, new Zone('America/New_York'), 'panel-west', journal.ids);
  const pipeline = new AccessPipeline(access, new Map(), clock, log);
  const source = new FakeSource('keypad');
  const keep: LockoutPersistence = persistence ?? {
    load: (key) => store.getMeta(key),
    save: (key, value) => store.setMeta(key, value),
  };
  const input = new InputController(
    source,
    'lobby',
    pipeline,
    journal,
    clock,
    log,
    DEFAULT_KEYPAD,
    DEFAULT_LOCKOUT,
    keep,
  );
  source.start(input);
  let closed = false;
  const close = (): void => {
    if (!closed) store.close();
    closed = true;
  };
  t.teardown(close);
  return { store, clock, log, input, close };
}

t.test('a lockout in force is still in force after a restart, for the time it had left', async (t) => {
  const site = tempSite();
  t.teardown(site.cleanup);
  const dir = path.join(site.dir, 'd');
  const first = boot(t, dir, MID_2026);
  importSnapshot(
    first.store,
    hasher,
    { passes: [pass({ doors: ['lobby'] })], accessGroups: [] },
    { policy: { maxValidityMs: 366 * 86_400_000 }, now: MID_2026 },
  );
  for (let i = 0; i < DEFAULT_LOCKOUT.maxFailures; i++) first.input.credential('pin', `99999${i}`);
  t.equal(first.input.status().lockedOut, true, 'locked after five wrong PINs');
  first.clock.advance(20_000);
  first.close(); // the process is killed 20 s into a 60 s lockout (no orderly stop)

  const second = boot(t, dir, MID_2026 + 3_600_000); // back an hour later: downtime does not count
  t.equal(second.input.status().lockedOut, true, 'still locked after the restart');
  t.equal(second.input.credential('pin', '123456').reason, 'locked_out', 'even the right PIN waits');
  t.match(
    second.log.lines.find((l) => l.msg === 'input still locked out from before the restart'),
    { level: 'warn' },
  );
  // What was saved is the lockout as it started (60 s): a crash can only lengthen it.
  second.clock.advance(59_000);
  t.equal(second.input.status().lockedOut, true, '59 s after the restart');
  second.clock.advance(1_000);
  t.equal(second.input.status().lockedOut, false);
  // The escalation level survived too: the next five failures lock for twice as long.
  for (let i = 0; i < DEFAULT_LOCKOUT.maxFailures; i++) second.input.credential('pin', `88888${i}`);
  second.clock.advance(DEFAULT_LOCKOUT.lockMs);
  t.equal(second.input.status().lockedOut, true, 'second lockout lasts 2 × lockMs');
  second.clock.advance(DEFAULT_LOCKOUT.lockMs);
  t.equal(second.input.status().lockedOut, false);
  // A grant forgets nothing (it would buy guesses): the level and the spent budget stay.
  t.equal(second.input.credential('pin', '123456').granted, true);
  // An orderly stop saves what is left of a lockout in force: the third burst locks for 4 × lockMs.
  for (let i = 0; i < DEFAULT_LOCKOUT.maxFailures; i++) second.input.credential('pin', `77777${i}`);
  second.clock.advance(45_000);
  await second.input.stop();
  second.close();
  const left = 4 * DEFAULT_LOCKOUT.lockMs - 45_000;
  const between = boot(t, dir, MID_2026 + 5_000_000);
  between.clock.advance(left - 1_000);
  t.equal(between.input.status().lockedOut, true, 'a second short of what was left at the stop');
  between.clock.advance(1_000);
  t.equal(between.input.status().lockedOut, false);
  t.equal(between.input.credential('pin', '123456').granted, true);
  between.close(); // killed: the lockout it served was saved as over at that entry
  const third = boot(t, dir, MID_2026 + 7_200_000);
  t.equal(third.input.status().lockedOut, false, 'a served lockout is not served again');
  t.match(JSON.parse(third.store.getMeta('lockout.keypad.lobby/pin') ?? '{}'), {
    v: 2,
    remainingMs: 0,
    level: 3,
    spent: 15,
  });
  t.equal(third.store.getMeta('lockout.keypad.lobby'), undefined, 'nothing under the old per-input key');
  t.same(third.input.status().lockouts.card, { lockedOut: false, lockedForMs: 0, guessesLeft: 20 });
});

t.test('slow guessing is not forgiven by a restart (the spent budget is kept)', async (t) => {
  const site = tempSite();
  t.teardown(site.cleanup);
  const dir = path.join(site.dir, 'd');
  let life = boot(t, dir, MID_2026);
  let guesses = 0;
  // One wrong PIN a minute, restarting the daemon after every third guess.
  for (;;) {
    life.input.credential('pin', String(100000 + guesses));
    guesses++;
    if (life.input.status().lockedOut || guesses >= 100) break;
    life.clock.advance(60_000);
    if (guesses % 3 === 0 && guesses < DEFAULT_LOCKOUT.maxConsecutive) {
      life.close();
      life = boot(t, dir, MID_2026 + guesses * 60_000);
    }
  }
  t.equal(guesses, DEFAULT_LOCKOUT.maxConsecutive, 'locked at the 20th guess of the budget');
});

t.test('unreadable or hostile saved state starts at the first level and keeps serving', async (t) => {
  for (const text of ['not json', '{"remainingMs":1e300,"level":-4,"consecutive":"x"}', 'null', '[]']) {
    const saved = new Map<string, string>([['lockout.keypad.lobby/pin', text]]);
    const site = tempSite();
    t.teardown(site.cleanup);
    const life = boot(t, path.join(site.dir, 'd'), MID_2026, {
      load: (k) => saved.get(k),
      save: (k, v) => void saved.set(k, v),
    });
    const locked = life.input.status().lockedOut;
    // A huge remainingMs is clamped to maxLockMs; anything unreadable is the open state.
    if (text.startsWith('{')) {
      t.equal(locked, true, 'clamped, still a lockout');
      life.clock.advance(DEFAULT_LOCKOUT.maxLockMs);
      t.equal(life.input.status().lockedOut, false, 'no longer than maxLockMs');
    } else t.equal(locked, false, `${text}: open`);
    t.equal(life.input.credential('pin', '000000').reason, 'unknown_credential', 'the door still decides');
  }
  // A persistence that fails to save is logged, not thrown.
  const site = tempSite();
  t.teardown(site.cleanup);
  const life = boot(t, path.join(site.dir, 'd'), MID_2026, {
    load: () => undefined,
    save: () => {
      throw new Error('disk full');
    },
  });
  t.equal(life.input.credential('pin', '000000').reason, 'unknown_credential');
  t.ok(life.log.lines.some((l) => l.msg === 'could not save the lockout state'));
});
