/**
 * Cloud sync through a real Mosquitto broker started by the test on a free port, with real Ed25519
 * signatures, against the built `doorpass run` as a subprocess.
 */
import t, { type Test } from 'tap';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import mqtt from 'mqtt';
import { loadPrivateKey, signPayload } from '../../src/adapters/mqtt/signature.js';
import { topics } from '../../src/protocol/mqtt.js';
import {
  keygen,
  publishDelta,
  sendCommand,
  sendSnapshot,
  type CloudConnection,
} from '../../src/tools/cloud.js';
import { runCli, startDaemon } from '../helpers/cli.js';
import { pass, tempSite } from '../helpers/fixtures.js';
import { collect, haveMosquitto, startBroker, type Broker } from '../helpers/mosquitto.js';

const SITE = 'tower-a';
const DEVICE = 'panel-west';
const T = topics(SITE, DEVICE);

const now = Date.now();
const live = {
  validFrom: new Date(now - 3_600_000).toISOString(),
  validUntil: new Date(now + 3_600_000).toISOString(),
};

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function rig(t: Test, brokerOptions: Parameters<typeof startBroker>[0] = {}, mqttExtra = '') {
  const broker: Broker = await startBroker(brokerOptions);
  const site = tempSite((dir) => {
    keygen(path.join(dir, 'keys'));
    return `site: { id: ${SITE}, timezone: America/New_York }
device: { id: ${DEVICE} }
storage: { dir: ${JSON.stringify(path.join(dir, 'state'))} }
doors: [ { id: lobby, relay: { type: log } } ]
inputs: [ { type: console, door: lobby } ]
mqtt: { url: ${JSON.stringify(broker.url)}${mqttExtra} }
cloud: { publicKeyFile: ${JSON.stringify(path.join(dir, 'keys', 'cloud.pub.pem'))} }
`;
  });
  const cloud: CloudConnection = {
    url: broker.url,
    site: SITE,
    keyFile: path.join(site.dir, 'keys', 'cloud.key.pem'),
    stateFile: path.join(site.dir, 'cloud-state.json'),
    ...(broker.certs && {
      caFile: broker.certs.ca,
      certFile: broker.certs.clientCert,
      clientKeyFile: broker.certs.clientKey,
    }),
  };
  const c = ['--config', site.configFile];
  const check = async (pin: string): Promise<Record<string, unknown>> => {
    const r = await runCli(['check', '--door', 'lobby', '--pin', pin, '--dry-run', ...c]);
    return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
  };
  t.teardown(async () => {
    await broker.close();
    site.cleanup();
  });
  return { broker, site, cloud, c, check };
}

/** A raw publisher, for messages the cloud stand-in would never send (unsigned, forged, malformed). */
async function rawPublish(url: string, topic: string, payload: string, sig?: string): Promise<void> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0 });
  await client.publishAsync(topic, payload, {
    qos: 1,
    ...(sig !== undefined && { properties: { userProperties: { sig } } }),
  });
  await client.endAsync();
}

