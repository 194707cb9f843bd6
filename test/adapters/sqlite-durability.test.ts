/**
 * The two-file store on real SQLite files: layout and settings, the legacy single-file migration, and
 * corruption of either file found at open (moved aside, recreated, reported).
 */
import t, { type Test } from 'tap';
import Database from 'better-sqlite3';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { HmacHasher } from '../../src/adapters/hasher.js';
import { MIGRATIONS } from '../../src/adapters/sqlite/schema.js';
import { SqlitePassStore } from '../../src/adapters/sqlite/store.js';
import { AccessControl } from '../../src/app/access.js';
import { UlidFactory } from '../../src/app/ids.js';
import { importSnapshot } from '../../src/app/import.js';
import { journalIncidents } from '../../src/app/storage.js';
import { isAccessEvent, type JournalEvent } from '../../src/core/events.js';
import { Zone } from '../../src/core/zone.js';
import { MID_2026, pass, tempSite } from '../helpers/fixtures.js';

const policy = { maxValidityMs: 366 * 86_400_000 };
const hasher = new HmacHasher(Buffer.alloc(32, 7));
const zone = new Zone('America/New_York');
const DEVICE = 'panel-west';

function dirFor(t: Test): string {
  const site = tempSite();
  t.teardown(() => site.cleanup());
  return path.join(site.dir, 'state');
}

function fill(store: SqlitePassStore, n: number): void {
  const passes = Array.from({ length: n }, (_, i) =>
    pass({ id: `p${i}`, credentials: [{ type: 'pin', value: String(100000 + i) }] }),
  );
  const r = importSnapshot(store, hasher, { passes, accessGroups: [] }, { policy, now: MID_2026 });
  if (r.rejected.length > 0) throw new Error('fixture rejected');
}

const attempt = (access: AccessControl, pin: string, n = 0) =>
  access.attempt({ type: 'pin', value: pin, door: 'lobby', now: MID_2026 + n });

/** Overwrites `pages` pages of `file` from page `from` (1-based) with garbage. */
function scribble(file: string, from: number, pages: number): void {
  const pageSize = 4096;
  const fd = openSync(file, 'r+');
  try {
    const junk = Buffer.alloc(pageSize * pages, 0);
    for (let i = 0; i < junk.length; i++) junk[i] = (i * 131 + 7) & 0xff;
    writeSync(fd, junk, 0, junk.length, (from - 1) * pageSize);
  } finally {
    closeSync(fd);
  }
}

t.test('two files: journal FULL, cache NORMAL, both WAL; an access writes only the journal', async (t) => {
  const dir = dirFor(t);
  const store = new SqlitePassStore(dir);
  t.teardown(() => store.close());
  fill(store, 3);
  t.ok(existsSync(path.join(dir, 'journal.db')) && existsSync(path.join(dir, 'cache.db')));
  t.equal(store.db.pragma('main.journal_mode', { simple: true }), 'wal');
  t.equal(store.db.pragma('cache.journal_mode', { simple: true }), 'wal');
  t.equal(store.db.pragma('main.synchronous', { simple: true }), 2, 'journal: FULL');
  t.equal(store.db.pragma('cache.synchronous', { simple: true }), 1, 'cache: NORMAL');
  for (const f of ['journal.db', 'cache.db']) t.equal(statSync(path.join(dir, f)).mode & 0o777, 0o600);

  store.db.pragma('cache.wal_checkpoint(TRUNCATE)');
  store.db.pragma('main.wal_checkpoint(TRUNCATE)');
  const size = (f: string): number => (existsSync(f) ? statSync(f).size : 0);
  const cacheWal = path.join(dir, 'cache.db-wal');
  const journalWal = path.join(dir, 'journal.db-wal');
  const before = { cache: size(cacheWal), journal: size(journalWal) };
  const access = new AccessControl(store, hasher, zone, DEVICE);
  t.equal(attempt(access, '100000').decision.granted, true);
  t.equal(attempt(access, '999999').decision.granted, false);
  t.equal(size(cacheWal), before.cache, 'the cache file was not written');
  t.ok(size(journalWal) > before.journal, 'the journal was');
});

