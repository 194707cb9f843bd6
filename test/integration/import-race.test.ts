/**
 * `doorpass passes import --replace` in another process while the built `doorpass run` receives the cloud's
 * deltas over a real Mosquitto: a delta applied while the import is being staged must not be rolled back by
 * the import's swap (the sync position already counts it, so the cloud would never send it again).
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { publishDelta } from '../../src/tools/cloud.js';
import { secretPasses } from '../helpers/at-rest.js';
import { CLI } from '../helpers/cli.js';
import { pass } from '../helpers/fixtures.js';
import { haveMosquitto } from '../helpers/mosquitto.js';
import { applied, live, msgs, now, rig, stageTables, until } from '../helpers/snapshot-rig.js';

t.test(
  'a cloud delta applied while `passes import --replace` is staged is not rolled back by its swap',
  { skip: !haveMosquitto() && 'mosquitto is not installed (scripts/test.sh installs it)' },
  async (t) => {
    const { site, stateDir, cloud, snapshot, check, start } = await rig(t);
    const daemon = await start();
    t.teardown(() => daemon.child.kill('SIGKILL'));
    const contractor = pass({ id: 'contractor', ...live, credentials: [{ type: 'pin', value: '555555' }] });
    await snapshot(1, [contractor]);
    await until(() => applied(daemon, 1), 'snapshot 1 applied');
    t.equal((await check('555555')).granted, true, 'the contractor opens');

    // The operator re-imports the site's list (the contractor's pass as it was, and many others).
    const file = path.join(site.dir, 'site.json');
    writeFileSync(file, JSON.stringify({ passes: [contractor, ...secretPasses(40_000, now, 'imp', 3)] }));
    const child = spawn(
      process.execPath,
      [CLI, 'passes', 'import', file, '--replace', '--config', site.configFile],
      { env: { ...process.env, DOORPASS_CONFIG: '' } },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    const pid = child.pid ?? -1;
    await until(() => stageTables(stateDir, pid) > 0 || child.exitCode !== null, 'the import began staging');

    // Meanwhile the cloud ends the contractor's pass (a new version, expired an hour ago).
    const ended = {
      ...contractor,
      version: 2,
      validFrom: new Date(now - 7_200_000).toISOString(),
      validUntil: new Date(now - 3_600_000).toISOString(),
    };
    await publishDelta(cloud, { upsert: [ended], revoke: [] });
    await until(
      () => msgs(daemon).some((m) => m.msg === 'pass delta applied' && m.line['seq'] === 2),
      'the delta applied',
    );
    t.equal(child.exitCode, null, 'the delta was applied while the import was still staging');
    const code = await exited;
    t.equal(code, 0, `the import succeeded: ${out.trim().split('\n').at(-1) ?? ''}`);

    const after = await check('555555');
    t.equal(after.granted, false, "the contractor's ended pass does not open after the import's swap");
    t.equal(after.reason, 'expired', 'denied as the delta left it');
  },
);
