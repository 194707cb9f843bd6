/**
 * The staged replacement of the pass tables and the file-scoped transactions, with real SQLite files and a
 * second connection standing in for another process (the CLI, the daemon):
 * - an access transaction (journal only) never waits for a writer of the cache;
 * - a stage is invisible until its swap, visible to every connection right after it;
 * - the import rules hold through a stage: conflicts, take-over, revocations final, uses merged;
 * - a non-replace import that copied the live passes starts over when they change meanwhile;
 * - a cache written by an older doorpass (raw snapshot bodies staged, deleted without secure_delete) and
 *   its corrupt copies hold no credential value once a new doorpass opened the directory.
 */
import t, { type Test } from 'tap';
import Database from 'better-sqlite3';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { AccessControl } from '../../src/app/access.js';
import { importSnapshot, importSnapshotStaged, StagedImport } from '../../src/app/import.js';
import { HmacHasher } from '../../src/adapters/hasher.js';
import { CACHE_MIGRATIONS, MIGRATIONS } from '../../src/adapters/sqlite/schema.js';
import { SqlitePassStore } from '../../src/adapters/sqlite/store.js';
import { Zone } from '../../src/core/zone.js';
import { scanDir, secretPasses, secretsOf } from '../helpers/at-rest.js';
import { MID_2026, pass, tempSite } from '../helpers/fixtures.js';

const policy = { maxValidityMs: 366 * 86_400_000 };
const hasher = new HmacHasher(Buffer.alloc(32, 5));

function setup(t: Test, busyTimeoutMs = 5000) {
  const site = tempSite();
  const dir = path.join(site.dir, 'd');
  const store = new SqlitePassStore(dir, { busyTimeoutMs });
  const other = new SqlitePassStore(dir, { busyTimeoutMs, integrityCheck: false });
  t.teardown(() => {
    store.close();
    other.close();
    site.cleanup();
  });
  const access = (s: SqlitePassStore) => new AccessControl(s, hasher, new Zone('America/New_York'), 'd1');
  const check = (s: SqlitePassStore, pin: string) =>
    access(s).evaluate({ type: 'pin', value: pin, door: 'lobby', now: MID_2026 });
  return { dir, store, other, access, check };
}

const pinPass = (id: string, pin: string, extra: Record<string, unknown> = {}) =>
  pass({ id, credentials: [{ type: 'pin', value: pin }], ...extra });

t.test(
  'an access transaction writes only the journal and never waits for a writer of the cache',
  async (t) => {
    // busy_timeout 0: a transaction that had to wait fails at once with SQLITE_BUSY instead of waiting.
    const { store, other, access } = setup(t, 0);
    importSnapshot(
      store,
      hasher,
      { passes: [pinPass('a', '1111')], accessGroups: [] },
      { policy, now: MID_2026 },
    );
    other.db.exec('BEGIN');
    other.db.prepare("INSERT INTO cache.sync_meta (key, value) VALUES ('x', 'y')").run(); // holds the cache lock
    t.teardown(() => other.db.inTransaction && other.db.exec('ROLLBACK'));
    const r = access(store).attempt({ type: 'pin', value: '1111', door: 'lobby', now: MID_2026 });
    t.equal(r.decision.granted, true, 'decided and journalled while another connection writes the cache');
    t.doesNotThrow(() => store.outboxTrim(1000), 'the outbox trim does not wait for the cache either');
    t.doesNotThrow(() => store.outboxAck(1, 10));
    t.throws(
      () => store.atomically(() => store.setMeta('sync.seq', '1')),
      /locked|busy/i,
      'a cache writer still waits for the other cache writer (and here fails at once)',
    );
  },
);

