import t, { type Test } from 'tap';
import Database from 'better-sqlite3';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { pass, tempSite, BASE_CONFIG } from '../helpers/fixtures.js';
import { runCli, startDaemon } from '../helpers/cli.js';

const AT = '2026-06-15T16:00:00Z'; // Monday noon in New York

function siteWith(t: Test, passes: unknown[], groups: unknown[] = []) {
  const site = tempSite();
  t.teardown(site.cleanup);
  const snap = path.join(site.dir, 'snap.json');
  writeFileSync(snap, JSON.stringify({ passes, accessGroups: groups }));
  return { ...site, snap, c: ['--config', site.configFile] };
}

const lastJson = (stdout: string): Record<string, unknown> => {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1] ?? '') as Record<string, unknown>;
};

t.test('import then check: granted exits 0, denied exits 3, JSON line last', async (t) => {
  const s = siteWith(t, [
    pass({ maxUses: 1, validFrom: '2026-01-01T00:00:00Z', validUntil: '2026-12-31T00:00:00Z' }),
  ]);
  const imp = await runCli(['passes', 'import', s.snap, ...s.c]);
  t.equal(imp.code, 0, imp.stderr);
  t.match(imp.stdout, /^1 added, 0 updated, 0 ignored, 0 rejected$/m);
  const dry = await runCli(['check', '--door', 'lobby', '--pin', '123456', '--at', AT, '--dry-run', ...s.c]);
  t.equal(dry.code, 0);
  t.same(lastJson(dry.stdout), { granted: true, reason: null, passId: 'p1', door: 'lobby' });
  const first = await runCli(['check', '--door', 'lobby', '--pin', '123456', '--at', AT, ...s.c]);
  t.equal(first.code, 0);
  const second = await runCli(['check', '--door', 'lobby', '--pin', '123456', '--at', AT, ...s.c]);
  t.equal(second.code, 3);
  t.same(lastJson(second.stdout), { granted: false, reason: 'use_limit', passId: 'p1', door: 'lobby' });
  const unknown = await runCli(['check', '--door', 'garage', '--qr', 'nope', '--at', AT, ...s.c]);
  t.equal(unknown.code, 3);
  t.same(lastJson(unknown.stdout), {
    granted: false,
    reason: 'unknown_credential',
    passId: null,
    door: 'garage',
  });
  const events = await runCli(['events', 'list', '--json', ...s.c]);
  t.equal(events.code, 0);
  const list = events.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  t.same(
    list.map((e) => [e.type, e.reason, e.credentialType]),
    [
      ['access.granted', null, 'pin'],
      ['access.denied', 'use_limit', 'pin'],
      ['access.denied', 'unknown_credential', 'qr'],
    ],
    'the dry run wrote no event',
  );
  t.notMatch(events.stdout, /123456|nope/, 'no credential value in events');
  const table = await runCli(['events', 'list', ...s.c]);
  t.match(table.stdout, /access\.denied\s+lobby\s+pin\s+p1\s+use_limit/);
});

t.test('import reports each rejection and exits 1; unknown fields are counted', async (t) => {
  const s = siteWith(t, [
    pass({ id: 'good', extra: 1 }),
    pass({ id: 'bad', credentials: [{ type: 'card', value: '12ab' }] }),
  ]);
  const r = await runCli(['passes', 'import', s.snap, ...s.c]);
  t.equal(r.code, 1);
  t.match(r.stdout, /1 added, 0 updated, 0 ignored, 1 rejected/);
  t.match(
    r.stdout,
    /rejected passes\[1\] \(id "bad"\): credentials\[0\]\.value: a card number is decimal digits/,
  );
  t.match(r.stdout, /ignored 1 unknown field\(s\), e\.g\. passes\[0\]\.extra/);
  const again = await runCli(['passes', 'import', s.snap, '--json', ...s.c]);
  t.match(JSON.parse(again.stdout), { added: 0, ignored: 1, rejected: [{ id: 'bad' }] });
});

