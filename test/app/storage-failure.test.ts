/**
 * The journal cannot be written (a real SQLITE_FULL from a page limit, a real SQLITE_READONLY): decisions
 * go on from the cache under storage.writeFailurePolicy, an alarm is raised, and when writing works again
 * the buffered events and uses land once, in order.
 */
import t, { type Test } from 'tap';
import { closeSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { HmacHasher } from '../../src/adapters/hasher.js';
import { SqlitePassStore } from '../../src/adapters/sqlite/store.js';
import { AccessControl } from '../../src/app/access.js';
import { createLogger, openSite, startDaemon } from '../../src/app/compose.js';
import { loadConfig } from '../../src/app/config.js';
import { PassSync } from '../../src/app/sync.js';
import { importSnapshot } from '../../src/app/import.js';
import { Journal } from '../../src/app/journal.js';
import { StorageGuard, type WriteFailurePolicy } from '../../src/app/storage.js';
import type { JournalEvent } from '../../src/core/events.js';
import { Zone } from '../../src/core/zone.js';
import { FakeClock, recordingLogger } from '../helpers/fakes.js';
import { MID_2026, pass, tempSite } from '../helpers/fixtures.js';
import { NO_NOTIFIER } from '../../src/adapters/sd-notify.js';

const DEVICE = 'panel-west';
const FILLER = 'test.filler';

function setup(t: Test, policy: WriteFailurePolicy = 'deny-limited', maxPending = 100) {
  const site = tempSite();
  const store = new SqlitePassStore(path.join(site.dir, 'state'));
  const hasher = new HmacHasher(Buffer.alloc(32, 7));
  importSnapshot(
    store,
    hasher,
    {
      passes: [
        pass({ id: 'u', credentials: [{ type: 'pin', value: '111111' }] }),
        pass({ id: 'l', maxUses: 1, credentials: [{ type: 'pin', value: '222222' }] }),
      ],
      accessGroups: [],
    },
    { policy: { maxValidityMs: 366 * 86_400_000 }, now: MID_2026 },
  );
  const clock = new FakeClock(MID_2026);
  const log = recordingLogger();
  const journal = new Journal(store, DEVICE, clock, log);
  const guard = new StorageGuard(store, DEVICE, journal.ids, clock, log, {
    policy,
    maxPending,
    retryMs: 5000,
  });
  journal.storage = guard;
  const access = new AccessControl(store, hasher, new Zone('America/New_York'), DEVICE, journal.ids);
  access.storage = guard;
  t.teardown(() => {
    guard.stop();
    store.close();
    site.cleanup();
  });
  const at = (pin: string) => {
    clock.advance(10);
    const d = access.attempt({ type: 'pin', value: pin, door: 'lobby', now: clock.now() }).decision;
    return d.granted ? 'granted' : d.reason;
  };
  const events = (): JournalEvent[] => store.listEvents(1000).filter((e) => (e.type as string) !== FILLER);
  const ownUses = () =>
    Object.fromEntries(
      store.db
        .prepare<[], { pass_id: string; count: number }>('SELECT pass_id, count FROM own_uses')
        .all()
        .map((r) => [r.pass_id, r.count]),
    );
  return { store, clock, log, journal, guard, access, at, events, ownUses };
}

/** The disk is full: the journal may not grow, and its last pages are filled to the brim. */
function diskFull(store: SqlitePassStore): void {
  store.db.pragma(`max_page_count = ${store.db.pragma('page_count', { simple: true }) as number}`);
  const insert = store.db.prepare("INSERT INTO events (id, at, type, body) VALUES ('f', 0, ?, ?)");
  for (const size of [4000, 1000, 200, 40]) {
    for (;;) {
      try {
        insert.run(FILLER, JSON.stringify({ type: FILLER, pad: 'x'.repeat(size) }));
      } catch (e) {
        if ((e as { code?: string }).code !== 'SQLITE_FULL') throw e;
        break;
      }
    }
  }
}

function spaceAgain(store: SqlitePassStore): void {
  store.db.pragma('max_page_count = 1073741823');
}

t.test('disk full (deny-limited): unlimited passes open, limited ones do not; alarm; recovery', async (t) => {
  const { store, clock, journal, guard, at, events, ownUses } = setup(t);
  t.equal(at('111111'), 'granted', 'writable: normal');
  diskFull(store);
  t.equal(at('111111'), 'granted', 'an unlimited pass opens under deny-limited');
  t.equal(at('222222'), 'store_unavailable', 'a single-use pass does not: its use cannot be recorded');
  journal.append({ type: 'door.opened', door: 'lobby' });
  const st = guard.status();
  t.same(
    [st.writable, st.pendingEvents, st.policy, st.since !== null],
    [false, 4, 'deny-limited', true],
    'status: not writable, 4 events waiting',
  );
  t.match(st.lastError, /SQLITE_FULL|full/);
  const before = events();
  t.equal(before.length, 1, 'nothing reached the file');

  clock.advance(5000);
  t.equal(guard.writable, false, 'the retry fails while the disk is full');
  t.equal(clock.pendingTimers, 1, 'and is scheduled again');

  spaceAgain(store);
  clock.advance(5000);
  t.equal(guard.writable, true, 'the periodic retry recovers');
  const after = events();
  t.same(
    after.map((e) => [e.type, 'reason' in e ? e.reason : undefined]),
    [
      ['access.granted', null],
      ['device.storage_failed', undefined],
      ['access.granted', null],
      ['access.denied', 'store_unavailable'],
      ['door.opened', undefined],
      ['device.storage_recovered', undefined],
    ],
    'buffered events written in order, between the alarm and the recovery',
  );
  const ids = after.map((e) => e.id);
  t.same([...ids].sort(), ids, 'ids ascend in journal order');
  t.equal(new Set(ids).size, ids.length, 'no duplicates');
  t.equal((after[5] as { count?: number }).count, 4, 'count: the buffered events, the alarm included');
  t.same(ownUses(), { u: 2 }, 'the use granted meanwhile is counted');
  t.same(guard.status().pendingEvents, 0);

  clock.advance(20_000);
  t.equal(events().length, after.length, 'nothing written twice');
  t.equal(at('222222'), 'granted', 'writable again: the limited pass opens, counted');
  t.same(ownUses(), { u: 2, l: 1 });
});

const MATRIX: Record<WriteFailurePolicy, string[]> = {
  'deny-limited': ['granted', 'store_unavailable', 'store_unavailable'],
  'deny-all': ['store_unavailable', 'store_unavailable', 'store_unavailable'],
  'allow-all': ['granted', 'granted', 'use_limit'],
};

for (const [policy, expected] of Object.entries(MATRIX) as [WriteFailurePolicy, string[]][]) {
  t.test(`read-only journal, policy ${policy}`, async (t) => {
    const { store, guard, at, events, ownUses } = setup(t, policy);
    store.db.pragma('query_only = 1');
    t.same([at('111111'), at('222222'), at('222222')], expected);
    t.match(guard.status().lastError, /SQLITE_READONLY|readonly/);
    t.same(events(), []);
    store.db.pragma('query_only = 0');
    // The next write tries first to write what is buffered (no need to wait for the timer).
    t.equal(at('999999'), 'unknown_credential');
    const types = events().map((e) => e.type);
    t.same(types.slice(0, 1), ['device.storage_failed']);
    t.same(types.slice(-2), ['device.storage_recovered', 'access.denied']);
    t.equal(types.length, 6);
    const granted = expected.filter((e) => e === 'granted').length;
    t.same(
      ownUses(),
      granted === 0 ? {} : policy === 'allow-all' ? { u: 1, l: 1 } : { u: 1 },
      'grants made meanwhile are counted once',
    );
  });
}

t.test('the buffer is bounded: the oldest events after the alarm are dropped, and said so', async (t) => {
  const { store, at, events, guard } = setup(t, 'deny-limited', 10);
  store.db.pragma('query_only = 1');
  for (let i = 0; i < 20; i++) at('999999');
  t.same([guard.status().pendingEvents, guard.status().droppedEvents], [10, 11]);
  store.db.pragma('query_only = 0');
  t.equal(guard.ready(), true);
  const list = events();
  t.equal(list.length, 11);
  t.equal(list[0]?.type, 'device.storage_failed', 'the alarm is kept');
  t.match((list.at(-1) as { detail?: string }).detail, /10 buffered event\(s\) written, 11 dropped/);
});

t.test('a failure that is not a write failure is not hidden', async (t) => {
  const { store, access, guard } = setup(t);
  store.close();
  t.throws(() => access.attempt({ type: 'pin', value: '111111', door: 'lobby', now: MID_2026 }));
  t.equal(guard.writable, true);
});

/** Overwrites 8 pages of a real database file from page 20 with garbage. */
function scribble(file: string): void {
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, Buffer.alloc(8 * 4096, 0xa5), 0, 8 * 4096, 19 * 4096);
  } finally {
    closeSync(fd);
  }
}

