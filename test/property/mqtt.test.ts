/**
 * Hostile MQTT payloads through the real handlers: CloudAgent.onMessage (zod schemas of src/protocol/mqtt.ts,
 * PassSync, import, pass compilation) over a real SQLite store in a temp dir. A message reaches these
 * handlers only once its Ed25519 signature checked out, so this is what a cloud with a leaked key, or a
 * buggy cloud, can send: random bytes, mutated valid messages, deep JSON, huge strings, prototype keys.
 * Properties: nothing throws out of onMessage, every refused message is counted, Object.prototype is never
 * touched, and the store keeps serving (a valid delta afterwards still applies and its PIN opens).
 */
import t, { type Test } from 'tap';
import fc from 'fast-check';
import path from 'node:path';
import { AccessControl } from '../../src/app/access.js';
import { CloudAgent } from '../../src/app/cloud.js';
import { DoorController } from '../../src/app/door-controller.js';
import { Journal } from '../../src/app/journal.js';
import { RelayPulse } from '../../src/app/relay.js';
import { PassSync } from '../../src/app/sync.js';
import { HmacHasher } from '../../src/adapters/hasher.js';
import { generateKeyPair, signPayload, verifySignature } from '../../src/adapters/mqtt/signature.js';
import { SqlitePassStore } from '../../src/adapters/sqlite/store.js';
import { Zone } from '../../src/core/zone.js';
import { topics } from '../../src/protocol/mqtt.js';
import type { CloudLink } from '../../src/ports/cloud.js';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { FakeClock, RecordingLine, recordingLogger } from '../helpers/fakes.js';
import { MID_2026, pass, tempSite } from '../helpers/fixtures.js';

const T = topics('tower-a', 'panel-west');

/** The app side of the link: delivers what the test gives it, as a verified message. */
class DirectLink implements CloudLink {
  connected = true;
  published: { topic: string; payload: string }[] = [];
  private listeners: ((topic: string, payload: string) => void)[] = [];
  publish(topic: string, payload: string): Promise<void> {
    this.published.push({ topic, payload });
    return Promise.resolve();
  }
  onConnect(): void {}
  onMessage(l: (topic: string, payload: string) => void): void {
    this.listeners.push(l);
  }
  deliver(topic: string, payload: string): void {
    for (const l of this.listeners) l(topic, payload);
  }
}

function rig(t: Test) {
  const site = tempSite();
  const store = new SqlitePassStore(path.join(site.dir, 'd.db'));
  t.teardown(() => {
    store.close();
    site.cleanup();
  });
  const clock = new FakeClock(MID_2026);
  const log = recordingLogger();
  const hasher = new HmacHasher(Buffer.alloc(32, 9));
  const journal = new Journal(store, 'panel-west', clock, log);
  const access = new AccessControl(store, hasher, new Zone('America/New_York'), 'panel-west', journal.ids);
  const link = new DirectLink();
  const door = new DoorController(
    'lobby',
    new RelayPulse(new RecordingLine(), clock),
    { pulseMs: 3000, heldOpenMs: 30_000, graceMs: 2000 },
    clock,
    journal,
    log,
  );
  const sync = new PassSync(
    store,
    hasher,
    () => ({ maxValidityMs: 366 * 86_400_000 }),
    clock,
    log,
    () => undefined,
  );
  // requireBinding false: the hostile payloads below lack issuedAt/device and are about what lies beyond
  // the binding check; the valid messages carry the fields, so their mutations exercise the check itself.
  const agent = new CloudAgent(
    link,
    T,
    sync,
    store,
    new Map([['lobby', door]]),
    journal,
    clock,
    log,
    () => ({ online: true }),
    { device: 'panel-west', requireBinding: false, maxMessageAgeMs: 24 * 3_600_000 },
  );
  agent.start();
  const check = (pin: string) =>
    access.evaluate({ type: 'pin', value: pin, door: 'lobby', now: clock.now() });
  /** Delivers one message; false when anything escaped onMessage or touched Object.prototype. */
  const deliver = (topic: string, payload: string): boolean => {
    try {
      link.deliver(topic, payload);
    } catch {
      return false;
    }
    return pristine();
  };
  /** The daemon still serves: a valid next delta applies and its PIN is granted. */
  const stillServes = (n: number): boolean => {
    const pin = String(700_000 + n);
    link.deliver(
      T.passes,
      JSON.stringify({
        seq: sync.seq + 1,
        issuedAt: new Date(clock.now()).toISOString(),
        upsert: [pass({ id: `serve-${n}`, version: 1, credentials: [{ type: 'pin', value: pin }] })],
      }),
    );
    return check(pin).granted;
  };
  const rejectedTotal = (): number => Object.values(agent.rejected).reduce((a, b) => a + (b ?? 0), 0);
  return { store, clock, log, link, sync, agent, check, deliver, stillServes, rejectedTotal };
}