t.test('own uses are counted in the journal on top of what the cloud reported for this device', async (t) => {
  const store = new SqlitePassStore(dirFor(t));
  t.teardown(() => store.close());
  importSnapshot(
    store,
    hasher,
    { passes: [pass({ maxUses: 5, uses: { [DEVICE]: 2, 'panel-east': 1 } })], accessGroups: [] },
    { policy, now: MID_2026 },
  );
  const access = new AccessControl(store, hasher, zone, DEVICE);
  t.equal(attempt(access, '123456').decision.granted, true);
  t.same(store.listPasses({})[0]?.uses, { [DEVICE]: 3, 'panel-east': 1 });
  t.same(store.db.prepare('SELECT device_id, count FROM own_uses').all(), [{ device_id: DEVICE, count: 3 }]);
  t.equal(attempt(access, '123456', 1).decision.granted, true);
  const third = attempt(access, '123456', 2).decision;
  t.same([third.granted, third.reason], [false, 'use_limit'], '3 own + 1 other + 1 = 5 uses');
});

/** A legacy single-file doorpass.db at schema 2, written with the released migrations. */
function legacyDatabase(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const db = new Database(path.join(dir, 'doorpass.db'));
  db.pragma('journal_mode = WAL');
  for (const [i, m] of MIGRATIONS.entries()) {
    db.exec(m);
    db.pragma(`user_version = ${i + 1}`);
  }
  const rule = {
    id: 'p1',
    revoked: false,
    validFrom: Date.parse('2026-01-01T00:00:00Z'),
    validUntil: Date.parse('2026-12-31T00:00:00Z'),
    doors: '*',
    maxUses: 4,
  };
  db.prepare(
    `INSERT INTO passes (id, version, kind, name, revoked, valid_from, valid_until, rule, doc, search, access_group_id, updated_at)
     VALUES ('p1', 1, 'visitor', 'Guest', 0, ?, ?, ?, '{}', 'guest', NULL, 0)`,
  ).run(rule.validFrom, rule.validUntil, JSON.stringify(rule));
  db.prepare("INSERT INTO credentials (hash, pass_id, type) VALUES (?, 'p1', 'pin')").run(
    hasher.hash('pin', '123456'),
  );
  db.prepare("INSERT INTO pass_uses VALUES ('p1', ?, 2), ('p1', 'panel-east', 1)").run(DEVICE);
  db.prepare("INSERT INTO revocations VALUES ('gone', 5)").run();
  const ids = new UlidFactory();
  for (let i = 0; i < 3; i++) {
    const e = { id: ids.next(MID_2026 + i), at: new Date(MID_2026 + i).toISOString(), type: 'door.opened' };
    db.prepare('INSERT INTO events (id, at, type, body) VALUES (?, ?, ?, ?)').run(
      e.id,
      MID_2026 + i,
      e.type,
      JSON.stringify({ ...e, device: DEVICE, door: 'lobby' }),
    );
  }
  db.prepare(
    "INSERT INTO meta VALUES ('sync.seq', '41'), ('outbox.uploaded', '1'), ('clock.floor', '123')",
  ).run();
  db.prepare("INSERT INTO commands VALUES ('c-1', 9, '{\"ok\":true}')").run();
  db.close();
}

t.test('a legacy doorpass.db is split on first open without losing events, counts or meta', async (t) => {
  const dir = dirFor(t);
  legacyDatabase(dir);
  // A migration interrupted earlier left a half-built temp file: it is started over.
  writeFileSync(path.join(dir, 'journal.db.migrating'), 'half');
  const store = new SqlitePassStore(dir);
  t.teardown(() => store.close());
  t.notOk(existsSync(path.join(dir, 'doorpass.db')), 'the legacy file is renamed');
  t.ok(existsSync(path.join(dir, 'doorpass.db.pre-split')), '… and kept as doorpass.db.pre-split');
  t.notOk(existsSync(path.join(dir, 'journal.db.migrating')));
  t.equal(store.listEvents(10).length, 3, 'every event');
  t.equal(store.outboxDepth(), 2, 'the upload marker still applies (seq kept)');
  t.equal(store.getMeta('sync.seq'), '41', 'the sync seq, now in the cache');
  t.equal(store.getMeta('outbox.uploaded'), '1');
  t.equal(store.getMeta('clock.floor'), '123', 'other meta, in the journal');
  t.same(store.db.prepare('SELECT key FROM main.meta ORDER BY key').all(), [
    { key: 'clock.floor' },
    { key: 'outbox.uploaded' },
    // The store's own marker: the cache's revocations were copied into the journal's local_revocations.
    { key: 'revocations.backfilled' },
  ]);
  t.equal(store.commandResult('c-1'), '{"ok":true}');
  t.same(store.listPasses({})[0]?.uses, { [DEVICE]: 2, 'panel-east': 1 });
  const access = new AccessControl(store, hasher, zone, DEVICE);
  t.same(
    [attempt(access, '123456').decision.granted, attempt(access, '123456', 1).decision.reason],
    [true, 'use_limit'],
    '2 own + 1 other of 4: one use left',
  );
  store.close();
  // Opening again changes nothing.
  const again = new SqlitePassStore(dir);
  t.equal(again.listEvents(10).length, 5);
  again.close();
});

