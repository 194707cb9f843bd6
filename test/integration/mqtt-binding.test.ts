/**
 * Contract doorpass/v1 minor 1 at the attacker's level: a rogue client on a real Mosquitto broker (started by
 * the test on a free port) replays genuinely signed cloud messages — old ones, ones meant for another device,
 * ones without the new fields — and publishes oversized payloads, against the built `doorpass run` as a
 * subprocess. What is asserted is what the door does (grants, remote unlocks) and what status reports.
 */
import t, { type Test } from 'tap';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import mqtt from 'mqtt';
import { loadPrivateKey, signPayload } from '../../src/adapters/mqtt/signature.js';
import { topics } from '../../src/protocol/mqtt.js';
import {
  keygen,
  publishDelta,
  sendCommand,
  sendSnapshot,
  snapshotParts,
  type CloudConnection,
} from '../../src/tools/cloud.js';
import { runCli, startDaemon } from '../helpers/cli.js';
import { pass, tempSite } from '../helpers/fixtures.js';
import { collect, haveMosquitto, startBroker, type Broker } from '../helpers/mosquitto.js';

const SITE = 'tower-a';
const DEVICE = 'panel-west';
const OTHER = 'panel-east';
const T = topics(SITE, DEVICE);
const DAY = 86_400_000;

const now = Date.now();
const live = {
  validFrom: new Date(now - DAY).toISOString(),
  validUntil: new Date(now + 30 * DAY).toISOString(),
};

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function rig(t: Test, cloudExtra = '') {
  const broker: Broker = await startBroker();
  const site = tempSite((dir) => {
    keygen(path.join(dir, 'keys'));
    return `site: { id: ${SITE}, timezone: America/New_York }
device: { id: ${DEVICE} }
storage: { dir: ${JSON.stringify(path.join(dir, 'state'))} }
doors: [ { id: lobby, relay: { type: log } } ]
inputs: [ { type: console, door: lobby } ]
mqtt: { url: ${JSON.stringify(broker.url)} }
cloud: { publicKeyFile: ${JSON.stringify(path.join(dir, 'keys', 'cloud.pub.pem'))}${cloudExtra} }
`;
  });
  const cloud: CloudConnection = {
    url: broker.url,
    site: SITE,
    keyFile: path.join(site.dir, 'keys', 'cloud.key.pem'),
    stateFile: path.join(site.dir, 'cloud-state.json'),
  };
  const c = ['--config', site.configFile];
  const check = async (pin: string): Promise<Record<string, unknown>> => {
    const r = await runCli(['check', '--door', 'lobby', '--pin', pin, '--dry-run', ...c]);
    return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
  };
  const status = async (): Promise<LocalStatus> => {
    const r = await runCli(['status', '--json', ...c]);
    return r.code === 0 ? (JSON.parse(r.stdout) as LocalStatus) : {};
  };
  /** The daemon publishes its status once its subscriptions are acknowledged: then it hears what we send. */
  const subscribed = async (): Promise<void> => {
    const st = await collect(broker.url, T.status);
    try {
      await st.next((m) => (JSON.parse(m.payload.toString()) as { online: boolean }).online, 10_000);
    } finally {
      await st.close();
    }
  };
  t.teardown(async () => {
    await broker.close();
    site.cleanup();
  });
  return { broker, site, cloud, c, check, status, subscribed };
}

interface LocalStatus {
  sync?: { seq: number; rejected: Record<string, number>; newestIssuedAt: string | null; unbound: number };
  clock?: { trusted: boolean; reason: string | null; floor: string | null };
  cache?: { state: string };
}

/** A rogue client: publishes whatever bytes and `sig` it has (e.g. copied from a genuine message). */
async function rawPublish(url: string, topic: string, payload: string | Buffer, sig?: string): Promise<void> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0 });
  await client.publishAsync(topic, payload, {
    qos: 1,
    ...(sig !== undefined && { properties: { userProperties: { sig } } }),
  });
  await client.endAsync();
}

/** What the cloud signs, as the cloud signs it (a genuine message, to be replayed later). */
function signed(cloud: CloudConnection, doc: unknown): { payload: string; sig: string } {
  const payload = JSON.stringify(doc);
  return { payload, sig: signPayload(loadPrivateKey(cloud.keyFile), Buffer.from(payload)) };
}

