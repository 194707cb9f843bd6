/**
 * The device's side of the cloud contract with an in-memory CloudLink: deltas, gaps, duplicates, snapshots
 * in parts, rejected payloads, commands, and the event uploader. (test/integration/mqtt.test.ts runs the
 * same through a real broker with real signatures.)
 */
import t, { type Test } from 'tap';
import path from 'node:path';
import { AccessControl } from '../../src/app/access.js';
import { CloudAgent } from '../../src/app/cloud.js';
import { DoorController } from '../../src/app/door-controller.js';
import { Journal } from '../../src/app/journal.js';
import { RelayPulse } from '../../src/app/relay.js';
import { PassSync } from '../../src/app/sync.js';
import { EventUploader } from '../../src/app/uploader.js';
import { HmacHasher } from '../../src/adapters/hasher.js';
import { SqlitePassStore } from '../../src/adapters/sqlite/store.js';
import { Zone } from '../../src/core/zone.js';
import { topics } from '../../src/protocol/mqtt.js';
import type { CloudLink } from '../../src/ports/cloud.js';
import { FakeClock, RecordingLine, recordingLogger } from '../helpers/fakes.js';
import { MID_2026, pass, tempSite } from '../helpers/fixtures.js';

class FakeLink implements CloudLink {
  connected = true;
  published: { topic: string; payload: string; retain: boolean }[] = [];
  failNext = 0;
  private connectListeners: (() => void)[] = [];
  private messageListeners: ((topic: string, payload: string) => void)[] = [];
  publish(topic: string, payload: string, options: { qos: 0 | 1; retain?: boolean }): Promise<void> {
    if (!this.connected) return Promise.reject(new Error('not connected'));
    if (this.failNext > 0) {
      this.failNext--;
      return Promise.reject(new Error('broker went away'));
    }
    this.published.push({ topic, payload, retain: options.retain ?? false });
    return Promise.resolve();
  }
  onConnect(l: () => void): void {
    this.connectListeners.push(l);
  }
  onMessage(l: (topic: string, payload: string) => void): void {
    this.messageListeners.push(l);
  }
  /** Adds what a minor-1 cloud signs (issuedAt; device on per-device topics) to object payloads lacking it. */
  bind: (topic: string, payload: object) => object = (_topic, payload) => payload;
  deliver(topic: string, payload: unknown): void {
    const text =
      typeof payload === 'string'
        ? payload
        : JSON.stringify(
            typeof payload === 'object' && payload !== null ? this.bind(topic, payload) : payload,
          );
    for (const l of this.messageListeners) l(topic, text);
  }
  reconnect(): void {
    this.connected = true;
    for (const l of this.connectListeners) l();
  }
}

const T = topics('tower-a', 'panel-west');
const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

function rig(t: Test) {
  const site = tempSite();
  const store = new SqlitePassStore(path.join(site.dir, 'd'));
  t.teardown(() => {
    store.close();
    site.cleanup();
  });
  const clock = new FakeClock(MID_2026);
  const log = recordingLogger();
  const hasher = new HmacHasher(Buffer.alloc(32, 9));
  const journal = new Journal(store, 'panel-west', clock, log);
  const access = new AccessControl(store, hasher, new Zone('America/New_York'), 'panel-west', journal.ids);
  const link = new FakeLink();
  const line = new RecordingLine();
  const door = new DoorController(
    'lobby',
    new RelayPulse(line, clock),
    { pulseMs: 3000, heldOpenMs: 30_000, graceMs: 2000 },
    clock,
    journal,
    log,
  );
  const doors = new Map([['lobby', door]]);
  const sync = new PassSync(
    store,
    hasher,
    () => ({ maxValidityMs: 366 * 86_400_000 }),
    clock,
    log,
    (have) => {
      void link.publish(T.syncRequest, JSON.stringify({ have }), { qos: 1 });
    },
  );
  const agent = new CloudAgent(
    link,
    T,
    sync,
    store,
    doors,
    journal,
    clock,
    log,
    () => ({ online: true, seq: sync.seq }),
    { device: 'panel-west', requireBinding: true, maxMessageAgeMs: 24 * 3_600_000 },
  );
  link.bind = (topic, payload) => ({
    ...(topic !== T.passes && { device: 'panel-west' }),
    issuedAt: new Date(clock.now()).toISOString(),
    ...payload,
  });
  agent.start();
  const check = (pin: string) =>
    access.evaluate({ type: 'pin', value: pin, door: 'lobby', now: clock.now() });
  return { store, clock, log, link, sync, agent, check, line, journal, access };
}