const pristine = (): boolean =>
  Object.keys(Object.prototype).length === 0 &&
  !('polluted' in {}) &&
  !('revoked' in {}) &&
  !('isAdmin' in {});

/** When the valid messages were issued: the rig's clock (a second value of commands is months old). */
const ISSUED = new Date(MID_2026).toISOString();

const cloudTopic = fc.constantFrom(T.passes, T.snapshot, T.commands);

/** Valid messages of each topic, as the cloud would send them. */
const validMessage = fc.oneof(
  fc.record({
    topic: fc.constant(T.passes),
    body: fc.record({
      seq: fc.integer({ min: 1, max: 50 }),
      issuedAt: fc.constant(ISSUED),
      upsert: fc.array(
        fc
          .record({ id: fc.string({ minLength: 1, maxLength: 8 }), pin: fc.stringMatching(/^\d{4,12}$/) })
          .map(({ id, pin }) => pass({ id, credentials: [{ type: 'pin', value: pin }] })),
        { maxLength: 3 },
      ),
      revoke: fc.array(fc.string({ minLength: 1, maxLength: 8 }), { maxLength: 3 }),
    }),
  }),
  fc.record({
    topic: fc.constant(T.snapshot),
    body: fc.integer({ min: 1, max: 3 }).chain((parts) =>
      fc.record({
        seq: fc.integer({ min: 0, max: 50 }),
        device: fc.constantFrom('panel-west', 'panel-east'),
        issuedAt: fc.constant(ISSUED),
        part: fc.integer({ min: 1, max: parts }),
        parts: fc.constant(parts),
        passes: fc.array(fc.constant(pass({ id: 'snap' })), { maxLength: 2 }),
        accessGroups: fc.constant([]),
      }),
    ),
  }),
  fc.record({
    topic: fc.constant(T.commands),
    body: fc.record({
      id: fc.string({ minLength: 1, maxLength: 16 }),
      device: fc.constantFrom('panel-west', 'panel-east'),
      issuedAt: fc.constantFrom(ISSUED, '2026-01-01T00:00:00Z'),
      type: fc.constantFrom('unlock', 'resync', 'ping'),
      door: fc.constantFrom('lobby', 'garage', 'x'),
      expires: fc.constantFrom('2030-01-01T00:00:00Z', '2020-01-01T00:00:00Z'),
    }),
  }),
);

const textMutation = fc.oneof(
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), ch: fc.string({ minLength: 1, maxLength: 1 }) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), s: fc.string({ maxLength: 8 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('duplicate' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 40 }) }),
  fc.record({
    op: fc.constant('key' as const),
    key: fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf'),
  }),
);
type TextMutation = typeof textMutation extends fc.Arbitrary<infer M> ? M : never;

function mutateText(text: string, mutations: readonly TextMutation[]): string {
  let s = text;
  for (const m of mutations) {
    const at = s.length === 0 ? 0 : ('at' in m ? m.at : 0) % s.length;
    switch (m.op) {
      case 'set':
        s = s.slice(0, at) + m.ch + s.slice(at + 1);
        break;
      case 'insert':
        s = s.slice(0, at) + m.s + s.slice(at);
        break;
      case 'delete':
        s = s.slice(0, at) + s.slice(at + m.n);
        break;
      case 'truncate':
        s = s.slice(0, at);
        break;
      case 'duplicate':
        s = s.slice(0, at + m.n) + s.slice(at);
        break;
      case 'key':
        // Rename the first key of an object to a prototype-pollution key.
        s = s.replace(/\{"[^"]*"/, `{"${m.key}"`);
        break;
    }
  }
  return s;
}

t.test('property: random payloads on the cloud topics never throw and are counted', (t) => {
  const r = rig(t);
  const payload = fc.oneof(
    fc.string({ maxLength: 300 }),
    fc.string({ unit: 'binary', maxLength: 300 }),
    fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('utf8')),
    fc.json({ maxDepth: 6 }),
    fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify({ seq: 1, upsert: [v], revoke: [v] })),
    fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify({ ...pass(), credentials: v })),
  );
  let count = 0;
  fc.assert(
    fc.property(cloudTopic, payload, (topic, p) => {
      count++;
      return r.deliver(topic, p);
    }),
    { numRuns: 3000 },
  );
  t.ok(r.rejectedTotal() > count / 2, `most of the ${count} messages were refused and counted`);
  t.ok(r.stillServes(1), 'a valid delta afterwards applies and its PIN opens');
  t.end();
});

t.test('property: mutated valid messages never throw; the store keeps serving', (t) => {
  const r = rig(t);
  fc.assert(
    fc.property(validMessage, fc.array(textMutation, { maxLength: 4 }), ({ topic, body }, mutations) =>
      r.deliver(topic, mutateText(JSON.stringify(body), mutations)),
    ),
    { numRuns: 3000 },
  );
  t.ok(r.stillServes(2), 'a valid delta afterwards applies and its PIN opens');
  t.end();
});

