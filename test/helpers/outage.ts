/**
 * A broker outage, in-process, with the real parts: the site's SQLite store (openSite), AccessControl and
 * Journal sharing one id factory, the EventUploader and the MQTT link, and a real Mosquitto that is down
 * while the attempts are made. Used by test/integration/outbox-outage.test.ts and by `npm run soak`.
 *
 * 1. A Mosquitto starts, a persistent subscriber subscribes to the events topic, the broker stops (SIGTERM:
 *    the subscription and its queue are kept).
 * 2. `events` access attempts (a simulated day: `now` spread over 24 h; grants, unknown credentials, a
 *    revoked pass, a single-use pass) go through AccessControl.attempt. To compress a day into seconds they
 *    are committed `txBatch` to a transaction (each attempt is its own savepoint: decision, use count,
 *    event). Memory (heapUsed after a full GC, RSS) is sampled `samples` times.
 * 3. The outbox bound is applied (EventUploader.trim, as its 2 s timer does), the broker restarts, and the
 *    outbox drains; the time from the link's connect to an empty outbox gives the drain rate.
 * 4. What the subscriber received is checked against what was generated without keeping 100k ids in memory:
 *    ULIDs from one factory strictly increase, so a SHA-256 over the ids in generation order, and one over
 *    the ids first seen on the wire, are equal exactly when the same events arrived in the same order.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { MqttCloudLink } from '../../src/adapters/mqtt/link.js';
import { loadPublicKey } from '../../src/adapters/mqtt/signature.js';
import { AccessControl, type AccessAttempt } from '../../src/app/access.js';
import { openSite } from '../../src/app/compose.js';
import { loadConfig } from '../../src/app/config.js';
import { importSnapshot } from '../../src/app/import.js';
import { Journal } from '../../src/app/journal.js';
import { systemClock } from '../../src/app/relay.js';
import { EventUploader } from '../../src/app/uploader.js';
import type { Logger } from '../../src/ports/io.js';
import { topics } from '../../src/protocol/mqtt.js';
import { keygen } from '../../src/tools/cloud.js';
import { collect, startBroker } from './mosquitto.js';

const MIB = 1024 * 1024;
const DAY = 86_400_000;
const SITE = 'tower-a';
const DEVICE = 'panel-west';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

export interface OutageOptions {
  /** Access attempts made while the broker is down. */
  readonly events: number;
  /** outbox.maxEvents. */
  readonly maxOutbox: number;
  /** outbox.batchSize (default 100, the config default). */
  readonly batchSize?: number;
  /** Attempts per transaction while generating (default 500). */
  readonly txBatch?: number;
  /** Memory samples while generating (default 20). */
  readonly samples?: number;
  readonly progress?: (message: string) => void;
}

export interface MemorySample {
  /** Attempts made when sampled. */
  readonly at: number;
  readonly heapMiB: number;
  readonly rssMiB: number;
}

export interface OutageResult {
  readonly generated: number;
  readonly grants: number;
  readonly denials: number;
  /** Generated ids strictly increasing (one factory, in order). */
  readonly idsIncreasing: boolean;
  readonly memory: readonly MemorySample[];
  /** Outbox depth when the broker came back (after the bound was applied). */
  readonly depthBeforeDrain: number;
  /** Events dropped by the bound (the uploader's counter). */
  readonly dropped: number;
  readonly drain: { readonly events: number; readonly ms: number; readonly perSecond: number };
  readonly memoryAfterDrain: MemorySample;
  readonly wire: {
    /** Messages (batches) and events received, duplicates included. */
    readonly messages: number;
    readonly events: number;
    readonly duplicates: number;
    /** Access events, first sighting of each id. */
    readonly accessEvents: number;
    /** First-seen ids strictly increasing: the order of the journal. */
    readonly inOrder: boolean;
    /** Sum of `count` over the device.outbox_dropped events received. */
    readonly droppedReported: number;
    readonly droppedEvents: number;
    /** The access ids on the wire are exactly the newest `accessEvents` generated, in order. */
    readonly matchesNewest: boolean;
    readonly lastIdMatches: boolean;
  };
}

export function rssMiB(): number {
  return process.memoryUsage().rss / MIB;
}

/** heapUsed and RSS after a full garbage collection. */
export function sampleMemory(at: number): MemorySample {
  gc();
  gc();
  const m = process.memoryUsage();
  return { at, heapMiB: m.heapUsed / MIB, rssMiB: m.rss / MIB };
}

const quiet: Logger = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  debug: () => undefined,
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, what: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(5);
  }
}

