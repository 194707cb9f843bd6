import t, { type Test } from 'tap';
import path from 'node:path';
import { importSnapshot, parseSnapshotShape } from '../../src/app/import.js';
import { HmacHasher } from '../../src/adapters/hasher.js';
import { SqlitePassStore } from '../../src/adapters/sqlite/store.js';
import { isDoorpassError } from '../../src/core/errors.js';
import { MID_2026, pass, tempSite } from '../helpers/fixtures.js';

const policy = { maxValidityMs: 366 * 86_400_000 };

function setup(t: Test) {
  const site = tempSite();
  const store = new SqlitePassStore(path.join(site.dir, 'd'));
  const hasher = new HmacHasher(Buffer.alloc(32, 1));
  t.teardown(() => {
    store.close();
    site.cleanup();
  });
  const run = (passes: unknown[], accessGroups: unknown[] = [], replace = false) =>
    importSnapshot(store, hasher, { passes, accessGroups }, { policy, now: MID_2026, replace });
  return { store, hasher, run, dbFiles: ['cache.db', 'journal.db'].map((f) => path.join(site.dir, 'd', f)) };
}

t.test('added, updated (higher version), ignored (lower or equal version)', async (t) => {
  const { run, store } = setup(t);
  t.match(run([pass({ id: 'a' }), pass({ id: 'b', credentials: [{ type: 'pin', value: '2222' }] })]), {
    added: 2,
    updated: 0,
    ignored: 0,
  });
  const r = run([
    pass({ id: 'a', version: 2, name: 'Renamed' }),
    pass({ id: 'b', version: 1, name: 'Ignored', credentials: [{ type: 'pin', value: '2222' }] }),
  ]);
  t.match(r, { added: 0, updated: 1, ignored: 1, rejected: [] });
  const names = store.listPasses({}).map((p) => [p.id, p.version, p.name]);
  t.same(names, [
    ['a', 2, 'Renamed'],
    ['b', 1, 'Guest'],
  ]);
});

t.test('each bad pass is rejected with its reason; the good ones still apply', async (t) => {
  const { run } = setup(t);
  const r = run([
    pass({ id: 'ok' }),
    { id: 'broken' },
    pass({ id: 'pin', credentials: [{ type: 'pin', value: '12' }] }),
    pass({
      id: 'long',
      validFrom: '2026-01-01T00:00:00Z',
      validUntil: '2027-06-01T00:00:00Z',
      credentials: [{ type: 'pin', value: '3333' }],
    }),
    pass({ id: 'types', version: 'one', credentials: [{ type: 'pin', value: '4444' }] }),
    'not an object',
  ]);
  t.equal(r.added, 1);
  t.same(
    r.rejected.map((x) => [x.index, x.id]),
    [
      [1, 'broken'],
      [2, 'pin'],
      [3, 'long'],
      [4, 'types'],
      [5, null],
    ],
  );
  t.match(r.rejected[0]?.reasons.join('\n'), /version/);
  t.match(r.rejected[1]?.reasons.join('\n'), /credentials\[0\]\.value: a PIN is 4 to 12 digits/);
  t.match(r.rejected[2]?.reasons.join('\n'), /longer than site\.maxPassDays \(366\)/);
  t.match(r.rejected[3]?.reasons.join('\n'), /version/);
});

t.test('a credential used by another live pass is a conflict, reported not overwritten', async (t) => {
  const { run, store } = setup(t);
  run([pass({ id: 'first' })]);
  const r = run([pass({ id: 'second' })]);
  t.equal(r.rejected.length, 1);
  t.match(r.rejected[0]?.reasons[0], /already used by live pass "first"/);
  t.same(
    store.listPasses({}).map((p) => p.id),
    ['first'],
  );
  // Duplicates inside one snapshot: the first wins, the second is rejected.
  const dup = run([
    pass({ id: 'x', credentials: [{ type: 'qr', value: 'SAME' }] }),
    pass({ id: 'y', credentials: [{ type: 'qr', value: 'SAME' }] }),
  ]);
  t.same(
    dup.rejected.map((x) => x.id),
    ['y'],
  );
  const sameId = run([
    pass({ id: 'z', credentials: [{ type: 'qr', value: 'Z1' }] }),
    pass({ id: 'z', credentials: [{ type: 'qr', value: 'Z2' }] }),
  ]);
  t.match(sameId.rejected[0]?.reasons[0], /more than once/);
});

