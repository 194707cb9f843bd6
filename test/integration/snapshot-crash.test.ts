/**
 * A SIGKILL in the middle of a 100k-pass snapshot, then a corrupt cache rebuilt and resynced, against the
 * built `doorpass run` through a real Mosquitto: no credential value of the snapshot is in any file under
 * storage.dir at any point (the moved-aside corrupt copy included), the old state is whole after the kill,
 * and the staging of the dead process is removed.
 */
import t from 'tap';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { secretPasses, secretsOf } from '../helpers/at-rest.js';
import { pass } from '../helpers/fixtures.js';
import { haveMosquitto } from '../helpers/mosquitto.js';
import {
  applied,
  assertNoSecrets,
  BIG,
  live,
  now,
  OLD_PIN,
  rig,
  stageTables,
  until,
  walSize,
} from '../helpers/snapshot-rig.js';

t.test(
  'large snapshots and imports',
  { skip: !haveMosquitto() && 'mosquitto is not installed (scripts/test.sh installs it)' },
  async (t) => {
    t.test(
      'SIGKILL in the middle of a 100k snapshot, then a corrupt cache rebuilt: no credential in any file, ever',
      async (t) => {
        const { stateDir, snapshot, check, start } = await rig(t);
        let daemon = await start();
        t.teardown(() => daemon.child.kill('SIGKILL'));
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

        const dead = daemon.child.pid ?? -1;
        t.ok(stageTables(stateDir, dead) > 0, 'the dead process left its stage behind');
        daemon = await start();
        await until(() => stageTables(stateDir, dead) === 0, 'the dead staging removed by the next daemon');
        daemon.child.kill('SIGTERM');
        await new Promise((r) => daemon.child.once('exit', r));
        assertNoSecrets(t, stateDir, secrets, 'after the restart');

        // The cache is damaged (as an SD card does): moved aside, recreated, resynced from the cloud.
        const cache = path.join(stateDir, 'cache.db');
        const bytes = readFileSync(cache);
        bytes.fill(0x41, 0, 100);
        writeFileSync(cache, bytes);
        daemon = await start();
        t.ok(
          readdirSync(stateDir).some((f) => f.startsWith('cache.db.corrupt-')),
          'the corrupt cache was moved aside',
        );
        await snapshot(3, big);
        await until(() => applied(daemon, 3), 'the rebuilt cache resynced', 120_000);
        t.equal((await check(newPin)).granted, true);
        daemon.child.kill('SIGTERM');
        await new Promise((r) => daemon.child.once('exit', r));
        assertNoSecrets(t, stateDir, secrets, 'after the rebuild and resync (corrupt copy included)');
      },
    );
  },
);
