/**
 * `doorpass cloud …`: a stand-in for the property's cloud, for tests, demos and small sites. It keeps the
 * site's pass state and seq in a JSON state file, signs everything it sends with the cloud's Ed25519
 * private key, and speaks the contract of docs/mqtt.md (doorpass/v1 minor 1: every message says when it was
 * issued, snapshot parts and commands which device they are for) against any broker.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { generateKeyPair, loadPrivateKey, signPayload } from '../adapters/mqtt/signature.js';
import { MAX_SNAPSHOT_PART_BYTES, SIGNATURE_PROPERTY, topics } from '../protocol/mqtt.js';

export interface CloudConnection {
  readonly url: string;
  readonly site: string;
  readonly keyFile: string;
  readonly stateFile: string;
  readonly caFile?: string;
  readonly certFile?: string;
  readonly clientKeyFile?: string;
  readonly username?: string;
  readonly passwordFile?: string;
}

interface CloudState {
  seq: number;
  passes: Record<string, Record<string, unknown>>;
  accessGroups: Record<string, Record<string, unknown>>;
}

export function keygen(dir: string): { privateFile: string; publicFile: string } {
  mkdirSync(dir, { recursive: true });
  const { publicPem, privatePem } = generateKeyPair();
  const privateFile = path.join(dir, 'cloud.key.pem');
  const publicFile = path.join(dir, 'cloud.pub.pem');
  writeFileSync(privateFile, privatePem, { mode: 0o600 });
  writeFileSync(publicFile, publicPem, { mode: 0o644 });
  return { privateFile, publicFile };
}

function loadState(file: string): CloudState {
  if (!existsSync(file)) return { seq: 0, passes: {}, accessGroups: {} };
  return JSON.parse(readFileSync(file, 'utf8')) as CloudState;
}

function saveState(file: string, state: CloudState): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(state));
  renameSync(tmp, file); // atomic: a crash never leaves half a state file
}

export async function connect(
  c: CloudConnection,
  clientId = `doorpass-cloud-${randomUUID().slice(0, 8)}`,
): Promise<MqttClient> {
  const read = (f: string | undefined): Buffer | undefined => (f === undefined ? undefined : readFileSync(f));
  const opts: IClientOptions = {
    clientId,
    protocolVersion: 5,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    ...(c.username !== undefined && { username: c.username }),
    ...(c.passwordFile !== undefined && { password: readFileSync(c.passwordFile, 'utf8').trimEnd() }),
    ...(c.caFile !== undefined && { ca: read(c.caFile) }),
    ...(c.certFile !== undefined && { cert: read(c.certFile) }),
    ...(c.clientKeyFile !== undefined && { key: read(c.clientKeyFile) }),
  };
  const client = mqtt.connect(c.url, opts);
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', (e) => reject(new Error(`cannot connect to ${c.url}: ${e.message}`)));
    client.once('close', () => reject(new Error(`cannot connect to ${c.url}`)));
  });
  return client;
}

/** Publishes a payload signed with the cloud key (QoS 1; resolves on PUBACK). */
export function publishSigned(
  client: MqttClient,
  keyFile: string,
  topic: string,
  payload: string,
): Promise<void> {
  const bytes = Buffer.from(payload, 'utf8');
  const sig = signPayload(loadPrivateKey(keyFile), bytes);
  return new Promise((resolve, reject) => {
    client.publish(
      topic,
      bytes,
      { qos: 1, properties: { userProperties: { [SIGNATURE_PROPERTY]: sig } } },
      (err) => (err ? reject(err) : resolve()),
    );
  });
}

function end(client: MqttClient): Promise<void> {
  return new Promise((resolve) => client.end(false, {}, () => resolve()));
}

/**
 * Publishes a file: a delta ({upsert, revoke, accessGroups}) or a snapshot-shaped document ({passes,
 * accessGroups}) sent as a delta that upserts them, with the next seq. Returns the seq used.
 */
export async function publishFile(c: CloudConnection, file: string): Promise<number> {
  const doc = JSON.parse(readFileSync(file, 'utf8')) as {
    upsert?: Record<string, unknown>[];
    passes?: Record<string, unknown>[];
    revoke?: string[];
    accessGroups?: Record<string, unknown>[];
  };
  return publishDelta(c, {
    upsert: doc.upsert ?? doc.passes ?? [],
    revoke: doc.revoke ?? [],
    accessGroups: doc.accessGroups,
  });
}

export async function publishDelta(
  c: CloudConnection,
  change: {
    upsert: Record<string, unknown>[];
    revoke: string[];
    accessGroups?: Record<string, unknown>[] | undefined;
  },
): Promise<number> {
  const state = loadState(c.stateFile);
  const seq = state.seq + 1;
  const payload = JSON.stringify({
    seq,
    issuedAt: new Date().toISOString(),
    upsert: change.upsert,
    revoke: change.revoke,
    ...(change.accessGroups !== undefined && { accessGroups: change.accessGroups }),
  });
  const client = await connect(c);
  try {
    await publishSigned(client, c.keyFile, topics(c.site, '_').passes, payload);
  } finally {
    await end(client);
  }
  for (const p of change.upsert) if (typeof p.id === 'string') state.passes[p.id] = p;
  for (const id of change.revoke) {
    const p = state.passes[id];
    if (p) state.passes[id] = { ...p, revoked: true, version: Number(p.version ?? 0) + 1 };
  }
  for (const g of change.accessGroups ?? []) if (typeof g.id === 'string') state.accessGroups[g.id] = g;
  state.seq = seq;
  saveState(c.stateFile, state);
  return seq;
}