t.test('a stage is invisible until the swap, then every connection decides on it', async (t) => {
  const { store, other, check } = setup(t);
  importSnapshot(
    store,
    hasher,
    { passes: [pinPass('old', '1111')], accessGroups: [] },
    { policy, now: MID_2026 },
  );
  t.equal(check(other, '1111').granted, true, 'prepared statements of the other connection, before');
  const job = new StagedImport(store, hasher, { policy, now: MID_2026, replace: true });
  job.begin();
  job.addGroups([]);
  const passes = [pinPass('n1', '2222'), pinPass('n2', '3333')];
  job.passStep(passes, 0, 1);
  t.equal(check(other, '2222').reason, 'unknown_credential', 'half staged: the old state holds');
  t.equal(check(other, '1111').granted, true);
  job.passStep(passes, 1, 1);
  t.equal(check(store, '3333').reason, 'unknown_credential', 'fully staged, not swapped: old state');
  t.equal(job.swap(), true);
  t.equal(
    check(other, '1111').reason,
    'unknown_credential',
    'right after the swap, for the other connection',
  );
  t.equal(check(other, '2222').granted, true);
  t.equal(check(other, '3333').granted, true);
  t.match(job.report, { added: 2, removed: 1 });
  while (store.cleanupStep(10));
  t.same(
    store.db.prepare("SELECT name FROM cache.sqlite_schema WHERE type = 'table' ORDER BY name").pluck().all(),
    ['access_groups', 'credentials', 'pass_uses', 'passes', 'revocations', 'sync_meta'],
    'the swapped-out tables are gone',
  );
});

t.test('through a stage: conflicts rejected, expired credentials taken over, uses merged', async (t) => {
  const { store, check } = setup(t);
  importSnapshot(
    store,
    hasher,
    {
      passes: [
        pinPass('live', '1111'),
        pinPass('gone', '2222', { validFrom: '2026-01-01T00:00:00Z', validUntil: '2026-02-01T00:00:00Z' }),
        pinPass('counted', '4444', { maxUses: 2 }),
      ],
      accessGroups: [],
    },
    { policy, now: MID_2026 },
  );
  const r = await importSnapshotStaged(
    store,
    hasher,
    {
      passes: [
        pinPass('thief', '1111'),
        pinPass('heir', '2222'),
        pinPass('counted', '4444', { maxUses: 2, uses: { 'other-door': 2 } }),
      ],
      accessGroups: [],
    },
    { policy, now: MID_2026, chunk: 1 },
  );
  t.same(
    r.rejected.map((x) => [x.id, x.reasons]),
    [['thief', ['credentials: this pin is already used by live pass "live"']]],
  );
  t.match(r, { added: 1, ignored: 1 });
  t.equal(check(store, '1111').passId, 'live', 'a live pass keeps its PIN');
  t.equal(check(store, '2222').passId, 'heir', 'an expired pass gives its PIN up');
  t.equal(check(store, '4444').reason, 'use_limit', 'uses from the cloud merged (grow-only)');
});

t.test('revocations are final through a swap, including one made by another process meanwhile', async (t) => {
  const { store, other, check } = setup(t);
  importSnapshot(
    store,
    hasher,
    { passes: [pinPass('fired', '1111'), pinPass('later', '2222')], accessGroups: [] },
    { policy, now: MID_2026 },
  );
  store.revokePass('fired', MID_2026);
  const job = new StagedImport(store, hasher, { policy, now: MID_2026, replace: true });
  job.begin();
  job.addGroups([]);
  // The cloud's snapshot still has both, not revoked and at a higher version.
  const snap = [pinPass('fired', '1111', { version: 5 }), pinPass('later', '2222', { version: 5 })];
  job.passStep(snap, 0, 2);
  other.revokePass('later', MID_2026); // `doorpass passes revoke` while the snapshot is staged
  t.equal(job.swap(), true);
  t.equal(check(store, '1111').reason, 'revoked', 'a snapshot never un-revokes');
  t.equal(
    check(store, '2222').reason,
    'revoked',
    'a revocation made during the staging holds after the swap',
  );
});

t.test('a non-replace import starts over when the live passes change while it is staged', async (t) => {
  const { store, other, check } = setup(t);
  importSnapshot(
    store,
    hasher,
    { passes: [pinPass('a', '1111')], accessGroups: [] },
    { policy, now: MID_2026 },
  );
  const passes = Array.from({ length: 20 }, (_, i) => pinPass(`n${i}`, String(500000 + i)));
  const importing = importSnapshotStaged(
    store,
    hasher,
    { passes, accessGroups: [] },
    {
      policy,
      now: MID_2026,
      chunk: 2,
    },
  );
  // Another process adds a pass between two chunks of the first attempt.
  await new Promise((r) => setImmediate(r));
  importSnapshot(
    other,
    hasher,
    { passes: [pinPass('b', '2222')], accessGroups: [] },
    { policy, now: MID_2026 },
  );
  const r = await importing;
  t.equal(r.added, 20);
  t.equal(check(store, '2222').granted, true, 'the concurrent change is not lost by the swap');
  t.equal(check(store, '1111').granted, true);
  t.equal(check(store, '500019').granted, true);
});