t.test(
  'MQTT sync',
  { skip: !haveMosquitto() && 'mosquitto is not installed (scripts/test.sh installs it)' },
  async (t) => {
    t.test(
      'deltas, a gap answered by a snapshot in parts, duplicates, unsigned, forged and malformed messages',
      async (t) => {
        const { broker, cloud, site, check } = await rig(t);
        const daemon = await startDaemon(site.configFile);
        t.teardown(() => daemon.child.kill('SIGKILL'));
        await daemon.waitFor(/connected to the broker/);

        await publishDelta(cloud, { upsert: [pass({ id: 'a', ...live })], revoke: [] });
        await until(async () => (await check('123456')).granted === true, 'delta 1 applied');

        // Unsigned, forged and malformed messages change nothing and do not advance the seq.
        const evil = JSON.stringify({
          seq: 2,
          upsert: [pass({ id: 'evil', ...live, credentials: [{ type: 'pin', value: '666666' }] })],
        });
        await rawPublish(broker.url, T.passes, evil);
        const otherKey = keygen(path.join(site.dir, 'other-keys'));
        await rawPublish(
          broker.url,
          T.passes,
          evil,
          signPayload(loadPrivateKey(otherKey.privateFile), Buffer.from(evil)),
        );
        const key = loadPrivateKey(cloud.keyFile);
        const notJson = '{"seq": 2, "upsert": [';
        await rawPublish(broker.url, T.passes, notJson, signPayload(key, Buffer.from(notJson)));
        const badSchema = JSON.stringify({ seq: 'two' });
        await rawPublish(broker.url, T.passes, badSchema, signPayload(key, Buffer.from(badSchema)));
        const tampered = evil.replace('666666', '777777');
        await rawPublish(broker.url, T.passes, tampered, signPayload(key, Buffer.from(evil)));
        await daemon.waitFor(/"reason":"schema".*cloud message rejected/);
        t.equal((await check('666666')).granted, false, 'an unsigned or forged pass is not added');
        t.equal((await check('777777')).granted, false, 'a payload changed after signing is refused');
        for (const reason of ['missing_signature', 'bad_signature', 'bad_json', 'schema']) {
          t.ok(
            daemon.lines.some((l) => l.includes(`"reason":"${reason}"`)),
            `rejected: ${reason}`,
          );
        }

        // The next good message with seq 2 still applies; a duplicate of it is ignored.
        await publishDelta(cloud, {
          upsert: [pass({ id: 'b', ...live, credentials: [{ type: 'pin', value: '222222' }] })],
          revoke: [],
        });
        await until(async () => (await check('222222')).granted === true, 'delta 2 applied');

        // A gap: the stand-in's state jumps ahead (seq 3 and 4 never reach the device); seq 5 triggers a resync,
        // answered with the full state in several parts.
        const many = Array.from({ length: 1500 }, (_, i) =>
          pass({
            id: `bulk-${i}`,
            ...live,
            name: 'x'.repeat(120),
            credentials: [{ type: 'pin', value: String(100000 + i) }],
          }),
        );
        const watcher = await collect(broker.url, T.syncRequest);
        t.teardown(() => watcher.close());
        const stateFile = cloud.stateFile;
        const { readFileSync } = await import('node:fs');
        const state = JSON.parse(readFileSync(stateFile, 'utf8')) as {
          seq: number;
          passes: Record<string, unknown>;
        };
        for (const p of many) state.passes[String(p.id)] = p;
        state.seq = 4;
        writeFileSync(stateFile, JSON.stringify({ ...state, accessGroups: {} }));
        await publishDelta(cloud, {
          upsert: [pass({ id: 'five', ...live, credentials: [{ type: 'pin', value: '555555' }] })],
          revoke: [],
        });
        const req = await watcher.next(() => true, 10_000);
        t.same(JSON.parse(req.payload.toString()), { have: 2 }, 'the device asks for what it lacks');
        const parts = await sendSnapshot({ ...cloud }, DEVICE);
        t.ok(parts >= 2, `snapshot sent in ${parts} parts`);
        await until(async () => (await check('101499')).granted === true, 'snapshot applied', 20_000);
        t.equal(
          (await check('555555')).granted,
          true,
          'the delta kept aside (seq 5) applied after the snapshot (seq 4)',
        );
        t.equal((await check('222222')).granted, true);
      },
    );

    t.test(
      'revocation while connected; unlock, expired and replayed commands; status and the last will',
      async (t) => {
        const { broker, cloud, site, check } = await rig(t);
        const status = await collect(broker.url, T.status);
        t.teardown(() => status.close());
        const daemon = await startDaemon(site.configFile);
        t.teardown(() => daemon.child.kill('SIGKILL'));
        await daemon.waitFor(/connected to the broker/);
        await status.next(
          (m) => (JSON.parse(m.payload.toString()) as { online: boolean }).online === true,
          10_000,
        );
        const late = await collect(broker.url, T.status);
        t.teardown(() => late.close());
        const retained = await late.next(() => true, 5000);
        t.equal(retained.retain, true, 'the status is retained: a late subscriber gets it at once');

        await publishDelta(cloud, { upsert: [pass({ id: 'v', ...live })], revoke: [] });
        await until(async () => (await check('123456')).granted === true, 'pass added');
        const before = Date.now();
        await publishDelta(cloud, { upsert: [], revoke: ['v'] });
        await until(async () => (await check('123456')).reason === 'revoked', 'revoked', 5000);
        t.ok(
          Date.now() - before < 5000,
          `revocation reached the door in ${Date.now() - before} ms (CLI spawns included)`,
        );

        const ok = await sendCommand(cloud, DEVICE, {
          type: 'unlock',
          door: 'lobby',
          expiresInMs: 30_000,
          id: 'cmd-1',
        });
        t.same(ok, { id: 'cmd-1', ok: true });
        await daemon.waitFor(/door unlocked/);
        const replay = await sendCommand(cloud, DEVICE, {
          type: 'unlock',
          door: 'lobby',
          expiresInMs: 30_000,
          id: 'cmd-1',
        });
        t.same(replay, { id: 'cmd-1', ok: true }, 'a replayed id gets its original result');
        t.equal(
          daemon.lines.filter((l) => l.includes('remote unlock')).length,
          1,
          'but is not executed twice',
        );
        const expired = await sendCommand(cloud, DEVICE, {
          type: 'unlock',
          door: 'lobby',
          expiresInMs: -1000,
          id: 'cmd-2',
        });
        t.same(expired, { id: 'cmd-2', ok: false, error: 'expired' });

        daemon.child.kill('SIGKILL'); // no clean disconnect: the broker publishes the last will
        const will = await status.next(
          (m) => (JSON.parse(m.payload.toString()) as { online: boolean }).online === false,
          30_000,
        );
        t.same(JSON.parse(will.payload.toString()), { online: false });
      },
    );

    t.test(
      'broker outage while events are produced, and SIGKILL between an access and its upload: nothing lost',
      async (t) => {
        const { broker, cloud, site } = await rig(t);
        await publishDelta(cloud, { upsert: [pass({ id: 'p', ...live })], revoke: [] }).catch(
          () => undefined,
        );
        const events = await collect(broker.url, `doorpass/v1/${SITE}/devices/+/events`, {
          persistent: true,
        });
        t.teardown(() => events.close());
        let daemon = await startDaemon(site.configFile);
        t.teardown(() => daemon.child.kill('SIGKILL'));
        await daemon.waitFor(/connected to the broker/);
        await sendSnapshot(cloud, DEVICE);
        for (let i = 0; i < 20; i++) daemon.child.stdin.write(i % 3 === 0 ? '000000\n' : '123456\n');
        await broker.kill();
        for (let i = 0; i < 20; i++) daemon.child.stdin.write('123456\n');
        await new Promise((r) => setTimeout(r, 300));
        daemon.child.kill('SIGKILL'); // some accesses are journalled but not uploaded
        await new Promise((r) => daemon.child.once('exit', r));
        await broker.restart();
        daemon = await startDaemon(site.configFile);
        await daemon.waitFor(/connected to the broker/);
        for (let i = 0; i < 10; i++) daemon.child.stdin.write('123456\n');
        const local = await runCli([
          'events',
          'list',
          '--json',
          '--limit',
          '1000',
          '--config',
          site.configFile,
        ]);
        const localAccess = local.stdout
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { id: string; type: string })
          .filter((e) => e.type.startsWith('access.'));
        t.ok(localAccess.length >= 40, `${localAccess.length} accesses journalled`);
        const received = (): string[] =>
          events.messages.flatMap((m) =>
            (JSON.parse(m.payload.toString()) as { events: { id: string; type: string }[] }).events.map(
              (e) => e.id,
            ),
          );
        await until(
          () => localAccess.every((e) => received().includes(e.id)),
          'every journalled access reached the broker',
          30_000,
        );
        const firstSeen = [...new Set(received())];
        t.same(firstSeen, [...firstSeen].sort(), 'in order (ids are time-ordered ULIDs)');
        t.ok(
          received().length >= firstSeen.length,
          `${received().length - firstSeen.length} duplicates (deduped by id)`,
        );
      },
    );

    t.test('TLS with a client certificate', async (t) => {
      const { cloud, site, check, broker } = await rig(t, { tls: true, requireClientCert: true }, '');
      const certs = broker.certs;
      if (certs === undefined) throw new Error('no certs');
      // Point the daemon at the CA and its client certificate.
      const { readFileSync } = await import('node:fs');
      const text = readFileSync(site.configFile, 'utf8').replace(
        /mqtt: \{ url: ("[^"]+") \}/,
        `mqtt: { url: $1, caFile: ${JSON.stringify(certs.ca)}, certFile: ${JSON.stringify(certs.clientCert)}, keyFile: ${JSON.stringify(certs.clientKey)} }`,
      );
      writeFileSync(site.configFile, text);
      const daemon = await startDaemon(site.configFile);
      t.teardown(() => daemon.child.kill('SIGKILL'));
      await daemon.waitFor(/connected to the broker/);
      await publishDelta(cloud, { upsert: [pass({ id: 'tls', ...live })], revoke: [] });
      await until(async () => (await check('123456')).granted === true, 'a pass over TLS');
    });
  },
);