t.test('a corrupt cache is moved aside and recreated; the journal is intact', async (t) => {
  const dir = dirFor(t);
  let store = new SqlitePassStore(dir);
  fill(store, 2000);
  store.setMeta('sync.seq', '17');
  const access = new AccessControl(store, hasher, zone, DEVICE);
  attempt(access, '100001');
  attempt(access, '100002', 1);
  store.close();
  const cacheFile = path.join(dir, 'cache.db');
  t.notOk(existsSync(`${cacheFile}-wal`), 'closed cleanly: no WAL left');
  t.ok(statSync(cacheFile).size > 40 * 4096);
  scribble(cacheFile, 20, 8);

  const at = Date.parse('2026-06-15T16:30:00Z');
  store = new SqlitePassStore(dir, { now: () => at });
  t.teardown(() => store.close());
  const incidents = store.takeIncidents();
  t.equal(incidents.length, 1);
  t.equal(incidents[0]?.file, 'cache');
  t.match(incidents[0]?.reason, /quick_check|malformed|corrupt/i);
  t.equal(incidents[0]?.movedTo, `${cacheFile}.corrupt-20260615T163000Z`);
  t.ok(existsSync(`${cacheFile}.corrupt-20260615T163000Z`), 'the bad file is kept aside');
  t.same(store.takeIncidents(), [], 'taken once');
  t.equal(store.counts().passes, 0, 'the new cache is empty');
  t.equal(store.getMeta('sync.seq'), undefined, 'seq 0: the next sync request asks for everything');
  t.same(store.health().cache, {
    state: 'rebuilt',
    reason: incidents[0]?.reason,
    since: at,
    movedTo: incidents[0]?.movedTo,
  });
  t.equal(store.health().journal.state, 'ok');
  const events = store.listEvents(10);
  t.same(
    events.filter(isAccessEvent).map((e) => e.passId),
    ['p1', 'p2'],
    'the journal still has its events',
  );
  t.equal(
    new AccessControl(store, hasher, zone, DEVICE).attempt({
      type: 'pin',
      value: '100001',
      door: 'lobby',
      now: MID_2026 + 5,
    }).decision.reason,
    'unknown_credential',
    'the door serves from what it can trust: an empty cache',
  );

  journalIncidents(store, DEVICE, new UlidFactory(), incidents, at);
  const alarm = store.listEvents(1)[0] as JournalEvent & { detail?: string };
  t.equal(alarm.type, 'device.cache_rebuilt');
  t.match(alarm.detail, /moved to .*cache\.db\.corrupt-20260615T163000Z/);

  store.close();
  store = new SqlitePassStore(dir);
  t.equal(store.health().cache.state, 'rebuilt', 'still rebuilt until resynced, across restarts');
  store.atomically(() => store.setMeta('sync.seq', '18'));
  t.equal(store.health().cache.state, 'ok', 'a sync applied: the cache is trusted again');
});

t.test('a cache whose header is garbage (not a database) is detected too', async (t) => {
  const dir = dirFor(t);
  let store = new SqlitePassStore(dir);
  fill(store, 10);
  store.close();
  scribble(path.join(dir, 'cache.db'), 1, 1);
  store = new SqlitePassStore(dir);
  t.teardown(() => store.close());
  const [incident] = store.takeIncidents();
  t.equal(incident?.file, 'cache');
  t.match(incident?.reason, /not a database/);
  t.equal(store.counts().passes, 0);
});

t.test('a corrupt journal is moved aside (never deleted) and recreated; an alarm', async (t) => {
  const dir = dirFor(t);
  let store = new SqlitePassStore(dir);
  fill(store, 5);
  const access = new AccessControl(store, hasher, zone, DEVICE);
  for (let i = 0; i < 300; i++) attempt(access, '100001', i);
  store.close();
  scribble(path.join(dir, 'journal.db'), 2, 3);
  store = new SqlitePassStore(dir);
  t.teardown(() => store.close());
  const [incident] = store.takeIncidents();
  t.equal(incident?.file, 'journal');
  const aside = readdirSync(dir).filter((f) => f.startsWith('journal.db.corrupt-'));
  t.equal(aside.length, 1, 'moved aside');
  t.equal(store.health().journal.state, 'rebuilt');
  t.equal(store.health().cache.state, 'ok');
  t.equal(store.counts().passes, 5, 'the cache is untouched');
  t.equal(store.listEvents(10).length, 0);
});