t.test('malformed snapshot files are one clear line, never a stack trace', async (t) => {
  const s = siteWith(t, []);
  const bad = path.join(s.dir, 'bad.json');
  writeFileSync(bad, '{"passes": [\n  {"id": "x",}\n]}');
  const r = await runCli(['passes', 'import', bad, ...s.c]);
  t.equal(r.code, 1);
  t.match(r.stderr, /^doorpass: .*bad\.json:2:\d+ is not valid JSON/);
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
  const wrong = path.join(s.dir, 'wrong.json');
  writeFileSync(wrong, '{"passes": {}}');
  const w = await runCli(['passes', 'import', wrong, ...s.c]);
  t.equal(w.code, 1);
  t.match(w.stderr, /is not a snapshot: passes: expected "passes" to be an array/);
  const missing = await runCli(['passes', 'import', path.join(s.dir, 'nope.json'), ...s.c]);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /cannot read .*nope\.json/);
});

t.test('config errors exit 2 with one line naming the file, key and what is expected', async (t) => {
  const s = tempSite((dir) =>
    BASE_CONFIG(path.join(dir, 'state')).replace('America/New_York', 'America/Nowhere'),
  );
  t.teardown(s.cleanup);
  const r = await runCli(['check', '--door', 'lobby', '--pin', '1234', '--config', s.configFile]);
  t.equal(r.code, 2);
  t.equal(r.stderr.trim().split('\n').length, 1);
  t.match(r.stderr, /doorpass\.yaml:1:32: site\.timezone: "America\/Nowhere" is not an IANA time zone name/);
  t.equal(r.stdout, '');
  const none = await runCli(['passes', 'list', '--config', path.join(s.dir, 'missing.yaml')]);
  t.equal(none.code, 2);
  t.match(none.stderr, /cannot read config file .*missing\.yaml: no such file/);
  const env = await runCli(['passes', 'list'], {
    env: { ...process.env, DOORPASS_CONFIG: path.join(s.dir, 'from-env.yaml') },
  });
  t.match(env.stderr, /from-env\.yaml/, '$DOORPASS_CONFIG is used when --config is absent');
});

t.test('usage errors exit 2', async (t) => {
  const s = siteWith(t, []);
  const cases: [string[], RegExp][] = [
    [['check', '--door', 'lobby', ...s.c], /exactly one of --pin, --qr or --card/],
    [['check', '--door', 'lobby', '--pin', '1', '--card', '2', ...s.c], /exactly one/],
    [
      ['check', '--door', 'attic', '--pin', '1234', ...s.c],
      /no door "attic" in the config \(expected one of: lobby, garage\)/,
    ],
    [
      ['check', '--door', 'lobby', '--pin', '1234', '--at', 'tomorrow', ...s.c],
      /--at: "tomorrow" is not an ISO-8601 instant/,
    ],
    [['check', '--pin', '1234', ...s.c], /required option '--door <id>' not specified/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['events', 'list', '--limit', 'x', ...s.c], /--limit: expected a positive whole number/],
  ];
  for (const [args, re] of cases) {
    const r = await runCli(args);
    t.equal(r.code, 2, args.join(' '));
    t.match(r.stderr, re);
  }
});

