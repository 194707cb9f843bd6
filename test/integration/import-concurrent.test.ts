/**
 * `doorpass passes import` of 100k passes in another process while the built `doorpass run` decides PINs
 * typed on its console: the daemon never waits out a lock (no "database is locked"), decides on the old
 * state while the import is staged and on the new one as soon as it swaps. No credential value reaches a file.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { secretPasses, secretsOf } from '../helpers/at-rest.js';
import { CLI, runCli, startDaemon } from '../helpers/cli.js';
import { pass } from '../helpers/fixtures.js';
import { haveMosquitto } from '../helpers/mosquitto.js';
import {
  assertNoSecrets,
  BIG,
  decisions,
  live,
  now,
  OLD_PIN,
  rig,
  statusPoller,
  typist,
  until,
} from '../helpers/snapshot-rig.js';

t.test(
  'large snapshots and imports',
  { skip: !haveMosquitto() && 'mosquitto is not installed (scripts/test.sh installs it)' },
  async (t) => {
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
        const status = statusPoller(site.configFile);
        const child = spawn(process.execPath, [CLI, 'passes', 'import', file, '--config', site.configFile], {
          env: { ...process.env, DOORPASS_CONFIG: '' },
        });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (out += d.toString()));
        const code = await new Promise<number | null>((r) => child.once('exit', r));
        await typing.stop();
        const polled = await status.stop();
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
        t.same(polled.unanswered, [], `the status socket answered all ${polled.answered} requests meanwhile`);
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

    t.test(
      'another process holding the cache write lock longer than the busy timeout never stalls a decision',
      async (t) => {
        // What an older doorpass did during a long import, or what a sqlite3 shell left open does: a write
        // transaction on cache.db held for 6 s (the store waits at most 5 s for a lock).
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
        const holder = spawn(
          process.execPath,
          [
            '-e',
            `const D = require('better-sqlite3');
             const db = new D(${JSON.stringify(path.join(stateDir, 'cache.db'))});
             db.pragma('busy_timeout = 5000');
             db.exec('BEGIN IMMEDIATE');
             db.prepare("INSERT OR REPLACE INTO sync_meta (key, value) VALUES ('held', 'yes')").run();
             console.log('locked');
             setTimeout(() => { db.exec('ROLLBACK'); db.close(); }, 6000);`,
          ],
          { cwd: process.cwd() },
        );
        t.teardown(() => holder.kill('SIGKILL'));
        const exited = new Promise<number | null>((r) => holder.once('exit', r));
        await new Promise<void>((resolve, reject) => {
          holder.stdout.once('data', () => resolve());
          holder.once('exit', (code) => reject(new Error(`lock holder exited (${code})`)));
        });
        const seen = decisions(daemon).length;
        const status = statusPoller(site.configFile);
        const typing = typist(daemon, () => OLD_PIN);
        t.teardown(() => Promise.all([typing.stop(), status.stop()]));
        // Decisions while the lock is still held: the holder has not exited when they are counted.
        await until(() => decisions(daemon).length >= seen + 20, '20 decisions');
        t.equal(holder.exitCode, null, 'counted while the other process still holds the lock');
        t.equal(await exited, 0);
        await typing.stop();
        const polled = await status.stop();
        const during = decisions(daemon).slice(seen);
        t.ok(
          during.every((m) => m.msg === 'access granted' && m.line['passId'] === 'old'),
          `all ${during.length} decisions granted`,
        );
        t.notOk(
          daemon.lines.some((l) => /database is locked|"level":(50|60)/.test(l)),
          'no "database is locked", no error logged',
        );
        t.same(polled.unanswered, [], `the status socket answered all ${polled.answered} requests`);
      },
    );
  },
);