t.test('deltas apply in order; duplicates are ignored; the seq is recorded', async (t) => {
  const { link, sync, check } = rig(t);
  link.deliver(T.passes, { seq: 1, upsert: [pass({ id: 'a' })] });
  t.equal(sync.seq, 1);
  t.equal(check('123456').granted, true);
  link.deliver(T.passes, { seq: 1, upsert: [], revoke: ['a'] }); // a redelivered seq 1 with other content
  t.equal(check('123456').granted, true, 'a duplicate seq changes nothing');
  link.deliver(T.passes, { seq: 2, revoke: ['a'] });
  t.equal(check('123456').reason, 'revoked', 'revocation applies at once');
  t.same(sync.counters, { ...sync.counters, deltasApplied: 2, duplicates: 1 });
});

t.test(
  'a gap asks for a resync; the snapshot swaps in atomically, then the delta kept aside applies',
  async (t) => {
    const { link, sync, check, store } = rig(t);
    link.deliver(T.passes, {
      seq: 1,
      upsert: [pass({ id: 'old', credentials: [{ type: 'pin', value: '1111' }] })],
    });
    link.deliver(T.passes, {
      seq: 5,
      upsert: [pass({ id: 'later', credentials: [{ type: 'pin', value: '5555' }] })],
    });
    t.equal(sync.seq, 1, 'the gap is not applied');
    t.same(JSON.parse(link.published.filter((p) => p.topic === T.syncRequest).at(-1)?.payload ?? '{}'), {
      have: 1,
    });
    // The snapshot at seq 4 arrives in 3 parts, out of order; nothing changes until the last one.
    const parts = [
      {
        seq: 4,
        part: 2,
        parts: 3,
        passes: [pass({ id: 'b', credentials: [{ type: 'pin', value: '2222' }] })],
      },
      {
        seq: 4,
        part: 1,
        parts: 3,
        passes: [pass({ id: 'a', credentials: [{ type: 'pin', value: '3333' }] })],
        accessGroups: [],
      },
      { seq: 4, part: 3, parts: 3, passes: [] },
    ];
    link.deliver(T.snapshot, parts[0]);
    link.deliver(T.snapshot, parts[1]);
    t.equal(check('1111').granted, true, 'a half-received snapshot changes nothing');
    t.equal(check('3333').reason, 'unknown_credential');
    link.deliver(T.snapshot, parts[2]);
    t.equal(check('1111').reason, 'unknown_credential', 'passes not in the snapshot are gone');
    t.equal(check('3333').granted, true);
    t.equal(check('2222').granted, true);
    t.equal(sync.seq, 5, 'the snapshot (4), then the delta kept aside (5)');
    link.deliver(T.passes, {
      seq: 6,
      upsert: [pass({ id: 'six', credentials: [{ type: 'pin', value: '6666' }] })],
    });
    t.equal(sync.seq, 6, 'seq 5 was kept aside and applied after the snapshot; 6 follows');
    t.equal(check('5555').granted, true);
    t.equal(check('6666').granted, true);
    await sync.idle();
    t.same(
      store.db
        .prepare("SELECT name FROM cache.sqlite_schema WHERE type = 'table' AND name GLOB '*_p*x*'")
        .all(),
      [],
      'the stage and the swapped-out tables are gone',
    );
  },
);

t.test('a stale snapshot is ignored; a snapshot may arrive unasked', async (t) => {
  const { link, sync, check } = rig(t);
  link.deliver(T.snapshot, { seq: 3, part: 1, parts: 1, passes: [pass({ id: 'x' })] });
  t.equal(sync.seq, 3);
  t.equal(check('123456').granted, true);
  link.deliver(T.snapshot, { seq: 2, part: 1, parts: 1, passes: [] });
  t.equal(check('123456').granted, true, 'older than the cache: ignored');
});

t.test(
  'bad JSON and schema violations change nothing, are counted, and do not advance the seq',
  async (t) => {
    const { link, sync, agent, check } = rig(t);
    link.deliver(T.passes, '{"seq": 1, "upsert": [');
    link.deliver(T.passes, { seq: 'one', upsert: [] });
    link.deliver(T.passes, { seq: 1, upsert: 'everything' });
    link.deliver(T.commands, { id: 'c', type: 'selfdestruct', expires: '2030-01-01T00:00:00Z' });
    link.deliver(T.snapshot, { seq: 1, part: 3, parts: 2, passes: [] });
    t.equal(sync.seq, 0);
    t.same(agent.rejected, { bad_json: 1, schema: 4 });
    link.deliver(T.passes, { seq: 1, upsert: [pass()] });
    t.equal(sync.seq, 1, 'the next good message with that seq still applies');
    t.equal(check('123456').granted, true);
    // A delta whose passes are individually bad still advances: the cloud's seq is honoured, the bad pass is
    // rejected and logged.
    link.deliver(T.passes, { seq: 2, upsert: [{ id: 'bad' }] });
    t.equal(sync.seq, 2);
    t.equal(sync.counters.passesRejected, 1);
  },
);

