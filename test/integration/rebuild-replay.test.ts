/**
 * A panel whose cache was rebuilt after corruption has forgotten its sync position and the cloud's
 * revocations (only local ones live in the journal). A rogue broker client that captured a genuine snapshot
 * of this panel a few hours earlier replays it the moment the rebuilt panel asks for a resync, before the
 * cloud answers: the newest `issuedAt` kept in the journal refuses only what is more than
 * `cloud.maxMessageAgeHours` (24 h) older, so the panel rolls back to the captured state, in which a pass the
 * cloud revoked since opens again — until the cloud's own answer swaps in.
 *
 * Fixed by the applied-seq mark kept in the journal (src/app/sync.ts APPLIED_SEQ_KEY): a rebuilt cache refuses
 * a snapshot older than the seq this device once applied, and waits for one at or past it before applying
 * deltas.
 */
import t from 'tap';
import mqtt from 'mqtt';
import { closeSync, openSync, readdirSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { publishDelta, sendSnapshot } from '../../src/tools/cloud.js';
import { pass } from '../helpers/fixtures.js';
import { collect, haveMosquitto, type Received } from '../helpers/mosquitto.js';
import { applied, DEVICE, live, msgs, rig, T, until } from '../helpers/snapshot-rig.js';

t.test(
  'a rebuilt panel does not roll back to a snapshot captured hours earlier',
  {
    skip: !haveMosquitto() && 'mosquitto is not installed (scripts/test.sh installs it)',
  },
  async (t) => {
    const { broker, cloud, stateDir, check, start } = await rig(t);
    const fired = pass({
      id: 'fired',
      kind: 'staff',
      ...live,
      credentials: [{ type: 'pin', value: '424242' }],
    });
    const other = pass({ id: 'other', ...live, credentials: [{ type: 'pin', value: '515151' }] });

    // The cloud's snapshot of seq 1 for this panel, captured off the broker by the attacker.
    const tap = await collect(broker.url, T.snapshot);
    t.teardown(() => tap.close());
    writeFileSync(cloud.stateFile, JSON.stringify({ seq: 1, passes: { fired, other }, accessGroups: {} }));
    const n = await sendSnapshot(cloud, DEVICE);
    await until(() => tap.messages.length >= n, 'parts captured', 10_000);
    const captured: Received[] = tap.messages.slice(0, n);

    const first = await start();
    t.teardown(() => first.child.kill('SIGKILL'));
    await sendSnapshot(cloud, DEVICE);
    await until(() => applied(first, 1), 'snapshot 1 applied');
    await publishDelta(cloud, { upsert: [], revoke: ['fired'] });
    await until(
      () => msgs(first).some((m) => m.msg === 'pass delta applied' && m.line['seq'] === 2),
      'the revocation applied',
    );
    t.equal((await check('424242')).reason, 'revoked', 'the cloud revoked the pass');
    first.child.kill('SIGTERM');
    await new Promise((r) => first.child.once('exit', r));

    // The SD card damages the cache while the panel is off.
    const fd = openSync(path.join(stateDir, 'cache.db'), 'r+');
    writeSync(fd, Buffer.alloc(8192, 0xa5), 0, 8192, 0);
    closeSync(fd);

    const second = await start();
    t.teardown(() => second.child.kill('SIGKILL'));
    t.ok(
      readdirSync(stateDir).some((f) => f.startsWith('cache.db.corrupt-')),
      'the cache was found corrupt and rebuilt',
    );
    // The attacker answers the panel's sync request before the cloud does.
    const rogue = await mqtt.connectAsync(broker.url, { protocolVersion: 5, reconnectPeriod: 0 });
    t.teardown(() => rogue.end(true));
    for (const m of captured)
      await rogue.publishAsync(T.snapshot, m.payload, {
        qos: 1,
        properties: { userProperties: m.properties.userProperties ?? {} },
      });
    await until(
      () => applied(second, 1) || msgs(second).some((m) => m.line['reason'] === 'stale'),
      'the replay judged',
      10_000,
    );
    const r = await check('424242');
    t.not(r.granted, true, 'the pass the cloud revoked does not open again');
  },
);
