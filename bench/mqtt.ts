/**
 * Cloud figures through a local Mosquitto started here on a free port:
 *
 *   mqtt.upload.events_per_second   vs mqtt.raw_publish.per_second  (the same client, one QoS 1 publish per event)
 *   sync.snapshot.100k              vs import.100k.baseline         (importSnapshot of the same passes at once)
 *   sync.snapshot.decision_gap_max.ms vs sync.idle.decision_gap_max.ms (the longest a PIN attempt due every
 *                                   5 ms waited for its decision while the 100k snapshot was staged and swapped
 *                                   in, against the same probe with nothing else running)
 *   sync.snapshot.replace.100k / .replace.decision_gap_max.ms        (the same passes again at the next seq:
 *                                   replacing a full cache, and removing the 100k swapped-out rows)
 *   sync.revoke_to_deny.p50         vs mqtt.round_trip.p50          (a signed revoke published -> the pass denied)
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { HmacHasher } from '../src/adapters/hasher.js';
import { MqttCloudLink } from '../src/adapters/mqtt/link.js';
import { generateKeyPair, signPayload } from '../src/adapters/mqtt/signature.js';
import { SqlitePassStore } from '../src/adapters/sqlite/store.js';
import { AccessControl } from '../src/app/access.js';
import { CloudAgent } from '../src/app/cloud.js';
import { importSnapshot } from '../src/app/import.js';
import { Journal } from '../src/app/journal.js';
import { systemClock } from '../src/app/relay.js';
import { PassSync } from '../src/app/sync.js';
import { EventUploader } from '../src/app/uploader.js';
import { Zone } from '../src/core/zone.js';
import { snapshotPartSchema, topics } from '../src/protocol/mqtt.js';
import { snapshotParts } from '../src/tools/cloud.js';
import type { Logger } from '../src/ports/io.js';
import { generateSnapshot } from './snapshot.js';
import { emit, log, nowNs, percentile } from './stats.js';
import { createPrivateKey, createPublicKey } from 'node:crypto';

const quiet: Logger = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  debug: () => undefined,
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

async function startMosquitto(dir: string): Promise<{ url: string; proc: ChildProcess }> {
  const port = await freePort();
  const conf = path.join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    `listener ${port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 1000000\nmax_inflight_messages 0\n`,
  );
  const proc = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.end();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) break;
    await sleep(25);
  }
  return { url: `mqtt://127.0.0.1:${port}`, proc };
}

export async function benchMqtt(): Promise<void> {
  if (spawnSync('mosquitto', ['-h'], { stdio: 'ignore' }).error) {
    log('mosquitto is not installed: skipping the MQTT figures');
    return;
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'doorpass-bench-mqtt-'));
  const broker = await startMosquitto(dir);
  try {
    const keys = generateKeyPair();
    const privateKey = createPrivateKey(keys.privatePem);
    const publicKey = createPublicKey(keys.publicPem);
    const T = topics('bench', 'door-1');
    const store = new SqlitePassStore(path.join(dir, 'd'));
    const hasher = new HmacHasher(Buffer.alloc(32, 5));
    const journal = new Journal(store, 'door-1', systemClock, quiet);

    // 1. Upload throughput: 20,000 events from the outbox, batches of 100, one batch in flight.
    const EVENTS = 20_000;
    store.atomically(() => {
      for (let i = 0; i < EVENTS; i++) journal.append({ type: 'door.exit', door: 'lobby' });
    });
    const sample = JSON.stringify(store.outboxPeek(1)[0]?.event ?? {});
    const raw = await mqtt.connectAsync(broker.url, { protocolVersion: 5, reconnectPeriod: 0 });
    const r0 = nowNs();
    await Promise.all(
      Array.from({ length: EVENTS }, () => raw.publishAsync('bench/raw', sample, { qos: 1 })),
    );
    const rawPerS = EVENTS / ((nowNs() - r0) / 1e9);
    const link = new MqttCloudLink(
      {
        url: broker.url,
        clientId: 'bench-door',
        keepaliveSeconds: 30,
        sessionExpirySeconds: 0,
        subscribe: [T.passes, T.snapshot, T.commands],
        will: { topic: T.status, payload: '{"online":false}' },
        publicKey,
      },
      systemClock,
      quiet,
    );
    const uploader = new EventUploader(store, link, journal, systemClock, quiet, {
      topic: T.events,
      batchSize: 100,
      maxOutbox: 1_000_000,
      keepUploaded: 0,
    });
    const connected = new Promise<void>((resolve) => link.onConnect(resolve));
    link.start();
    await connected;
    const u0 = nowNs();
    uploader.start();
    while (store.outboxDepth() > 0) await sleep(2);
    const uploadPerS = EVENTS / ((nowNs() - u0) / 1e9);
    uploader.stop();
    emit('mqtt.upload.events_per_second', uploadPerS, 'events/s', 'mqtt.raw_publish.per_second', rawPerS);

    // 2. A 100k-pass snapshot received in parts, against importing the same passes in one call.
    const now = Date.parse('2026-05-06T08:00:00Z');
    const generated = generateSnapshot(100_000, now, 7);
    const baseStore = new SqlitePassStore(path.join(dir, 'base'));
    const b0 = nowNs();
    importSnapshot(
      baseStore,
      hasher,
      { passes: generated.snapshot.passes, accessGroups: generated.snapshot.accessGroups },
      {
        policy: { maxValidityMs: 366 * 86_400_000 },
        now,
      },
    );
    const baseS = (nowNs() - b0) / 1e9;
    baseStore.close();
    const sync = new PassSync(
      store,
      hasher,
      () => ({ maxValidityMs: 366 * 86_400_000 }),
      systemClock,
      quiet,
      () => undefined,
    );
    const texts = snapshotParts({
      seq: 1,
      passes: generated.snapshot.passes,
      accessGroups: generated.snapshot.accessGroups,
    });
    // A PIN attempt due every 5 ms (as a console or keypad would deliver it): how long past its due time was
    // it decided? First with nothing else running, then while the parts arrive, one per turn of the event
    // loop (parsed as the cloud agent does), are staged and swapped in.
    const probeAccess = new AccessControl(store, hasher, new Zone('Europe/Berlin'), 'door-1', journal.ids);
    const gapProbe = (): { stop: () => Promise<number> } => {
      let running = true;
      let worst = 0;
      const loop = (async () => {
        while (running) {
          const due = performance.now() + 5;
          await sleep(5);
          probeAccess.attempt({ type: 'pin', value: '0000000', door: 'x', now });
          worst = Math.max(worst, performance.now() - due);
        }
      })();
      return {
        stop: async () => {
          running = false;
          await loop;
          return worst;
        },
      };
    };
    const idle = gapProbe();
    await sleep(3000);
    const idleGap = await idle.stop();
    const during = gapProbe();
    const s0 = nowNs();
    for (const text of texts) {
      sync.onSnapshotPart(snapshotPartSchema.parse(JSON.parse(text)));
      await new Promise((r) => setImmediate(r));
    }
    while (sync.seq !== 1) await new Promise((r) => setImmediate(r));
    const snapS = (nowNs() - s0) / 1e9;
    await sync.idle(); // the swapped-out tables removed too
    const snapshotGap = await during.stop();
    log(`snapshot: ${texts.length} parts; cleanup done after ${((nowNs() - s0) / 1e9).toFixed(1)} s`);
    emit('sync.snapshot.100k', snapS, 's', 'import.100k.baseline', baseS);
    emit('sync.snapshot.decision_gap_max.ms', snapshotGap, 'ms', 'sync.idle.decision_gap_max.ms', idleGap);
    // The same passes again at seq 2: every pass compared with a live one, then the 100k swapped-out rows
    // removed in small steps after the swap.
    const texts2 = snapshotParts({
      seq: 2,
      passes: generated.snapshot.passes,
      accessGroups: generated.snapshot.accessGroups,
    });
    const during2 = gapProbe();
    const q0 = nowNs();
    for (const text of texts2) {
      sync.onSnapshotPart(snapshotPartSchema.parse(JSON.parse(text)));
      await new Promise((r) => setImmediate(r));
    }
    // (a function: TypeScript narrowed sync.seq to 1 after the loop above)
    const seqNow = (): number => sync.seq;
    while (seqNow() !== 2) await new Promise((r) => setImmediate(r));
    const replaceS = (nowNs() - q0) / 1e9;
    await sync.idle();
    const replaceGap = await during2.stop();
    log(`replace: cleanup done after ${((nowNs() - q0) / 1e9).toFixed(1)} s`);
    emit('sync.snapshot.replace.100k', replaceS, 's', 'sync.snapshot.100k', snapS);
    emit(
      'sync.snapshot.replace.decision_gap_max.ms',
      replaceGap,
      'ms',
      'sync.idle.decision_gap_max.ms',
      idleGap,
    );

    // 3. Revoke to deny: a signed revoke published by the cloud, until the pass is denied at the door.
    const access = new AccessControl(store, hasher, new Zone('Europe/Berlin'), 'door-1', journal.ids);
    const agent = new CloudAgent(
      link,
      T,
      sync,
      store,
      new Map(),
      journal,
      systemClock,
      quiet,
      () => ({ online: true }),
      { device: 'door-1', requireBinding: true, maxMessageAgeMs: 24 * 3_600_000 },
    );
    agent.start();
    const cloud = await mqtt.connectAsync(broker.url, { protocolVersion: 5, reconnectPeriod: 0 });
    const probe = await mqtt.connectAsync(broker.url, { protocolVersion: 5, reconnectPeriod: 0 });
    await probe.subscribeAsync('bench/echo', { qos: 1 });
    const rtt: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t0 = nowNs();
      await new Promise<void>((resolve) => {
        probe.once('message', () => resolve());
        void cloud.publishAsync('bench/echo', 'x', { qos: 1 });
      });
      rtt.push(nowNs() - t0);
    }
    const latency: number[] = [];
    let seq = sync.seq;
    const ids = generated.snapshot.passes
      .map(
        (p) =>
          p as {
            id: string;
            revoked?: boolean;
            credentials: { type: 'pin' | 'qr' | 'card'; value: string }[];
          },
      )
      .filter((p) => p.revoked !== true && p.credentials.length > 0)
      .slice(0, 200);
    for (const p of ids) {
      const cred = p.credentials[0];
      if (cred === undefined) continue;
      const before = access.evaluate({ type: cred.type, value: cred.value, door: 'x', now });
      if (before.reason === 'revoked') continue;
      seq++;
      const payload = JSON.stringify({ seq, issuedAt: new Date().toISOString(), upsert: [], revoke: [p.id] });
      const t0 = nowNs();
      await cloud.publishAsync(T.passes, payload, {
        qos: 1,
        properties: { userProperties: { sig: signPayload(privateKey, Buffer.from(payload)) } },
      });
      while (access.evaluate({ type: cred.type, value: cred.value, door: 'x', now }).reason !== 'revoked') {
        await new Promise((r) => setImmediate(r));
      }
      latency.push(nowNs() - t0);
    }
    const sortedRtt = Float64Array.from(rtt).sort();
    const sortedLat = Float64Array.from(latency).sort();
    emit(
      'sync.revoke_to_deny.p50',
      percentile(sortedLat, 50) / 1e3,
      'us',
      'mqtt.round_trip.p50',
      percentile(sortedRtt, 50) / 1e3,
    );
    emit(
      'sync.revoke_to_deny.p99',
      percentile(sortedLat, 99) / 1e3,
      'us',
      'mqtt.round_trip.p99',
      percentile(sortedRtt, 99) / 1e3,
    );
    agent.stop();
    await raw.endAsync();
    await cloud.endAsync();
    await probe.endAsync();
    await link.stop();
    store.close();
  } finally {
    broker.proc.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}