t.test(
  'uses from the cloud merge as a grow-only counter: a single-use pass used elsewhere is refused here',
  async (t) => {
    const { link, check } = rig(t);
    link.deliver(T.passes, { seq: 1, upsert: [pass({ maxUses: 1 })] });
    t.equal(check('123456').granted, true);
    link.deliver(T.passes, { seq: 2, upsert: [pass({ version: 2, maxUses: 1, uses: { 'panel-east': 1 } })] });
    t.equal(check('123456').reason, 'use_limit');
  },
);

t.test(
  'commands: unlock pulses the door once; expired is refused; a replayed id is not executed again',
  async (t) => {
    const { link, line, clock, store } = rig(t);
    const future = new Date(MID_2026 + 60_000).toISOString();
    link.deliver(T.commands, { id: 'cmd-1', type: 'unlock', door: 'lobby', expires: future });
    await flush();
    t.same(line.states, [false, true]);
    t.same(JSON.parse(link.published.at(-1)?.payload ?? '{}'), { id: 'cmd-1', ok: true });
    clock.advance(3000);
    link.deliver(T.commands, { id: 'cmd-1', type: 'unlock', door: 'lobby', expires: future });
    await flush();
    t.same(line.states, [false, true, false], 'the replay did not open the door');
    t.same(
      JSON.parse(link.published.at(-1)?.payload ?? '{}'),
      { id: 'cmd-1', ok: true },
      'the original result is sent again',
    );
    link.deliver(T.commands, {
      id: 'cmd-2',
      type: 'unlock',
      door: 'lobby',
      expires: new Date(MID_2026 - 1).toISOString(),
    });
    await flush();
    t.same(JSON.parse(link.published.at(-1)?.payload ?? '{}'), { id: 'cmd-2', ok: false, error: 'expired' });
    link.deliver(T.commands, { id: 'cmd-3', type: 'unlock', door: 'vault', expires: future });
    await flush();
    t.match(JSON.parse(link.published.at(-1)?.payload ?? '{}'), {
      id: 'cmd-3',
      ok: false,
      error: /unknown door/,
    });
    link.deliver(T.commands, { id: 'cmd-4', type: 'ping', expires: future });
    link.deliver(T.commands, { id: 'cmd-5', type: 'resync', expires: future });
    await flush();
    t.same(JSON.parse(link.published.filter((p) => p.topic === T.syncRequest).at(-1)?.payload ?? '{}'), {
      have: 0,
    });
    t.same(line.states, [false, true, false]);
    const types = store.listEvents(20).map((e) => e.type);
    t.same(types.filter((x) => x === 'door.remote_unlock').length, 1);
    t.same(types.filter((x) => x === 'device.command').length, 5);
  },
);

t.test('commands: an unlock is refused while the clock is not trusted; ping still answers', async (t) => {
  const { link, line, agent } = rig(t);
  const future = new Date(MID_2026 + 60_000).toISOString();
  let trusted = false;
  agent.clockTrusted = () => trusted;
  link.deliver(T.commands, { id: 'u-1', type: 'unlock', door: 'lobby', expires: future });
  await flush();
  t.same(line.states, [false], 'the door did not open');
  t.same(JSON.parse(link.published.at(-1)?.payload ?? '{}'), {
    id: 'u-1',
    ok: false,
    error: 'clock_untrusted',
  });
  link.deliver(T.commands, { id: 'p-1', type: 'ping', expires: future });
  await flush();
  t.same(JSON.parse(link.published.at(-1)?.payload ?? '{}'), { id: 'p-1', ok: true });
  trusted = true;
  link.deliver(T.commands, { id: 'u-2', type: 'unlock', door: 'lobby', expires: future });
  await flush();
  t.same(line.states, [false, true], 'a new unlock runs once the clock is trusted');
});

t.test('status is published retained on connect and when it changes', async (t) => {
  const { link, agent } = rig(t);
  link.reconnect();
  await flush();
  const status = link.published.filter((p) => p.topic === T.status);
  t.equal(status.length, 1);
  t.equal(status[0]?.retain, true);
  agent.publishStatus();
  t.equal(link.published.filter((p) => p.topic === T.status).length, 1, 'unchanged: not sent again');
});