export async function runOutage(options: OutageOptions): Promise<OutageResult> {
  const { events: total, maxOutbox, batchSize = 100, txBatch = 500, samples = 20 } = options;
  const progress = options.progress ?? (() => undefined);
  const dir = mkdtempSync(path.join(tmpdir(), 'doorpass-outage-'));
  const broker = await startBroker();
  const T = topics(SITE, DEVICE);
  const cleanup: (() => Promise<void> | void)[] = [
    () => broker.close(),
    () => rmSync(dir, { recursive: true, force: true }),
  ];
  try {
    const keys = keygen(path.join(dir, 'keys'));
    const configFile = path.join(dir, 'doorpass.yaml');
    writeFileSync(
      configFile,
      `site: { id: ${SITE}, timezone: Europe/Berlin, maxPassDays: 366 }
device: { id: ${DEVICE} }
storage: { dir: ${JSON.stringify(path.join(dir, 'state'))} }
doors: [ { id: lobby, relay: { type: log } }, { id: garage, relay: { type: log } } ]
inputs: []
outbox: { maxEvents: ${maxOutbox}, batchSize: ${batchSize}, keepUploaded: 0 }
mqtt: { url: ${JSON.stringify(broker.url)} }
cloud: { publicKeyFile: ${JSON.stringify(keys.publicFile)} }
`,
    );
    const loaded = loadConfig(configFile);
    const { config } = loaded;
    const subscriber = await collect(broker.url, T.events, { persistent: true });
    cleanup.unshift(() => subscriber.close());
    await broker.stop();

    const site = openSite(loaded);
    cleanup.unshift(() => site.close());
    const dayStart = Date.now() - DAY;
    const pin = (id: string, value: string, extra: Record<string, unknown> = {}) => ({
      id,
      version: 1,
      kind: 'visitor',
      name: id,
      issuer: { id: 'res-1', name: 'Dana' },
      credentials: [{ type: 'pin', value }],
      doors: '*',
      validFrom: new Date(dayStart - DAY).toISOString(),
      validUntil: new Date(dayStart + 2 * DAY).toISOString(),
      repeat: { mode: 'never' },
      ...extra,
    });
    const report = importSnapshot(
      site.store,
      site.hasher,
      {
        passes: [
          pin('resident', '123456'),
          pin('cleaner', '246810', { doors: ['garage'] }),
          pin('once', '111111', { maxUses: 1 }),
          pin('gone', '999999', { revoked: true }),
        ],
        accessGroups: [],
      },
      { policy: { maxValidityMs: 366 * DAY }, now: dayStart },
    );
    if (report.rejected.length > 0) throw new Error(`passes rejected: ${JSON.stringify(report.rejected)}`);

    const journal = new Journal(site.store, DEVICE, systemClock, quiet);
    const access = new AccessControl(site.store, site.hasher, site.zone, DEVICE, journal.ids);
    const link = new MqttCloudLink(
      {
        url: broker.url,
        clientId: `doorpass-${SITE}-${DEVICE}`,
        keepaliveSeconds: config.mqtt?.keepaliveSeconds ?? 30,
        sessionExpirySeconds: config.mqtt?.sessionExpirySeconds ?? 86_400,
        subscribe: [T.passes, T.snapshot, T.commands],
        will: { topic: T.status, payload: '{"online":false}' },
        publicKey: loadPublicKey(keys.publicFile),
        reconnectMinMs: 50,
        reconnectMaxMs: 200,
      },
      systemClock,
      quiet,
    );
    const uploader = new EventUploader(site.store, link, journal, systemClock, quiet, {
      topic: T.events,
      batchSize: config.outbox.batchSize,
      maxOutbox: config.outbox.maxEvents,
      keepUploaded: config.outbox.keepUploaded,
    });
    journal.onAppend = () => uploader.kick();
    let connectedAt = 0;
    link.onConnect(() => (connectedAt = Date.now()));
    uploader.start();
    link.start();
    cleanup.unshift(async () => {
      uploader.stop();
      await link.stop();
    });

    // ---- the outage: a day of attempts, the broker down ----------------------------------------------
    const creds: readonly (Pick<AccessAttempt, 'type' | 'value' | 'door'> & { weight: number })[] = [
      { type: 'pin', value: '123456', door: 'lobby', weight: 50 },
      { type: 'pin', value: '246810', door: 'garage', weight: 15 },
      { type: 'pin', value: '246810', door: 'lobby', weight: 5 }, // wrong door
      { type: 'pin', value: '111111', door: 'lobby', weight: 5 }, // single use: once granted
      { type: 'pin', value: '999999', door: 'lobby', weight: 5 }, // revoked
      { type: 'pin', value: '000000', door: 'lobby', weight: 10 }, // unknown
      { type: 'card', value: '4242', door: 'garage', weight: 5 },
      { type: 'qr', value: 'not-a-pass', door: 'lobby', weight: 5 },
    ];
    const wheel = creds.flatMap((c) => Array.from({ length: c.weight }, () => c));
    const allIds = createHash('sha256');
    // The newest ids, only when the bound will drop some (to name the ones that must arrive). Filled up front
    // so that it does not show up as growth in the memory samples.
    const ring: string[] = new Array<string>(maxOutbox < total ? maxOutbox : 0).fill(''.padEnd(26, '0'));
    let lastId = '';
    let idsIncreasing = true;
    let grants = 0;
    const memory: MemorySample[] = [];
    const every = Math.max(txBatch, Math.floor(total / samples));
    let i = 0;
    while (i < total) {
      const end = Math.min(total, i + txBatch);
      site.store.atomically(() => {
        for (; i < end; i++) {
          const c = wheel[(i * 7919) % wheel.length] as (typeof wheel)[number];
          const out = access.attempt({
            type: c.type,
            value: c.value,
            door: c.door,
            now: dayStart + Math.floor((i * DAY) / total),
            source: 'outage',
          });
          if (out.decision.granted) grants++;
          const id = out.event?.id ?? '';
          if (id <= lastId) idsIncreasing = false;
          lastId = id;
          allIds.update(id);
          if (ring.length > 0) ring[i % ring.length] = id;
        }
      });
      if (i % every === 0 || i === total) {
        memory.push(sampleMemory(i));
        progress(`${i} attempts, outbox ${site.store.outboxDepth()}`);
      }
      // Let the uploader's timers (trim, reconnect attempts) run, as they would in the daemon.
      await new Promise((r) => setImmediate(r));
    }
    uploader.trim();
    const depthBeforeDrain = site.store.outboxDepth();
    progress(`outbox ${depthBeforeDrain} before the broker returns; ${uploader.counters.dropped} dropped`);

    // ---- the broker returns: drain ------------------------------------------------------------------
    await broker.restart();
    await until(() => connectedAt > 0, 'the link to reconnect', 30_000);
    await until(() => site.store.outboxDepth() === 0, 'the outbox to drain', 300_000);
    const drainedAt = Date.now();
    const drainMs = Math.max(1, drainedAt - connectedAt);
    const memoryAfterDrain = sampleMemory(total);
    progress(`drained ${depthBeforeDrain} events in ${drainMs} ms`);

    // ---- what arrived ---------------------------------------------------------------------------------
    let counted = 0;
    let onWire = 0;
    const eventsOnWire = (): number => {
      for (const m of subscriber.messages.slice(counted))
        onWire += (JSON.parse(m.payload.toString()) as { events: unknown[] }).events.length;
      counted = subscriber.messages.length;
      return onWire;
    };
    await until(() => eventsOnWire() >= depthBeforeDrain, 'the subscriber to receive the drain', 60_000);
    const seen = new Set<string>();
    let wireEvents = 0;
    let accessEvents = 0;
    let inOrder = true;
    let lastAccess = '';
    let droppedReported = 0;
    let droppedEvents = 0;
    const wireIds: string[] = [];
    for (const m of subscriber.messages) {
      const batch = JSON.parse(m.payload.toString()) as {
        events: { id: string; type: string; count?: number }[];
      };
      for (const e of batch.events) {
        wireEvents++;
        if (seen.has(e.id)) continue;
        seen.add(e.id);
        if (e.type === 'device.outbox_dropped') {
          droppedEvents++;
          droppedReported += e.count ?? 0;
        } else if (e.type.startsWith('access.')) {
          accessEvents++;
          if (e.id <= lastAccess) inOrder = false;
          lastAccess = e.id;
          wireIds.push(e.id);
        }
      }
    }
    // The newest `accessEvents` generated ids, oldest first, from the ring (or all of them).
    let matchesNewest: boolean;
    if (accessEvents === total) {
      const wireHash = createHash('sha256');
      for (const id of wireIds) wireHash.update(id);
      matchesNewest = wireHash.digest('hex') === allIds.digest('hex');
    } else if (accessEvents <= ring.length && ring.length > 0) {
      const newest: string[] = [];
      for (let k = total - accessEvents; k < total; k++) newest.push(ring[k % ring.length] ?? '');
      matchesNewest = newest.every((id, k) => id === wireIds[k]);
    } else {
      matchesNewest = false;
    }
    return {
      generated: total,
      grants,
      denials: total - grants,
      idsIncreasing,
      memory,
      depthBeforeDrain,
      dropped: uploader.counters.dropped,
      drain: { events: depthBeforeDrain, ms: drainMs, perSecond: (depthBeforeDrain * 1000) / drainMs },
      memoryAfterDrain,
      wire: {
        messages: subscriber.messages.length,
        events: wireEvents,
        duplicates: wireEvents - seen.size,
        accessEvents,
        inOrder,
        droppedReported,
        droppedEvents,
        matchesNewest,
        lastIdMatches: lastAccess === lastId,
      },
    };
  } finally {
    for (const c of cleanup) {
      try {
        await c();
      } catch {
        // keep cleaning up
      }
    }
  }
}

/** Mean of a field over the first and the second half of the samples (the first sample is warm-up). */
export function halves(samples: readonly MemorySample[], field: 'heapMiB' | 'rssMiB'): [number, number] {
  const s = samples.slice(1);
  const mid = Math.floor(s.length / 2);
  const mean = (a: readonly MemorySample[]): number => a.reduce((x, m) => x + m[field], 0) / a.length;
  return [mean(s.slice(0, mid)), mean(s.slice(mid))];
}
