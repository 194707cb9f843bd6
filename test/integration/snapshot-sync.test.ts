/**
 * Large snapshots and imports against the built `doorpass run`, through a real Mosquitto, as the attacker or
 * the unlucky operator meets them:
 * - no credential value (PIN, card number, QR text) of a 100k-pass snapshot is ever in any file under
 *   storage.dir: after it applies, after a SIGKILL in the middle of it, after a corrupt cache is rebuilt;
 * - while it is staged, PINs typed on the console keep being decided, on the old state until the swap;
 * - a `passes import` of 100k passes in another process never stalls the daemon (no "database is locked"),
 *   and the daemon decides on the new state as soon as the import swaps it in;
 * - replayed genuine snapshot parts (older, or the recorded seq) change nothing and never disturb a newer
 *   snapshot being received.
 * Tests assert what happened and in which order, never how long it took.
 */
import t, { type Test } from 'tap';
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import mqtt from 'mqtt';
import { topics } from '../../src/protocol/mqtt.js';
import { keygen, sendSnapshot, type CloudConnection } from '../../src/tools/cloud.js';
import { secretPasses, secretsOf, scanDir, findSecrets, type Secrets } from '../helpers/at-rest.js';
import { CLI, runCli, startDaemon } from '../helpers/cli.js';
import { pass, tempSite, type Json } from '../helpers/fixtures.js';
import { collect, haveMosquitto, startBroker, type Broker, type Received } from '../helpers/mosquitto.js';

const SITE = 'tower-a';
const DEVICE = 'panel-west';
const T = topics(SITE, DEVICE);
const BIG = 100_000;
const OLD_PIN = '314159';

const now = Date.now();
const live = {
  validFrom: new Date(now - 3_600_000).toISOString(),
  validUntil: new Date(now + 3_600_000).toISOString(),
};

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function rig(t: Test) {
  const broker: Broker = await startBroker();
  const site = tempSite((dir) => {
    keygen(path.join(dir, 'keys'));
    return `site: { id: ${SITE}, timezone: America/New_York }
device: { id: ${DEVICE} }
storage: { dir: ${JSON.stringify(path.join(dir, 'state'))} }
doors: [ { id: lobby, relay: { type: log } } ]
inputs: [ { type: console, door: lobby } ]
mqtt: { url: ${JSON.stringify(broker.url)} }
cloud: { publicKeyFile: ${JSON.stringify(path.join(dir, 'keys', 'cloud.pub.pem'))} }
`;
  });
  const cloud: CloudConnection = {
    url: broker.url,
    site: SITE,
    keyFile: path.join(site.dir, 'keys', 'cloud.key.pem'),
    stateFile: path.join(site.dir, 'cloud-state.json'),
  };
  const stateDir = path.join(site.dir, 'state');
  /** Sets the stand-in's full state (seq and passes) and sends it as a snapshot; returns the parts count. */
  const snapshot = (seq: number, passes: readonly Json[]): Promise<number> => {
    const state = {
      seq,
      passes: Object.fromEntries(passes.map((p) => [String(p['id']), p])),
      accessGroups: {},
    };
    writeFileSync(cloud.stateFile, JSON.stringify(state));
    return sendSnapshot(cloud, DEVICE);
  };
  const check = async (pin: string): Promise<Record<string, unknown>> => {
    const r = await runCli([
      'check',
      '--door',
      'lobby',
      '--pin',
      pin,
      '--dry-run',
      '--config',
      site.configFile,
    ]);
    return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
  };
  t.teardown(async () => {
    await broker.close();
    site.cleanup();
  });
  return { broker, site, cloud, stateDir, snapshot, check };
}

type Daemon = Awaited<ReturnType<typeof startDaemon>>;

function msgs(d: Daemon): { msg: string; line: Json }[] {
  return d.lines.flatMap((l) => {
    try {
      const j = JSON.parse(l) as Json;
      return [{ msg: String(j['msg']), line: j }];
    } catch {
      return [];
    }
  });
}