t.test('passes list: table, --active, --search, --json; revoke', async (t) => {
  const now = Date.now();
  const iso = (ms: number) => new Date(ms).toISOString();
  const live = { validFrom: iso(now - 86_400_000), validUntil: iso(now + 86_400_000) };
  const s = siteWith(t, [
    pass({ id: 'plumber', name: 'Plumber', maxUses: 1, recipient: { name: 'Joe Pipes' }, ...live }),
    pass({
      id: 'nanny',
      name: 'Nanny',
      repeat: { mode: 'weekly', days: ['mon', 'fri'], start: '08:00', end: '18:00' },
      credentials: [{ type: 'pin', value: '2222' }],
      ...live,
    }),
    pass({
      id: 'old',
      name: 'Old guest',
      credentials: [{ type: 'pin', value: '3333' }],
      validFrom: iso(now - 10 * 86_400_000),
      validUntil: iso(now - 86_400_000),
    }),
  ]);
  t.equal((await runCli(['passes', 'import', s.snap, ...s.c])).code, 0);
  const all = await runCli(['passes', 'list', ...s.c]);
  t.equal(all.code, 0);
  t.match(all.stdout, /^ID\s+NAME\s+KIND\s+TYPE\s+ISSUER/m);
  t.match(all.stdout, /plumber\s+Plumber\s+visitor\s+single-use\s+Dana \(1204\)/);
  t.match(all.stdout, /nanny\s+Nanny\s+visitor\s+recurring .*mon,fri 08:00-18:00/);
  t.match(all.stdout, /old .* expired/);
  const active = await runCli(['passes', 'list', '--active', '--json', ...s.c]);
  const rows = JSON.parse(active.stdout) as {
    id: string;
    type: string;
    status: string;
    credentials: unknown[];
  }[];
  t.same(rows.map((r) => r.id).sort(), ['nanny', 'plumber']);
  t.same(
    rows.find((r) => r.id === 'plumber')?.credentials,
    [{ type: 'pin' }],
    'credential values are not listed',
  );
  const search = await runCli(['passes', 'list', '--search', 'pipes', '--json', ...s.c]);
  t.same(
    (JSON.parse(search.stdout) as { id: string }[]).map((r) => r.id),
    ['plumber'],
  );
  const rev = await runCli(['passes', 'revoke', 'plumber', ...s.c]);
  t.equal(rev.code, 0);
  t.match(rev.stdout, /revoked pass plumber/);
  const check = await runCli(['check', '--door', 'lobby', '--pin', '123456', ...s.c]);
  t.same(lastJson(check.stdout), { granted: false, reason: 'revoked', passId: 'plumber', door: 'lobby' });
  const again = await runCli(['passes', 'list', '--active', '--json', ...s.c]);
  t.same(
    (JSON.parse(again.stdout) as { id: string }[]).map((r) => r.id),
    ['nanny'],
  );
  const missing = await runCli(['passes', 'revoke', 'ghost', ...s.c]);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /no pass with id "ghost"/);
  // --force: revoked before it is cached (e.g. after a rebuilt cache); an import then brings it revoked.
  const forced = await runCli(['passes', 'revoke', 'ghost', '--force', ...s.c]);
  t.equal(forced.code, 0, forced.stderr);
  t.match(forced.stdout, /revoked pass ghost \(not cached/);
  const revokedEvents = await runCli(['events', 'list', '--json', ...s.c]);
  t.same(
    revokedEvents.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; passId?: string; by?: string })
      .filter((e) => e.type === 'pass.revoked')
      .map((e) => [e.passId, e.by]),
    [
      ['plumber', 'local'],
      ['ghost', 'local'],
    ],
    'each local revocation is journalled for the cloud',
  );
});

t.test('--help and --version', async (t) => {
  const h = await runCli(['--help']);
  t.equal(h.code, 0);
  for (const cmd of ['run', 'passes', 'check', 'events']) t.match(h.stdout, new RegExp(`\\b${cmd}\\b`));
  const ch = await runCli(['check', '--help']);
  t.match(ch.stdout, /--dry-run/);
  const v = await runCli(['--version']);
  t.match(v.stdout.trim(), /^\d+\.\d+\.\d+$/);
});

t.test('concurrent CLI processes and a running daemon share the database safely', async (t) => {
  const s = siteWith(t, [
    pass({ maxUses: 3, validFrom: '2020-01-01T00:00:00Z', validUntil: '2020-12-31T00:00:00Z' }),
  ]);
  // maxPassDays allows the window above; the pass is only ever checked with --at inside it.
  t.equal((await runCli(['passes', 'import', s.snap, ...s.c])).code, 0);
  const daemon = await startDaemon(s.configFile);
  t.teardown(() => daemon.child.kill('SIGKILL'));
  const results = await Promise.all(
    Array.from({ length: 8 }, () =>
      runCli(['check', '--door', 'lobby', '--pin', '123456', '--at', '2020-06-01T12:00:00Z', ...s.c]),
    ),
  );
  t.same(
    results.map((r) => r.code).sort(),
    [0, 0, 0, 3, 3, 3, 3, 3],
    'exactly maxUses grants across 8 racing processes',
  );
  // The daemon decides on the same database while the CLI imports.
  daemon.child.stdin.write('123456\n');
  const line = await daemon.waitFor(/access (granted|denied)/);
  t.match(line, /"reason":"expired"/, 'the daemon sees the same pass (decided at the real now: expired)');
  daemon.child.kill('SIGTERM');
  const code = await new Promise<number | null>((r) => daemon.child.on('exit', r));
  t.equal(code, 0, 'SIGTERM is a clean shutdown');
  t.match(daemon.lines.join('\n'), /doorpass stopped/);
  const cache = new Database(path.join(s.dir, 'state', 'cache.db'), { readonly: true });
  t.equal(cache.pragma('integrity_check', { simple: true }), 'ok');
  cache.close();
  const db = new Database(path.join(s.dir, 'state', 'journal.db'), { readonly: true });
  t.equal(db.pragma('integrity_check', { simple: true }), 'ok');
  t.equal((db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n, 9);
  db.close();
});