t.test('a credential of a revoked or expired pass may be reused by a new pass', async (t) => {
  const { run, store } = setup(t);
  run([
    pass({ id: 'old', validFrom: '2026-01-01T00:00:00Z', validUntil: '2026-02-01T00:00:00Z' }),
    pass({ id: 'rev', credentials: [{ type: 'pin', value: '7777' }] }),
  ]);
  store.revokePass('rev', MID_2026);
  const r = run([pass({ id: 'new' }), pass({ id: 'new2', credentials: [{ type: 'pin', value: '7777' }] })]);
  t.same(r.rejected, []);
  t.equal(r.added, 2);
});

t.test('unknown fields are ignored and counted (the cloud may be newer than the door)', async (t) => {
  const { run } = setup(t);
  const r = run([
    pass({
      colour: 'blue',
      issuer: { id: 'i', name: 'n', badge: 1 },
      credentials: [{ type: 'pin', value: '5555', label: 'x' }],
    }),
  ]);
  t.equal(r.added, 1);
  t.equal(r.unknownFields.count, 3);
  t.same(r.unknownFields.examples, [
    'passes[0].colour',
    'passes[0].issuer.badge',
    'passes[0].credentials[0].label',
  ]);
});

t.test('access groups are added, updated and left unchanged; a bad group is rejected', async (t) => {
  const { run } = setup(t);
  const g = { id: 'g', name: 'G', schedule: [{ days: ['mon'], start: '08:00', end: '17:00' }] };
  t.match(run([], [g]).groups, { added: 1 });
  t.match(run([], [g]).groups, { unchanged: 1 });
  t.match(run([], [{ ...g, name: 'G2' }]).groups, { updated: 1 });
  const bad = run(
    [],
    [{ id: 'b', name: 'B', schedule: [{ days: ['someday'], start: '25:00', end: '17:00' }] }],
  );
  t.equal(bad.rejected[0]?.what, 'accessGroup');
  t.equal(bad.rejected[0]?.reasons.length, 2);
});

t.test('--replace removes passes the snapshot does not contain', async (t) => {
  const { run, store } = setup(t);
  run([pass({ id: 'keep' }), pass({ id: 'drop', credentials: [{ type: 'pin', value: '9999' }] })]);
  const r = run([pass({ id: 'keep' })], [], true);
  t.equal(r.removed, 1);
  t.same(
    store.listPasses({}).map((p) => p.id),
    ['keep'],
  );
});

t.test('no credential value is stored in the database file', async (t) => {
  const { run, store, dbFiles } = setup(t);
  run([
    pass({
      credentials: [
        { type: 'pin', value: '918273' },
        { type: 'card', value: '55443322' },
        { type: 'qr', value: 'SECRET-QR-TOKEN' },
      ],
    }),
  ]);
  store.close();
  const { readFileSync, existsSync } = await import('node:fs');
  const bytes = dbFiles
    .flatMap((f) => [f, `${f}-wal`])
    .filter(existsSync)
    .map((f) => readFileSync(f).toString('latin1'))
    .join('');
  for (const secret of ['918273', '55443322', 'SECRET-QR-TOKEN'])
    t.notOk(bytes.includes(secret), `${secret} is not at rest`);
});