/** Types `pin` on the daemon's console until stop() and counts the decisions logged for it. */
function typist(d: Daemon, pins: () => string, everyMs = 15) {
  let running = true;
  const loop = (async () => {
    while (running) {
      d.child.stdin.write(`${pins()}\n`);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

function assertNoSecrets(t: Test, dir: string, secrets: Secrets, when: string): void {
  const { files, hits } = scanDir(dir, secrets);
  t.ok(
    files.length >= 2,
    `${when}: scanned ${files.length} files (${files.map((f) => path.basename(f)).join(', ')})`,
  );
  t.same(hits.slice(0, 10), [], `${when}: no PIN, card number or QR text in any file under storage.dir`);
}

t.test(
  'large snapshots and imports',
  { skip: !haveMosquitto() && 'mosquitto is not installed (scripts/test.sh installs it)' },
  async (t) => {
    t.test('the scanner finds a value it is given (it can fail)', async (t) => {
      const passes = secretPasses(3, now);
      const secrets = secretsOf(passes);
      const text = Buffer.from(JSON.stringify(passes));
      t.equal(findSecrets(text, secrets).length, 6, 'all six values of a raw body are found');
      t.same(
        findSecrets(Buffer.from(`${now}${now}${now} DPQR- 9`), secrets),
        [],
        'timestamps are not values',
      );
    });

    t.test(
      'a 100k-pass snapshot over MQTT: the console keeps deciding on the old state until the swap, and no credential reaches a file',
      async (t) => {
        const { site, stateDir, snapshot } = await rig(t);
        const daemon = await startDaemon(site.configFile);
        t.teardown(() => daemon.child.kill('SIGKILL'));
        await daemon.waitFor(/connected to the broker/);
        await snapshot(1, [pass({ id: 'old', ...live, credentials: [{ type: 'pin', value: OLD_PIN }] })]);
        await until(() => applied(daemon, 1), 'snapshot 1 applied');

        const big = secretPasses(BIG, now);
        const secrets = secretsOf(big);
        const typing = typist(daemon, () => OLD_PIN);
        const parts = await snapshot(2, big);
        await until(() => applied(daemon, 2), 'the 100k snapshot applied', 120_000);
        await typing.stop();
        t.ok(parts > 100, `sent in ${parts} signed parts`);

        const window = between(daemon, 'snapshot receiving', 2, 'snapshot applied');
        const during = window.filter((m) => m.msg.startsWith('access '));
        t.ok(during.length >= 5, `${during.length} console decisions while the snapshot was being staged`);
        t.ok(
          during.every((m) => m.msg === 'access granted' && m.line['passId'] === 'old'),
          'every one on the old state (the old pass granted)',
        );
        t.notOk(
          daemon.lines.some((l) => /database is locked|"level":(50|60)/.test(l)),
          'no error logged',
        );

        const newPin = (big[0]?.['credentials'] as { value: string }[])[0]?.value ?? '';
        const seen = decisions(daemon).length;
        daemon.child.stdin.write(`${newPin}\n${OLD_PIN}\n`);
        await until(() => decisions(daemon).length >= seen + 2, 'two decisions after the swap');
        const [afterNew, afterOld] = decisions(daemon).slice(seen);
        t.equal(afterNew?.msg, 'access granted', 'a PIN of the snapshot opens right after the swap');
        t.equal(afterOld?.line['reason'], 'unknown_credential', 'the pass not in the snapshot is gone');

        assertNoSecrets(t, stateDir, secrets, 'running, after the apply');
        daemon.child.kill('SIGTERM');
        await new Promise((r) => daemon.child.once('exit', r));
        assertNoSecrets(t, stateDir, secrets, 'after a clean stop');
      },
    );

    t.test(
      'SIGKILL in the middle of a 100k snapshot, then a corrupt cache rebuilt: no credential in any file, ever',
      async (t) => {
        const { site, stateDir, snapshot, check } = await rig(t);
        let daemon = await startDaemon(site.configFile);
        t.teardown(() => daemon.child.kill('SIGKILL'));
        await daemon.waitFor(/connected to the broker/);
        await snapshot(1, [pass({ id: 'old', ...live, credentials: [{ type: 'pin', value: OLD_PIN }] })]);
        await until(() => applied(daemon, 1), 'snapshot 1 applied');

        const big = secretPasses(BIG, now, 'k', 2);
        const secrets = secretsOf(big);
        const newPin = (big[0]?.['credentials'] as { value: string }[])[0]?.value ?? '';
        const sending = snapshot(2, big);
        await daemon.waitFor(/snapshot receiving/);
        // Some parts staged, not all: kill it in the middle.
        await until(
          () => readdirSync(stateDir).some((f) => f === 'cache.db-wal') && walSize(stateDir) > 2_000_000,
          'part of the snapshot staged',
        );
        t.notOk(applied(daemon, 2), 'killed before the swap');
        daemon.child.kill('SIGKILL');
        await new Promise((r) => daemon.child.once('exit', r));
        await sending;
        assertNoSecrets(t, stateDir, secrets, 'after SIGKILL mid-snapshot');
        t.equal((await check(OLD_PIN)).granted, true, 'the old state is whole');
        t.equal((await check(newPin)).granted, false, 'nothing of the half-staged snapshot is in force');

        daemon = await startDaemon(site.configFile);
        await daemon.waitFor(/connected to the broker/);
        await snapshot(3, big);
        await until(() => applied(daemon, 3), 'the snapshot sent again applied', 120_000);
        t.equal((await check(newPin)).granted, true);
        await until(() => stageTables(stateDir) === 0, 'the dead staging and the old tables removed');
        daemon.child.kill('SIGTERM');
        await new Promise((r) => daemon.child.once('exit', r));
        assertNoSecrets(t, stateDir, secrets, 'after the resend');

        // The cache is damaged (as an SD card does): moved aside, recreated, resynced from the cloud.
        const cache = path.join(stateDir, 'cache.db');
        const bytes = readFileSync(cache);
        bytes.fill(0x41, 0, 100);
        writeFileSync(cache, bytes);
        daemon = await startDaemon(site.configFile);
        await daemon.waitFor(/connected to the broker/);
        t.ok(
          readdirSync(stateDir).some((f) => f.startsWith('cache.db.corrupt-')),
          'the corrupt cache was moved aside',
        );
        await snapshot(4, big);
        await until(() => applied(daemon, 4), 'the rebuilt cache resynced', 120_000);
        t.equal((await check(newPin)).granted, true);
        daemon.child.kill('SIGTERM');
        await new Promise((r) => daemon.child.once('exit', r));
        assertNoSecrets(t, stateDir, secrets, 'after the rebuild (corrupt copy included)');
      },
    );

    t.test(
      'replayed genuine snapshot parts never roll back, re-apply, or disturb a newer snapshot being received',
      async (t) => {
        const { broker, site, cloud, check } = await rig(t);
        // Genuine signed parts, captured off the broker before the device ever connects (nothing queued for it).
        const tap = await collect(broker.url, T.snapshot);
        t.teardown(() => tap.close());
        const capture = async (seq: number, passes: Json[]): Promise<Received[]> => {
          const before = tap.messages.length;
          const state = {
            seq,
            passes: Object.fromEntries(passes.map((p) => [String(p['id']), p])),
            accessGroups: {},
          };
          writeFileSync(cloud.stateFile, JSON.stringify(state));
          const n = await sendSnapshot(cloud, DEVICE);
          await until(() => tap.messages.length >= before + n, 'parts captured', 10_000);
          return tap.messages.slice(before);
        };
        const a = pass({ id: 'a', ...live, credentials: [{ type: 'pin', value: '111111' }] });
        const x = pass({ id: 'x', ...live, credentials: [{ type: 'pin', value: '222222' }] });
        const bulk = Array.from({ length: 900 }, (_, i) =>
          pass({
            id: `b-${i}`,
            ...live,
            name: 'y'.repeat(200),
            credentials: [{ type: 'pin', value: String(300000 + i) }],
          }),
        );
        const s1 = await capture(1, [a]);
        const s2 = await capture(2, [a, x]);
        const s3 = await capture(3, bulk);
        t.ok(s3.length >= 2, `the newer snapshot has ${s3.length} parts`);

        const daemon = await startDaemon(site.configFile);
        t.teardown(() => daemon.child.kill('SIGKILL'));
        await daemon.waitFor(/connected to the broker/);
        const replay = async (m: Received): Promise<void> => {
          const c = await mqtt.connectAsync(broker.url, { protocolVersion: 5, reconnectPeriod: 0 });
          await c.publishAsync(T.snapshot, m.payload, {
            qos: 1,
            properties: { userProperties: m.properties.userProperties ?? {} },
          });
          await c.endAsync();
        };
        const count = (re: RegExp): number => msgs(daemon).filter((m) => re.test(m.msg)).length;

        for (const m of s1) await replay(m);
        await until(() => applied(daemon, 1), 'snapshot 1 applied');
        const [first, ...rest] = s3;
        if (first === undefined) throw new Error('no parts');
        await replay(first);
        await until(
          () => msgs(daemon).some((m) => m.msg === 'snapshot receiving' && m.line['seq'] === 3),
          'seq 3 receiving',
        );
        // The attacker replays the recorded snapshot and an older one while seq 3 is being received.
        const ignoredBefore = count(/ignored/);
        for (const m of [...s1, ...s2]) await replay(m);
        await until(() => count(/ignored/) >= ignoredBefore + s1.length + s2.length, 'replays ignored');
        t.notOk(applied(daemon, 2), 'the older snapshot (seq 2) was not applied');
        for (const m of rest) await replay(m);
        await until(() => applied(daemon, 3), 'the newer snapshot still completes and applies');
        t.equal((await check('300000')).granted, true, 'its passes are in force');
        t.equal((await check('222222')).granted, false, 'nothing of the replayed seq 2');
        t.equal((await check('111111')).granted, false, 'the pass only in seq 1 is gone');

        // Replaying the recorded snapshot (seq 3) again changes nothing and is not applied again.
        const appliedBefore = count(/^snapshot applied$/);
        const ignoredNow = count(/ignored/);
        for (const m of s3) await replay(m);
        for (const m of s1) await replay(m);
        await until(() => count(/ignored/) >= ignoredNow + s3.length + s1.length, 'replays ignored');
        t.equal(count(/^snapshot applied$/), appliedBefore, 'no snapshot re-applied');
        t.equal((await check('300000')).granted, true);
        t.equal((await check('111111')).granted, false, 'no rollback to seq 1');
      },
    );

    t.test(
      'passes import of 100k passes in another process: the daemon keeps deciding, then decides on the new state at once',
      async (t) => {
        const { site, stateDir } = await rig(t);
        const old = path.join(site.dir, 'old.json');
        writeFileSync(
          old,
          JSON.stringify({
            passes: [pass({ id: 'old', ...live, credentials: [{ type: 'pin', value: OLD_PIN }] })],
          }),
        );
        t.equal((await runCli(['passes', 'import', old, '--config', site.configFile])).code, 0);
        const daemon = await startDaemon(site.configFile);
        t.teardown(() => daemon.child.kill('SIGKILL'));
        const big = secretPasses(BIG, now, 'imp', 1);
        const secrets = secretsOf(big);
        const file = path.join(site.dir, 'big.json');
        writeFileSync(file, JSON.stringify({ passes: big }));
        const newPin = (big[0]?.['credentials'] as { value: string }[])[0]?.value ?? '';

        const seen = decisions(daemon).length;
        const typing = typist(daemon, () => OLD_PIN);
        const child = spawn(process.execPath, [CLI, 'passes', 'import', file, '--config', site.configFile], {
          env: { ...process.env, DOORPASS_CONFIG: '' },
        });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (out += d.toString()));
        const code = await new Promise<number | null>((r) => child.once('exit', r));
        await typing.stop();
        t.equal(code, 0, `the import succeeded: ${out.trim().split('\n')[0] ?? ''}`);

        const during = decisions(daemon).slice(seen);
        t.ok(during.length >= 5, `${during.length} console decisions while the import ran`);
        t.ok(
          during.every((m) => m.msg === 'access granted' && m.line['passId'] === 'old'),
          'every one granted on the old state (none waited out into an error)',
        );
        t.notOk(
          daemon.lines.some((l) => /database is locked|"level":(50|60)/.test(l)),
          'no "database is locked", no error logged',
        );
        const after = decisions(daemon).length;
        daemon.child.stdin.write(`${newPin}\n`);
        await until(() => decisions(daemon).length > after, 'a decision after the import');
        t.equal(
          decisions(daemon)[after]?.msg,
          'access granted',
          'the running daemon decides on the imported state at once',
        );
        daemon.child.kill('SIGTERM');
        await new Promise((r) => daemon.child.once('exit', r));
        assertNoSecrets(t, stateDir, secrets, 'after the import');
      },
    );
  },
);

function applied(d: Daemon, seq: number): boolean {
  return msgs(d).some((m) => m.msg === 'snapshot applied' && m.line['seq'] === seq);
}

function decisions(d: Daemon): { msg: string; line: Json }[] {
  return msgs(d).filter((m) => m.msg === 'access granted' || m.msg === 'access denied');
}

/** The log entries after the first `from` (with seq) and before the first `to` (with seq) after it. */
function between(d: Daemon, from: string, seq: number, to: string): { msg: string; line: Json }[] {
  const all = msgs(d);
  const i = all.findIndex((m) => m.msg === from && m.line['seq'] === seq);
  const j = all.findIndex((m, k) => k > i && m.msg === to && m.line['seq'] === seq);
  return i < 0 || j < 0 ? [] : all.slice(i + 1, j);
}

function walSize(dir: string): number {
  try {
    return statSync(path.join(dir, 'cache.db-wal')).size;
  } catch {
    return 0;
  }
}

/** Tables of a stage, or swapped out, still in cache.db. */
function stageTables(dir: string): number {
  const db = new Database(path.join(dir, 'cache.db'), { readonly: true, fileMustExist: true });
  try {
    return (
      db
        .prepare<[], { n: number }>(
          "SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table' AND name GLOB '*_p*x*'",
        )
        .get()?.n ?? 0
    );
  } finally {
    db.close();
  }
}