t.test('a corrupt journal: what can still be read is salvaged into the new one', async (t) => {
  const dir = dirFor(t);
  let store = new SqlitePassStore(dir);
  fill(store, 5);
  const access = new AccessControl(store, hasher, zone, DEVICE);
  for (let i = 0; i < 400; i++) attempt(access, i % 2 === 0 ? '100001' : '999999', i);
  store.recordCommand('cmd-1', MID_2026, '{"id":"cmd-1","ok":true}');
  store.setMeta('lockout.keypad.lobby', '{"v":1,"remainingMs":0,"level":2,"consecutive":3}');
  store.outboxAck(store.outboxPeek(1000).at(-1)?.seq ?? 0, 1000);
  const before = store.listEvents(1000);
  store.close();
  // Find a leaf page of the events table in the middle of it, and damage only that page.
  const probe = new Database(path.join(dir, 'journal.db'));
  probe.pragma('wal_checkpoint(TRUNCATE)');
  const leaves = probe
    .prepare<[], { pageno: number }>(
      "SELECT pageno FROM dbstat WHERE name = 'events' AND pagetype = 'leaf' ORDER BY pageno",
    )
    .all();
  probe.close();
  t.ok(leaves.length >= 5, `${leaves.length} leaf pages of events`);
  scribble(path.join(dir, 'journal.db'), leaves[Math.floor(leaves.length / 2)]?.pageno ?? 0, 1);

  store = new SqlitePassStore(dir);
  t.teardown(() => store.close());
  const [incident] = store.takeIncidents();
  t.equal(incident?.file, 'journal', 'the damage was found at open');
  t.match(incident?.reason, /salvaged \d+ events, 1 use counts, 1 command ids/);
  t.equal(store.health().journal.state, 'rebuilt');
  const after = store.listEvents(1000);
  const ids = new Set(before.map((e) => e.id));
  t.ok(after.length > 0 && after.length < before.length, `${after.length} of ${before.length} events saved`);
  t.ok(
    after.every((e) => ids.has(e.id)),
    'every salvaged event is one that was journalled',
  );
  t.equal(new Set(after.map((e) => e.id)).size, after.length, 'no duplicates');
  t.ok(
    after.some((e) => e.id === before.at(-1)?.id),
    'events after the damaged page are saved',
  );
  t.ok(
    after.some((e) => e.id === before[0]?.id),
    'events before it too',
  );
  t.equal(store.commandResult('cmd-1'), '{"id":"cmd-1","ok":true}', 'executed command ids are kept');
  t.match(store.getMeta('lockout.keypad.lobby'), /"level":2/, 'meta is kept');
  t.equal(store.outboxDepth(), 0, 'the upload marker still applies: nothing is uploaded twice');
  // The use counts survive: the single pass PIN 100001 was granted 200 times.
  t.equal(store.findCredential(hasher.hash('pin', '100001'), DEVICE)?.usage.own, 200);
  const aside = readdirSync(dir).filter((f) => f.startsWith('journal.db.corrupt-'));
  t.equal(aside.length, 1, 'the damaged file is kept as it was');
  t.notOk(
    readdirSync(dir).some((f) => f.includes('.salvage')),
    'the working copy is removed',
  );
});

t.test('a corruption error at run time: checkAndRepair moves the bad file aside and reopens', async (t) => {
  const dir = dirFor(t);
  const first = new SqlitePassStore(dir);
  fill(first, 2000);
  first.close();
  scribble(path.join(dir, 'cache.db'), 20, 8);
  // Opened without the check, the damage shows as an error when the pages are read.
  const store = new SqlitePassStore(dir, { integrityCheck: false });
  t.teardown(() => store.close());
  t.same(store.takeIncidents(), []);
  let err: unknown;
  try {
    store.listPasses({});
  } catch (e) {
    err = e;
  }
  t.equal(store.failureKind(err), 'corrupt', `a real SQLITE_CORRUPT: ${String(err)}`);
  const incidents = store.checkAndRepair();
  t.same(
    incidents.map((i) => i.file),
    ['cache'],
  );
  t.equal(store.counts().passes, 0);
  t.equal(store.health().cache.state, 'rebuilt');
});