/**
 * Splits the full state into snapshot parts of at most 256 KiB each (docs/mqtt.md). With `binding`, every
 * part names the device it is for and when it was issued (contract doorpass/v1 minor 1); the stand-in always
 * passes it, benches and tests that feed PassSync directly may leave it out.
 */
export function snapshotParts(
  state: { seq: number; passes: unknown[]; accessGroups: unknown[] },
  binding?: { device: string; issuedAt: string },
): string[] {
  const chunks: unknown[][] = [];
  let current: unknown[] = [];
  let size = 0;
  const budget = MAX_SNAPSHOT_PART_BYTES - 64 * 1024; // room for the envelope and the access groups
  for (const p of state.passes) {
    const n = Buffer.byteLength(JSON.stringify(p)) + 1;
    if (size + n > budget && current.length > 0) {
      chunks.push(current);
      current = [];
      size = 0;
    }
    current.push(p);
    size += n;
  }
  chunks.push(current);
  return chunks.map((passes, i) =>
    JSON.stringify({
      seq: state.seq,
      ...(binding !== undefined && { device: binding.device, issuedAt: binding.issuedAt }),
      part: i + 1,
      parts: chunks.length,
      passes,
      accessGroups: i === 0 ? state.accessGroups : [],
    }),
  );
}

export async function sendSnapshot(c: CloudConnection, device: string, client?: MqttClient): Promise<number> {
  const state = loadState(c.stateFile);
  const parts = snapshotParts(
    {
      seq: state.seq,
      passes: Object.values(state.passes),
      accessGroups: Object.values(state.accessGroups),
    },
    { device, issuedAt: new Date().toISOString() },
  );
  const own = client ?? (await connect(c));
  try {
    for (const p of parts) await publishSigned(own, c.keyFile, topics(c.site, device).snapshot, p);
  } finally {
    if (client === undefined) await end(own);
  }
  return parts.length;
}

export async function sendCommand(
  c: CloudConnection,
  device: string,
  command: { type: 'unlock' | 'resync' | 'ping'; door?: string; expiresInMs: number; id?: string },
  timeoutMs = 10_000,
): Promise<{ id: string; ok: boolean; error?: string }> {
  const t = topics(c.site, device);
  const id = command.id ?? randomUUID();
  const client = await connect(c);
  try {
    const result = new Promise<{ id: string; ok: boolean; error?: string }>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no result from ${device} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      client.on('message', (_topic, payload) => {
        const r = JSON.parse(payload.toString()) as { id: string; ok: boolean; error?: string };
        if (r.id === id) {
          clearTimeout(timer);
          resolve(r);
        }
      });
    });
    await new Promise<void>((resolve, reject) =>
      client.subscribe(t.commandResult, { qos: 1 }, (e) => (e ? reject(e) : resolve())),
    );
    const payload = JSON.stringify({
      id,
      device,
      issuedAt: new Date().toISOString(),
      type: command.type,
      ...(command.door !== undefined && { door: command.door }),
      expires: new Date(Date.now() + command.expiresInMs).toISOString(),
    });
    await publishSigned(client, c.keyFile, t.commands, payload);
    return await result;
  } finally {
    await end(client);
  }
}

/**
 * Prints every event batch, status, command result and sync request of the site as JSON lines; with
 * `serve`, answers each sync request with a snapshot of the state file. Runs until the signal aborts.
 */
export async function watch(
  c: CloudConnection,
  options: { serve: boolean; print: (line: string) => void; signal: AbortSignal },
): Promise<void> {
  const client = await connect(c);
  const base = `doorpass/v1/${c.site}/devices/+`;
  await new Promise<void>((resolve, reject) =>
    client.subscribe(
      {
        [`${base}/events`]: { qos: 1 },
        [`${base}/status`]: { qos: 1 },
        [`${base}/commands/result`]: { qos: 1 },
        [`${base}/sync/request`]: { qos: 1 },
      },
      (e) => (e ? reject(e) : resolve()),
    ),
  );
  client.on('message', (topic, payload) => {
    const parts = topic.split('/');
    const device = parts[4] ?? '';
    const kind = parts.slice(5).join('/');
    let body: unknown;
    try {
      body = JSON.parse(payload.toString());
    } catch {
      body = payload.toString();
    }
    options.print(JSON.stringify({ device, kind, payload: body }));
    // A stand-in that has published nothing yet has no state to offer: an empty snapshot would wipe passes
    // the door holds (e.g. imported locally).
    if (options.serve && kind === 'sync/request' && loadState(c.stateFile).seq > 0) {
      sendSnapshot(c, device, client).catch((e: unknown) =>
        options.print(JSON.stringify({ device, kind: 'error', payload: (e as Error).message })),
      );
    }
  });
  await new Promise<void>((resolve) =>
    options.signal.addEventListener('abort', () => resolve(), { once: true }),
  );
  await end(client);
}