t.test('deep JSON, huge strings and prototype keys on every topic', (t) => {
  const r = rig(t);
  const deep = (n: number): string => '['.repeat(n) + ']'.repeat(n);
  const deepObj = (n: number): string => '{"a":'.repeat(n) + '1' + '}'.repeat(n);
  const huge = 'x'.repeat(4 * 1024 * 1024);
  const payloads = [
    deep(100_000),
    deepObj(100_000),
    `{"seq":1,"upsert":[${deep(100_000)}]}`,
    `{"seq":1,"upsert":[],"revoke":[${deep(50_000)}]}`,
    `{"seq":1,"upsert":[],"accessGroups":[${deepObj(50_000)}]}`,
    `{"seq":1,"upsert":[${JSON.stringify(pass()).slice(0, -1)},"extra":${deep(100_000)}}]}`,
    `{"seq":1,"part":1,"parts":1,"passes":[${deep(100_000)}]}`,
    `{"seq":1,"part":1,"parts":1,"passes":[${JSON.stringify(pass({ id: 'snap-deep' })).slice(0, -1)},"x":${deepObj(20_000)}}]}`,
    `{"id":"c1","type":"ping","expires":"2030-01-01T00:00:00Z","x":${deep(100_000)}}`,
    JSON.stringify({ seq: 1, upsert: [pass({ name: huge })] }),
    JSON.stringify({ seq: 1, upsert: [pass({ id: huge })] }),
    JSON.stringify({ seq: 1, revoke: [huge] }),
    JSON.stringify({ id: huge, type: 'ping', expires: '2030-01-01T00:00:00Z' }),
    JSON.stringify({ seq: 1, part: 1, parts: 1, passes: [huge] }),
    huge,
    `"${huge}"`,
    JSON.stringify({ seq: 1, upsert: Array.from({ length: 10_001 }, () => 1) }),
    JSON.stringify({
      seq: 1,
      upsert: Array.from({ length: 5000 }, (_, i) => pass({ id: `bad-${i}`, kind: 'x' })),
    }),
    JSON.stringify({ seq: 2 ** 60, upsert: [] }),
    JSON.stringify({ seq: -1, upsert: [] }),
    '{"seq":1e400,"upsert":[]}',
    '',
    'null',
    '\u0000',
    '\uFEFF{"seq":1}',
  ];
  for (const [i, p] of payloads.entries())
    for (const topic of [T.passes, T.snapshot, T.commands])
      t.ok(r.deliver(topic, p), `payload ${i} on ${topic.split('/').slice(-1)[0]}: no throw`);

  // Prototype-pollution keys: ignored (stripped by the schemas), never merged into Object.prototype.
  const proto = pass({ id: 'proto', credentials: [{ type: 'pin', value: '5151' }] });
  const polluting = [
    `{"seq":${r.sync.seq + 1},"upsert":[${JSON.stringify(proto).slice(0, -1)},"__proto__":{"revoked":true,"isAdmin":true},"constructor":{"prototype":{"polluted":1}},"uses":{"__proto__":5,"constructor":3}}],"__proto__":{"polluted":1}}`,
    `{"__proto__":{"polluted":1},"id":"c2","type":"ping","expires":"2030-01-01T00:00:00Z"}`,
    `{"constructor":{"prototype":{"polluted":1}},"seq":${r.sync.seq + 1},"part":1,"parts":2,"passes":[]}`,
  ];
  for (const [i, p] of polluting.entries()) t.ok(r.deliver([T.passes, T.commands, T.snapshot][i] ?? '', p));
  t.ok(pristine(), 'Object.prototype untouched');
  t.equal(r.check('5151').granted, true, 'the pass with the pollution keys applied as a plain pass');
  t.ok(r.stillServes(3), 'a valid delta afterwards applies and its PIN opens');
  t.end();
});

t.test('property: the signature check takes any signature text and payload without throwing', (t) => {
  const { publicPem, privatePem } = generateKeyPair();
  const pub = createPublicKey(publicPem);
  const priv = createPrivateKey(privatePem);
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 512 }),
      fc.string({ unit: 'binary', maxLength: 200 }),
      (p, sig) => {
        return verifySignature(pub, p, sig) === false;
      },
    ),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 512 }), fc.nat(), (p, at) => {
      const sig = signPayload(priv, p);
      if (!verifySignature(pub, p, sig)) return false; // a valid signature round-trips
      const flipped = Uint8Array.from(p);
      flipped[at % p.length] = (flipped[at % p.length] ?? 0) ^ 1;
      return !verifySignature(pub, flipped, sig); // and covers every payload byte
    }),
    { numRuns: 500 },
  );
  t.pass('2000 forged and 500 tampered signatures refused');
  t.end();
});