t.test(
  'corruption met at run time: the cache is rebuilt, an alarm journalled, a full resync asked',
  async (t) => {
    const site = tempSite();
    t.teardown(() => site.cleanup());
    const dir = path.join(site.dir, 'state');
    const hasher = new HmacHasher(Buffer.alloc(32, 7));
    const first = new SqlitePassStore(dir);
    const passes = Array.from({ length: 2000 }, (_, i) =>
      pass({ id: `p${i}`, credentials: [{ type: 'pin', value: String(100000 + i) }] }),
    );
    importSnapshot(
      first,
      hasher,
      { passes, accessGroups: [] },
      { policy: { maxValidityMs: 366 * 86_400_000 }, now: MID_2026 },
    );
    first.setMeta('sync.seq', '12');
    first.close();
    scribble(path.join(dir, 'cache.db'));
    const store = new SqlitePassStore(dir, { integrityCheck: false });
    const clock = new FakeClock(MID_2026);
    const log = recordingLogger();
    const journal = new Journal(store, DEVICE, clock, log);
    const guard = new StorageGuard(store, DEVICE, journal.ids, clock, log);
    journal.storage = guard;
    const requests: number[] = [];
    const sync = new PassSync(
      store,
      hasher,
      () => ({ maxValidityMs: 366 * 86_400_000 }),
      clock,
      log,
      (have) => requests.push(have),
    );
    guard.onCacheRebuilt = () => sync.requestResync(true);
    const access = new AccessControl(store, hasher, new Zone('America/New_York'), DEVICE, journal.ids);
    access.storage = guard;
    t.teardown(() => {
      guard.stop();
      store.close();
    });
    const pins = passes.map((_, i) => String(100000 + i));
    let failure: unknown;
    for (const value of pins) {
      try {
        access.attempt({ type: 'pin', value, door: 'lobby', now: MID_2026 });
      } catch (e) {
        failure = e;
        break;
      }
    }
    t.equal(store.failureKind(failure), 'corrupt', 'a real corruption error reached the caller (denied)');
    t.same(requests, [0], 'a full resync was asked (have = 0)');
    t.equal(store.health().cache.state, 'rebuilt');
    const alarm = store.listEvents(100).find((e) => e.type === 'device.cache_rebuilt');
    t.ok(alarm, 'the alarm is in the journal');
    t.equal(
      access.attempt({ type: 'pin', value: '100000', door: 'lobby', now: MID_2026 + 1 }).decision.reason,
      'unknown_credential',
      'the door keeps deciding, from the (empty) cache it can trust',
    );
    t.ok(log.lines.some((l) => l.level === 'error' && /pass cache corrupt/.test(l.msg ?? '')));
  },
);