t.test(
  'uploader: events leave the outbox only when acknowledged, in order, and are sent again after a failure',
  async (t) => {
    const { store, link, clock, journal, log } = rig(t);
    const uploader = new EventUploader(store, link, journal, clock, log, {
      topic: T.events,
      batchSize: 2,
      maxOutbox: 100,
      keepUploaded: 10,
    });
    for (let i = 0; i < 5; i++) journal.append({ type: 'door.exit', door: 'lobby' });
    link.failNext = 1;
    uploader.start();
    clock.advance(1);
    await flush();
    t.equal(store.outboxDepth(), 5, 'a failed publish keeps every event');
    link.reconnect();
    clock.advance(1);
    for (let i = 0; i < 10; i++) await flush();
    t.equal(store.outboxDepth(), 0);
    const sent = link.published
      .filter((p) => p.topic === T.events)
      .flatMap((p) => (JSON.parse(p.payload) as { events: { id: string }[] }).events.map((e) => e.id));
    t.equal(sent.length, 5);
    t.same([...sent].sort(), sent, 'oldest first');
    t.equal(new Set(sent).size, 5);
    t.equal(store.listEvents(50).length, 5, 'uploaded events stay as local history');
    uploader.stop();
  },
);

t.test('uploader: a full outbox keeps the newest events and says how many it dropped', async (t) => {
  const { store, link, clock, journal, log } = rig(t);
  link.connected = false;
  const uploader = new EventUploader(store, link, journal, clock, log, {
    topic: T.events,
    batchSize: 100,
    maxOutbox: 100,
    keepUploaded: 0,
  });
  for (let i = 0; i < 150; i++) journal.append({ type: 'door.exit', door: 'lobby' });
  uploader.trim();
  t.equal(uploader.counters.dropped, 50);
  const left = store.outboxPeek(1000);
  t.equal(left.length, 101, '100 kept + the device.outbox_dropped event');
  t.match(left.at(-1)?.event, { type: 'device.outbox_dropped', count: 50 });
  uploader.stop();
});

t.test('snapshot parts that disagree on their count are discarded, never swapped in', async (t) => {
  const { link, sync, check } = rig(t);
  link.deliver(T.passes, {
    seq: 1,
    upsert: [pass({ id: 'keep', credentials: [{ type: 'pin', value: '4444' }] })],
  });
  link.deliver(T.snapshot, { seq: 2, part: 1, parts: 3, passes: [] });
  link.deliver(T.snapshot, { seq: 2, part: 2, parts: 2, passes: [] });
  t.equal(sync.counters.snapshotsDiscarded, 1);
  t.equal(sync.seq, 1);
  t.equal(check('4444').granted, true, 'nothing was removed');
  link.deliver(T.snapshot, { seq: 2, part: 1, parts: 1, passes: [], accessGroups: [] });
  t.equal(sync.seq, 2, 'a consistent snapshot afterwards applies');
});

t.test(
  'binding: a part or command for another device, or one without issuedAt/device, is refused and changes nothing',
  async (t) => {
    const { link, sync, agent, line, check, store } = rig(t);
    const future = new Date(MID_2026 + 60_000).toISOString();
    link.deliver(T.passes, { seq: 1, upsert: [pass({ id: 'keep' })] });
    link.deliver(T.snapshot, { seq: 5, device: 'panel-east', part: 1, parts: 1, passes: [] });
    link.deliver(T.commands, {
      id: 'east-1',
      device: 'panel-east',
      type: 'unlock',
      door: 'lobby',
      expires: future,
    });
    // Without the fields (a minor-0 cloud, or a hand-made message): refused while requireBinding is true.
    link.deliver(T.passes, JSON.stringify({ seq: 2, upsert: [], revoke: ['keep'] }));
    link.deliver(
      T.commands,
      JSON.stringify({
        id: 'bare-1',
        type: 'unlock',
        door: 'lobby',
        expires: future,
        issuedAt: new Date(MID_2026).toISOString(),
      }),
    );
    await flush();
    t.same(agent.rejected, { wrong_device: 2, missing_binding: 2 });
    t.equal(sync.seq, 1);
    t.equal(check('123456').granted, true, 'the snapshot for panel-east did not wipe the cache');
    t.same(line.states, [false], 'the door did not open');
    t.equal(link.published.filter((p) => p.topic === T.commandResult).length, 0, 'no result for them');
    t.equal(store.commandResult('east-1'), undefined, 'their ids are not recorded');
  },
);

