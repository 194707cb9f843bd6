/**
 * The applied-seq mark in the journal (src/app/sync.ts APPLIED_SEQ_KEY), on real SQLite files: a cache rebuilt
 * after corruption starts again at seq 0, and genuine old messages replayed to it (a delta, a snapshot) must
 * not roll it back to a state in which a pass the cloud has since revoked opens again.
 */
import t from 'tap';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { AccessControl } from '../../src/app/access.js';
import { Journal } from '../../src/app/journal.js';
import { APPLIED_SEQ_KEY, PassSync } from '../../src/app/sync.js';
import { HmacHasher } from '../../src/adapters/hasher.js';
import { SqlitePassStore } from '../../src/adapters/sqlite/store.js';
import { Zone } from '../../src/core/zone.js';
import { FakeClock, recordingLogger } from '../helpers/fakes.js';
import { MID_2026, pass, tempSite } from '../helpers/fixtures.js';

const DEVICE = 'panel-west';
const hasher = new HmacHasher(Buffer.alloc(32, 9));
const zone = new Zone('America/New_York');
const fired = pass({ id: 'fired', kind: 'staff', credentials: [{ type: 'pin', value: '424242' }] });
const other = pass({ id: 'other', credentials: [{ type: 'pin', value: '515151' }] });

function life(dir: string) {
  const store = new SqlitePassStore(dir);
  const clock = new FakeClock(MID_2026);
  const log = recordingLogger();
  const requests: number[] = [];
  const sync = new PassSync(
    store,
    hasher,
    () => ({ maxValidityMs: 366 * 86_400_000 }),
    clock,
    log,
    (have) => void requests.push(have),
  );
  const access = new AccessControl(store, hasher, zone, DEVICE, new Journal(store, DEVICE, clock, log).ids);
  const reason = (pin: string) =>
    access.evaluate({ type: 'pin', value: pin, door: 'lobby', now: clock.now() }).reason;
  return { store, sync, reason, requests, log };
}

t.test('a rebuilt cache refuses replayed old deltas and snapshots below the applied seq', async (t) => {
  const site = tempSite();
  t.teardown(() => site.cleanup());
  const dir = path.join(site.dir, 'state');

  const one = life(dir);
  t.equal(one.sync.onDelta({ seq: 1, upsert: [fired, other], revoke: [] }), 'applied');
  t.equal(one.sync.onDelta({ seq: 2, upsert: [], revoke: ['fired'] }), 'applied');
  t.equal(one.reason('424242'), 'revoked');
  t.equal(one.sync.appliedSeq, 2, 'the mark follows the applied seq');
  t.equal(one.store.getMeta(APPLIED_SEQ_KEY), '2');
  one.store.close();

  // The cache is lost (a rebuild starts it empty at seq 0); the journal keeps the mark.
  for (const f of ['cache.db', 'cache.db-wal', 'cache.db-shm']) rmSync(path.join(dir, f), { force: true });
  const two = life(dir);
  t.teardown(() => two.store.close());
  t.equal(two.sync.seq, 0, 'the rebuilt cache starts again');
  t.equal(two.sync.appliedSeq, 2, 'the journal remembers what was applied');

  // A rogue client replays the genuine delta 1: on an empty cache it would bring the fired pass back.
  t.equal(two.sync.onDelta({ seq: 1, upsert: [fired, other], revoke: [] }), 'gap', 'kept aside, not applied');
  t.equal(two.reason('424242'), 'unknown_credential', 'the fired pass is not back');
  t.same(two.requests.at(-1), 0, 'a resync is requested from the rebuilt position');

  // … and the genuine snapshot of seq 1.
  const old = { seq: 1, part: 1, parts: 1, passes: [fired, other], accessGroups: [] };
  t.equal(two.sync.onSnapshotPart(old), 'stale', 'a snapshot below the mark is refused');
  await two.sync.idle();
  t.equal(two.reason('424242'), 'unknown_credential');
  t.equal(two.sync.seq, 0);

  // The cloud's answer at its current seq restores the state; the kept delta is dropped, not applied.
  const now = { seq: 2, part: 1, parts: 1, passes: [{ ...fired, revoked: true }, other], accessGroups: [] };
  two.sync.onSnapshotPart(now);
  await two.sync.idle();
  t.equal(two.sync.seq, 2);
  t.equal(two.reason('424242'), 'revoked');
  t.equal(two.reason('515151'), null, 'everyone else is served');
});

t.test('an upgraded device starts the mark at the seq its cache holds', async (t) => {
  const site = tempSite();
  t.teardown(() => site.cleanup());
  const dir = path.join(site.dir, 'state');
  const one = life(dir);
  one.sync.onDelta({ seq: 1, upsert: [other], revoke: [] });
  one.store.setMeta('sync.seq', '7'); // as an older version left it, with no mark
  one.store.db.prepare('DELETE FROM meta WHERE key = ?').run(APPLIED_SEQ_KEY);
  one.store.close();
  const two = life(dir);
  t.teardown(() => two.store.close());
  t.equal(two.sync.appliedSeq, 7);
});