t.test('the daemon reports a cache rebuilt at start in its status, and journals the alarm', async (t) => {
  const site = tempSite();
  t.teardown(() => site.cleanup());
  const loaded = loadConfig(site.configFile);
  const s = openSite(loaded);
  const passes = Array.from({ length: 2000 }, (_, i) =>
    pass({ id: `p${i}`, credentials: [{ type: 'pin', value: String(100000 + i) }] }),
  );
  importSnapshot(
    s.store,
    s.hasher,
    { passes, accessGroups: [] },
    { policy: { maxValidityMs: 366 * 86_400_000 }, now: MID_2026 },
  );
  s.close();
  scribble(path.join(loaded.config.storage.dir, 'cache.db'));
  const daemon = startDaemon(loaded, {
    logger: createLogger('silent'),
    clock: new FakeClock(MID_2026),
    stdin: new PassThrough(),
    notifier: NO_NOTIFIER,
  });
  t.teardown(() => daemon.stop());
  const st = daemon.localStatus();
  t.equal(st.cache.state, 'rebuilt');
  t.match(st.cache.reason, /quick_check|malformed|corrupt/i);
  t.match(st.cache.movedTo, /cache\.db\.corrupt-\d{8}T\d{6}Z$/);
  t.equal(st.journal.state, 'ok');
  t.same([st.storage.writable, st.storage.pendingEvents, st.storage.policy], [true, 0, 'deny-limited']);
  t.equal(st.passes.total, 0);
  await daemon.stop();
  const again = openSite(loaded);
  t.teardown(() => again.close());
  t.equal(
    again.store.listEvents(10).filter((e) => e.type === 'device.cache_rebuilt').length,
    1,
    'the alarm, journalled once',
  );
});