t.test(
  'staleness: against the newest issuedAt accepted (kept in the journal meta) and, for parts and commands, the trusted clock',
  async (t) => {
    const { link, sync, agent, clock, store, line } = rig(t);
    const H = 3_600_000;
    const iso = (ms: number): string => new Date(ms).toISOString();
    link.deliver(T.passes, { seq: 1, upsert: [pass({ id: 'a' })] });
    t.equal(agent.newestIssuedAt, MID_2026);
    t.equal(store.getMeta('cloud.newestIssuedAt'), String(MID_2026), 'persisted');
    // A delta issued 25 h before the newest: stale. One issued 23 h before it: fine (queued while offline).
    link.deliver(T.passes, { seq: 2, issuedAt: iso(MID_2026 - 25 * H), revoke: ['a'] });
    t.equal(sync.seq, 1);
    link.deliver(T.passes, { seq: 2, issuedAt: iso(MID_2026 - 23 * H), upsert: [] });
    t.equal(sync.seq, 2);
    t.equal(agent.newestIssuedAt, MID_2026, 'an older accepted message does not lower it');
    // A snapshot part issued 25 h ago by the trusted clock is stale even with no newer message.
    clock.advance(2 * H);
    link.deliver(T.snapshot, { seq: 9, issuedAt: iso(clock.now() - 25 * H), part: 1, parts: 1, passes: [] });
    link.deliver(T.commands, {
      id: 'old-unlock',
      issuedAt: iso(clock.now() - 25 * H),
      type: 'unlock',
      door: 'lobby',
      expires: iso(clock.now() + 60_000),
    });
    await flush();
    t.equal(sync.seq, 2);
    t.same(line.states, [false]);
    t.same(agent.rejected, { stale: 3 });
  },
);

t.test(
  'requireBinding false: messages without the fields are accepted and counted; present fields still judged',
  async (t) => {
    const { store, sync, clock, log, journal } = rig(t);
    const link = new FakeLink();
    const agent = new CloudAgent(
      link,
      T,
      sync,
      store,
      new Map(),
      journal,
      clock,
      log,
      () => ({ online: true }),
      { device: 'panel-west', requireBinding: false, maxMessageAgeMs: 3_600_000 },
    );
    agent.start();
    link.deliver(T.passes, { seq: 1, upsert: [pass()] });
    link.deliver(T.snapshot, { seq: 3, part: 1, parts: 1, passes: [pass()] });
    t.equal(sync.seq, 3);
    t.equal(agent.unbound, 2);
    link.deliver(T.snapshot, { seq: 4, device: 'panel-east', part: 1, parts: 1, passes: [] });
    link.deliver(T.passes, { seq: 4, issuedAt: new Date(clock.now()).toISOString() });
    link.deliver(T.passes, { seq: 5, issuedAt: new Date(clock.now() - 2 * 3_600_000).toISOString() });
    t.equal(sync.seq, 4);
    t.same(agent.rejected, { wrong_device: 1, stale: 1 });
  },
);

t.test(
  'an accepted issuedAt is handed to the clock guard (less a minute of slack) before the message acts',
  async (t) => {
    const { link, agent } = rig(t);
    const raised: number[] = [];
    agent.raiseClockFloor = (at) => raised.push(at);
    link.deliver(T.passes, { seq: 1, issuedAt: new Date(MID_2026 + 3_600_000).toISOString() });
    link.deliver(T.snapshot, { seq: 1, device: 'panel-east', part: 1, parts: 1, passes: [] });
    t.same(raised, [MID_2026 + 3_600_000 - 60_000], 'only accepted messages are evidence');
  },
);

t.test(
  'a flood of junk is counted message by message but logged at most once a second per reason',
  async (t) => {
    const { agent, log, clock } = rig(t);
    const warnings = () => log.lines.filter((l) => l.msg?.startsWith('cloud message rejected') === true);
    for (let i = 0; i < 5000; i++) agent.onMessage(T.commands, `junk ${i}`);
    t.equal(agent.rejected.bad_json, 5000, 'every refusal counted');
    t.equal(warnings().length, 1, 'one line for the burst');
    agent.onMessage(T.passes, '{"seq": "x"}');
    t.equal(warnings().length, 2, 'another reason has its own line');
    clock.advance(1000);
    agent.onMessage(T.commands, 'junk again');
    const last = warnings().at(-1);
    t.match(last?.obj, { reason: 'bad_json', suppressed: 4999 }, 'the next line says how many were left out');
    t.match(last?.msg, /4999 more/);
  },
);