t.test('search matches name, issuer, recipient and unit, case-insensitively', async (t) => {
  const { run, store } = setup(t);
  run([
    pass({ id: 'a', name: 'Plumber', recipient: { name: 'Joe Pipes' } }),
    pass({
      id: 'b',
      name: 'Guest',
      issuer: { id: 'r', name: 'Ximena', unit: '7B' },
      credentials: [{ type: 'pin', value: '2222' }],
    }),
  ]);
  t.same(
    store.listPasses({ search: 'PIPES' }).map((p) => p.id),
    ['a'],
  );
  t.same(
    store.listPasses({ search: '7b' }).map((p) => p.id),
    ['b'],
  );
  t.same(
    store.listPasses({ search: 'XIMENA' }).map((p) => p.id),
    ['b'],
  );
  t.same(store.listPasses({ search: 'zzz' }), []);
});

t.test('the top level of a snapshot is checked', async (t) => {
  t.same(parseSnapshotShape({ passes: [] }, 'f.json'), { passes: [], accessGroups: [] });
  for (const bad of [null, [], { passes: 'x' }, { accessGroups: [] }, { passes: [], accessGroups: {} }]) {
    let err: unknown;
    try {
      parseSnapshotShape(bad, 'f.json');
    } catch (e) {
      err = e;
    }
    t.ok(isDoorpassError(err, 'snapshot.invalid'), `${JSON.stringify(bad)} is refused`);
  }
});

t.test('events are append-only in the database', async (t) => {
  const { store } = setup(t);
  store.appendEvent({
    id: '01X',
    at: 1,
    type: 'access.denied',
    device: 'd',
    door: 'lobby',
    credentialType: 'pin',
    passId: null,
    reason: 'unknown_credential',
  });
  t.throws(() => store.db.prepare("UPDATE events SET type = 'x'").run(), /append-only/);
});

t.test(
  'revocation is final even when --replace removes the pass and a later snapshot brings it back',
  async (t) => {
    const { run, store } = setup(t);
    run([pass({ id: 'r' })]);
    store.revokePass('r', MID_2026);
    run([], [], true);
    t.same(store.listPasses({}), []);
    run([pass({ id: 'r', version: 9 })]);
    t.equal(store.listPasses({})[0]?.revoked, true);
    t.equal(store.listPasses({})[0]?.rule.revoked, true);
    // A pass that arrives revoked stays revoked when a newer version says otherwise.
    run([pass({ id: 'q', revoked: true, credentials: [{ type: 'pin', value: '4321' }] })]);
    run([pass({ id: 'q', version: 2, credentials: [{ type: 'pin', value: '4321' }] })]);
    t.equal(store.listPasses({ search: 'guest' }).find((p) => p.id === 'q')?.rule.revoked, true);
  },
);

t.test('use counts in an ignored (same-version) pass are still merged', async (t) => {
  const { run, store } = setup(t);
  run([pass({ maxUses: 5 })]);
  const r = run([pass({ maxUses: 5, uses: { 'panel-east': 4 } })]);
  t.equal(r.ignored, 1);
  t.same(store.listPasses({})[0]?.uses, { 'panel-east': 4 });
});

t.test(
  '--replace keeps a pass whose update is malformed, and removes access groups not in the snapshot',
  async (t) => {
    const { run, store } = setup(t);
    const g = (id: string) => ({ id, name: id, schedule: [{ days: ['mon'], start: '08:00', end: '17:00' }] });
    run([pass({ id: 'keep' })], [g('a'), g('b')]);
    const r = run([{ id: 'keep', version: 'broken' }], [g('a')], true);
    t.equal(r.rejected.length, 1);
    t.equal(r.removed, 0);
    t.equal(r.groups.removed, 1);
    t.same(
      store.listPasses({}).map((p) => p.id),
      ['keep'],
    );
    t.equal(store.counts().accessGroups, 1);
  },
);

t.test('the database files are created readable by their owner only', async (t) => {
  const { dbFiles } = setup(t);
  const { statSync } = await import('node:fs');
  for (const f of dbFiles) t.equal(statSync(f).mode & 0o777, 0o600, f);
});