/** The daemon's peak resident memory so far (VmHWM, bytes): robust to when the sample is taken. */
function peakRss(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m?.[1] === undefined) throw new Error('no VmHWM');
  return Number(m[1]) * 1024;
}

t.test(
  'MQTT binding (doorpass/v1 minor 1)',
  { skip: !haveMosquitto() && 'mosquitto is not installed (scripts/test.sh installs it)' },
  async (t) => {
    t.test('a replayed months-old signed snapshot does not roll a rebuilt panel back (stale)', async (t) => {
      const { broker, cloud, site, check, status, subscribed } = await rig(t);
      // Months ago the cloud sent this panel a snapshot in which Fred (since fired) had a PIN. An attacker
      // recorded it, signature and all.
      const old = signed(
        cloud,
        JSON.parse(
          snapshotParts(
            {
              seq: 40,
              passes: [pass({ id: 'fred', ...live, credentials: [{ type: 'pin', value: '400400' }] })],
              accessGroups: [],
            },
            { device: DEVICE, issuedAt: new Date(now - 120 * DAY).toISOString() },
          )[0] ?? '{}',
        ),
      );
      let daemon = await startDaemon(site.configFile);
      t.teardown(() => daemon.child.kill('SIGKILL'));
      await daemon.waitFor(/connected to the broker/);
      await subscribed();
      await publishDelta(cloud, { upsert: [pass({ id: 'dana', ...live })], revoke: [] });
      await until(async () => (await check('123456')).granted === true, 'delta 1 applied');
      await until(async () => (await status()).sync?.newestIssuedAt != null, 'newest issuedAt recorded');

      // The SD card's cache is corrupted: the panel rebuilds it empty (seq 0) and asks for everything.
      daemon.child.kill('SIGTERM');
      await new Promise((r) => daemon.child.once('exit', r));
      const state = path.join(site.dir, 'state');
      writeFileSync(path.join(state, 'cache.db'), Buffer.alloc(8192, 0x5a));
      for (const f of ['cache.db-wal', 'cache.db-shm']) rmSync(path.join(state, f), { force: true });
      daemon = await startDaemon(site.configFile);
      await daemon.waitFor(/connected to the broker/);
      await subscribed();
      await until(async () => (await status()).cache?.state === 'rebuilt', 'cache rebuilt');
      t.equal((await status()).sync?.seq, 0, 'the rebuilt cache has no seq: any snapshot seq is newer');

      // The rogue client answers the panel's sync request first, with the recorded snapshot.
      await rawPublish(broker.url, T.snapshot, old.payload, old.sig);
      await until(async () => ((await status()).sync?.rejected.stale ?? 0) >= 1, 'refused as stale');
      t.equal((await check('400400')).granted, false, "the fired employee's PIN does not open");
      t.equal((await status()).sync?.seq, 0, 'nothing was applied');
      t.ok(
        daemon.lines.some((l) => l.includes('"reason":"stale"') && l.includes('newest already accepted')),
        'refused against the newest issuedAt the journal remembered across the rebuild',
      );

      // The cloud's real answer still applies.
      await sendSnapshot(cloud, DEVICE);
      await until(async () => (await check('123456')).granted === true, 'the fresh snapshot applies');
    });

    t.test('a brand-new panel refuses a months-old signed snapshot by its trusted clock', async (t) => {
      const { broker, cloud, site, check, status, subscribed } = await rig(t);
      const old = signed(
        cloud,
        JSON.parse(
          snapshotParts(
            {
              seq: 40,
              passes: [pass({ id: 'fred', ...live, credentials: [{ type: 'pin', value: '400400' }] })],
              accessGroups: [],
            },
            { device: DEVICE, issuedAt: new Date(now - 120 * DAY).toISOString() },
          )[0] ?? '{}',
        ),
      );
      const daemon = await startDaemon(site.configFile);
      t.teardown(() => daemon.child.kill('SIGKILL'));
      await daemon.waitFor(/connected to the broker/);
      await subscribed();
      t.equal((await status()).sync?.newestIssuedAt, null, 'nothing accepted yet');
      await rawPublish(broker.url, T.snapshot, old.payload, old.sig);
      await until(async () => ((await status()).sync?.rejected.stale ?? 0) >= 1, 'refused as stale');
      t.equal((await check('400400')).granted, false);
      t.ok(daemon.lines.some((l) => l.includes('"reason":"stale"') && l.includes('trusted clock')));
    });

    t.test(
      "a snapshot part and an unlock for another device, copied to this device's topics, are refused",
      async (t) => {
        const { broker, cloud, site, check, status, subscribed } = await rig(t);
        const daemon = await startDaemon(site.configFile);
        t.teardown(() => daemon.child.kill('SIGKILL'));
        await daemon.waitFor(/connected to the broker/);
        await subscribed();
        const results = await collect(broker.url, T.commandResult);
        t.teardown(() => results.close());
        const mqttStatus = await collect(broker.url, T.status);
        t.teardown(() => mqttStatus.close());

        // The rogue client listens on panel-east's topics and copies what the cloud sends there.
        const spy = await collect(broker.url, [topics(SITE, OTHER).snapshot, topics(SITE, OTHER).commands]);
        t.teardown(() => spy.close());
        await publishDelta(cloud, {
          upsert: [pass({ id: 'east-only', ...live, credentials: [{ type: 'pin', value: '515151' }] })],
          revoke: [],
        });
        await until(async () => (await check('515151')).granted === true, 'delta applied');
        await sendSnapshot(cloud, OTHER);
        const part = await spy.next((m) => m.topic.endsWith('/snapshot'), 5000);
        await sendCommand(
          cloud,
          OTHER,
          { type: 'unlock', door: 'lobby', expiresInMs: 60_000, id: 'east-unlock' },
          500,
        ).catch(() => undefined); // panel-east is not running: no result
        const unlock = await spy.next((m) => m.topic.endsWith('/commands'), 5000);
        const sigOf = (m: { properties: { userProperties?: Record<string, string | string[]> } }): string =>
          String(m.properties.userProperties?.sig);

        await rawPublish(broker.url, T.snapshot, part.payload, sigOf(part));
        await rawPublish(broker.url, T.commands, unlock.payload, sigOf(unlock));
        await until(
          async () => ((await status()).sync?.rejected.wrong_device ?? 0) >= 2,
          'both counted as wrong_device',
        );
        t.notOk(
          daemon.lines.some((l) => l.includes('remote unlock') || l.includes('door unlocked')),
          "panel-east's unlock did not open panel-west's door (same door id)",
        );
        t.equal(results.messages.length, 0, 'no command result is published for a refused command');
        t.equal((await check('515151')).granted, true, 'the snapshot part for panel-east changed nothing');
        const st = await mqttStatus.next(
          (m) =>
            ((JSON.parse(m.payload.toString()) as { rejected?: Record<string, number> }).rejected
              ?.wrong_device ?? 0) >= 2,
          15_000,
        );
        t.ok(st, 'the retained MQTT status counts them in rejected.wrong_device');

        // This device's own unlock still works.
        const ok = await sendCommand(cloud, DEVICE, { type: 'unlock', door: 'lobby', expiresInMs: 30_000 });
        t.equal(ok.ok, true);
        await daemon.waitFor(/door unlocked/);
      },
    );

    t.test(
      'requireBinding: a message without issuedAt is refused by default, accepted with false',
      async (t) => {
        const unbound = (cloud: CloudConnection, seq: number, pin: string) =>
          signed(cloud, {
            seq,
            upsert: [pass({ id: `u${seq}`, ...live, credentials: [{ type: 'pin', value: pin }] })],
          });
        {
          const { broker, cloud, site, check, status, subscribed } = await rig(t);
          const daemon = await startDaemon(site.configFile);
          t.teardown(() => daemon.child.kill('SIGKILL'));
          await daemon.waitFor(/connected to the broker/);
          await subscribed();
          const m = unbound(cloud, 1, '101010');
          await rawPublish(broker.url, T.passes, m.payload, m.sig);
          await until(
            async () => ((await status()).sync?.rejected.missing_binding ?? 0) >= 1,
            'missing_binding counted',
          );
          t.equal((await check('101010')).granted, false, 'default (absent key): refused');
          t.equal((await status()).sync?.seq, 0);
          daemon.child.kill('SIGKILL');
        }
        {
          const { broker, cloud, site, check, status, c, subscribed } = await rig(
            t,
            ', requireBinding: false',
          );
          const cc = await runCli(['check-config', ...c]);
          t.equal(cc.code, 0, 'check-config accepts it ...');
          t.match(cc.stdout + cc.stderr, /cloud\.requireBinding: false/, '... and warns');
          const daemon = await startDaemon(site.configFile);
          t.teardown(() => daemon.child.kill('SIGKILL'));
          await daemon.waitFor(/connected to the broker/);
          await subscribed();
          const m = unbound(cloud, 1, '202020');
          await rawPublish(broker.url, T.passes, m.payload, m.sig);
          await until(async () => (await check('202020')).granted === true, 'false: accepted');
          t.equal((await status()).sync?.unbound, 1, 'counted as unbound');
          // With false, a message that has the fields is still judged.
          const stale = signed(cloud, {
            seq: 2,
            issuedAt: new Date(now - 90 * DAY).toISOString(),
            upsert: [pass({ id: 'late', ...live, credentials: [{ type: 'pin', value: '303030' }] })],
          });
          await publishDelta(cloud, { upsert: [], revoke: [] }); // seq 1 again in the stand-in: a duplicate
          await until(async () => (await status()).sync?.newestIssuedAt != null, 'newest recorded');
          await rawPublish(broker.url, T.passes, stale.payload, stale.sig);
          await until(async () => ((await status()).sync?.rejected.stale ?? 0) >= 1, 'stale counted');
          t.equal((await check('303030')).granted, false);
        }
      },
    );

    t.test(
      'a verified issuedAt raises the clock floor: a clock days behind the cloud is untrusted',
      async (t) => {
        const { broker, cloud, site, status, subscribed } = await rig(t);
        const daemon = await startDaemon(site.configFile);
        t.teardown(() => daemon.child.kill('SIGKILL'));
        await daemon.waitFor(/connected to the broker/);
        await subscribed();
        // A pass that, by the cloud's clock, expired yesterday; the panel's clock is two days behind it.
        const m = signed(cloud, {
          seq: 1,
          issuedAt: new Date(now + 2 * DAY).toISOString(),
          upsert: [
            pass({
              id: 'expired',
              validFrom: new Date(now - 10 * DAY).toISOString(),
              validUntil: new Date(now + DAY).toISOString(),
              credentials: [{ type: 'pin', value: '616161' }],
            }),
          ],
        });
        t.equal((await status()).clock?.trusted, true, 'trusted before (build time floor, no NTP here)');
        await rawPublish(broker.url, T.passes, m.payload, m.sig);
        await until(async () => (await status()).clock?.trusted === false, 'clock untrusted');
        const st = await status();
        t.equal(st.clock?.reason, 'before-last-seen');
        t.ok(Date.parse(st.clock?.floor ?? '') > now + DAY, `floor raised to ${st.clock?.floor}`);
        daemon.child.stdin.write('616161\n');
        await daemon.waitFor(/clock_untrusted/);
        t.equal(
          daemon.lines.some((l) => l.includes('"granted":true')),
          false,
          'the expired pass is not honoured by the clock that is behind',
        );
      },
    );

    t.test('a publish larger than the Maximum Packet Size never reaches the daemon', async (t) => {
      const { broker, cloud, site, check, subscribed } = await rig(t);
      const daemon = await startDaemon(site.configFile);
      t.teardown(() => daemon.child.kill('SIGKILL'));
      await daemon.waitFor(/connected to the broker/);
      await subscribed();
      await publishDelta(cloud, { upsert: [pass({ id: 'before', ...live })], revoke: [] });
      await until(async () => (await check('123456')).granted === true, 'delta 1 applied');
      const pid = daemon.child.pid ?? 0;
      const before = peakRss(pid);
      const SIZE = 64 * 1024 * 1024;
      // Signed even, so only the size stands between it and the daemon.
      const big = Buffer.alloc(SIZE, 0x20);
      await rawPublish(broker.url, T.passes, big, signPayload(loadPrivateKey(cloud.keyFile), big));
      // A normal signed delta after it: once it applies, the big one was either dropped or already handled.
      await publishDelta(cloud, {
        upsert: [pass({ id: 'after', ...live, credentials: [{ type: 'pin', value: '717171' }] })],
        revoke: [],
      });
      await until(async () => (await check('717171')).granted === true, 'the next delta applies', 20_000);
      const grown = peakRss(pid) - before;
      t.ok(grown < SIZE / 4, `peak RSS grew by ${(grown / 1048576).toFixed(1)} MiB for a 64 MiB publish`);
      t.notOk(
        daemon.lines.some((l) => l.includes('too_large')),
        'the daemon never saw it (not even to refuse it as too_large)',
      );
      t.notOk(
        daemon.lines.some((l) => l.includes('disconnected from the broker')),
        'and the connection stayed up',
      );
    });
  },
);