t.test(
  'a cache left by an older doorpass with raw snapshot bodies holds no credential once opened',
  async (t) => {
    const site = tempSite();
    t.teardown(() => site.cleanup());
    const dir = path.join(site.dir, 'd');
    mkdirSync(dir);
    const passes = secretPasses(2000, MID_2026, 'legacy');
    const secrets = secretsOf(passes);
    const bodies = [0, 1, 2, 3].map((k) =>
      JSON.stringify({ seq: 7, part: k + 1, parts: 4, passes: passes.slice(k * 500, k * 500 + 500) }),
    );
    // What the old code left: schema version 1, parts staged, some deleted (secure_delete off), some still there,
    // the last ones only in the WAL.
    const old = new Database(path.join(dir, 'cache.db'));
    old.pragma('journal_mode = WAL');
    old.pragma('wal_autocheckpoint = 0');
    old.exec(CACHE_MIGRATIONS[0] ?? '');
    old.pragma('user_version = 1');
    const stage = old.prepare('INSERT INTO snapshot_parts (seq, part, parts, body) VALUES (?, ?, ?, ?)');
    bodies.forEach((b, k) => stage.run(7, k + 1, 4, b));
    old.pragma('wal_checkpoint(TRUNCATE)');
    old.exec('DELETE FROM snapshot_parts WHERE part <= 2');
    old.pragma('wal_checkpoint(PASSIVE)');
    old.exec("UPDATE snapshot_parts SET body = body || ' ' WHERE part = 4");
    // A power cut, not a clean close: the WAL, with frames holding raw bodies, is left beside the file.
    const wal = readFileSync(path.join(dir, 'cache.db-wal'));
    old.close();
    writeFileSync(path.join(dir, 'cache.db-wal'), wal);
    // A corrupt copy an older doorpass moved aside, and its WAL.
    writeFileSync(
      path.join(dir, 'cache.db.corrupt-20250101T000000Z'),
      `SQLite format 3\0garbage${bodies[0]}`,
    );
    writeFileSync(path.join(dir, 'cache.db.corrupt-20250101T000000Z-wal'), bodies[1] ?? '');
    t.ok(
      scanDir(dir, secrets).hits.length > 0,
      'before: the values are in the files (the scan can see them)',
    );

    const store = new SqlitePassStore(dir);
    store.close();
    const { files, hits } = scanDir(dir, secrets);
    t.same(hits.slice(0, 5), [], `after: none in ${files.map((f) => path.basename(f)).join(', ')}`);
    t.ok(
      !files.some((f) => f.includes('.corrupt-')),
      'the legacy corrupt copy holding raw bodies was overwritten and removed',
    );
  },
);

t.test(
  'a legacy single-file database is split without its raw bodies, and its kept copy is scrubbed',
  async (t) => {
    const site = tempSite();
    t.teardown(() => site.cleanup());
    const dir = path.join(site.dir, 'd');
    mkdirSync(dir);
    const passes = secretPasses(600, MID_2026, 'split');
    const secrets = secretsOf(passes);
    const old = new Database(path.join(dir, 'doorpass.db'));
    old.pragma('journal_mode = WAL');
    for (const m of MIGRATIONS) old.exec(m);
    old.pragma(`user_version = ${MIGRATIONS.length}`);
    const stage = old.prepare('INSERT INTO snapshot_parts (seq, part, parts, body) VALUES (?, ?, ?, ?)');
    [0, 1, 2].forEach((k) =>
      stage.run(3, k + 1, 3, JSON.stringify({ seq: 3, passes: passes.slice(k * 200, k * 200 + 200) })),
    );
    old.exec('DELETE FROM snapshot_parts WHERE part = 1');
    old.close();
    t.ok(scanDir(dir, secrets).hits.length > 0, 'before: the values are in the legacy file');
    new SqlitePassStore(dir).close();
    const { files, hits } = scanDir(dir, secrets);
    t.ok(
      files.some((f) => f.endsWith('doorpass.db.pre-split')),
      'the legacy file is kept as doorpass.db.pre-split',
    );
    t.same(hits.slice(0, 5), [], `after: none in ${files.map((f) => path.basename(f)).join(', ')}`);
  },
);
