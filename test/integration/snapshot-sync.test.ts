/**
 * A 100k-pass snapshot through a real Mosquitto against the built `doorpass run`, and replayed genuine
 * snapshot parts:
 * - no credential value (PIN, card number, QR text) of the snapshot is in any file under storage.dir;
 * - while it is staged, PINs typed on the console keep being decided, on the old state until the swap;
 * - replayed parts (older, or the recorded seq) change nothing and never disturb a newer snapshot.
 * Tests assert what happened and in which order, never how long it took.
 */
import t from 'tap';
import mqtt from 'mqtt';
import { sendSnapshot } from '../../src/tools/cloud.js';
import { findSecrets, secretPasses, secretsOf } from '../helpers/at-rest.js';
import { pass, type Json } from '../helpers/fixtures.js';
import { collect, haveMosquitto, type Received } from '../helpers/mosquitto.js';
import {
  applied,
  assertNoSecrets,
  between,
  BIG,
  decisions,
  DEVICE,
  live,
  msgs,
  now,
  OLD_PIN,
  rig,
  T,
  typist,
  until,
} from '../helpers/snapshot-rig.js';
import { writeFileSync } from 'node:fs';

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
        const { stateDir, snapshot, start } = await rig(t);
        const daemon = await start();
        t.teardown(() => daemon.child.kill('SIGKILL'));
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
      'replayed genuine snapshot parts never roll back, re-apply, or disturb a newer snapshot being received',
      async (t) => {
        const { broker, cloud, check, start } = await rig(t);
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

        const daemon = await start();
        t.teardown(() => daemon.child.kill('SIGKILL'));
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
  },
);
