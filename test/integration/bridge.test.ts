/**
 * The serial bridge end to end over a real pseudo-terminal pair, opened with the real serialport binding:
 * the test plays the bridge, the daemon (in this process) decides and drives the relay and feedback.
 */
import t, { type Test } from 'tap';
import path from 'node:path';
import { loadConfig } from '../../src/app/config.js';
import { createLogger, openSite, startDaemon, type RunningDaemon } from '../../src/app/compose.js';
import { importSnapshot } from '../../src/app/import.js';
import { encodeWiegand } from '../../src/protocol/wiegand.js';
import { FakeBridge } from '../helpers/fake-bridge.js';
import { pass, tempSite } from '../helpers/fixtures.js';
import { haveSocat, ptyPair, type PtyPair } from '../helpers/pty.js';

if (!haveSocat()) {
  t.fail('socat is not installed (scripts/test.sh installs it)');
  t.end();
}

const now = Date.now();
const live = {
  validFrom: new Date(now - 86_400_000).toISOString(),
  validUntil: new Date(now + 86_400_000).toISOString(),
};

async function setup(t: Test, lockoutYaml = 'lockout: { maxFailures: 3 }') {
  const pty: PtyPair = await ptyPair();
  const site = tempSite(
    (dir) => `site: { id: tower-a, timezone: America/New_York }
device: { id: panel-west }
storage: { dir: ${JSON.stringify(path.join(dir, 'state'))} }
doors:
  - id: lobby
    relay: { type: bridge, channel: 1, pulseMs: 3000 }
    contact: { type: bridge, input: 1 }
inputs: [ { type: bridge, path: ${JSON.stringify(pty.host)}, baudRate: 115200, door: lobby, wiegand: { format: h10301 } } ]
${lockoutYaml}
`,
  );
  const loaded = loadConfig(site.configFile);
  const s = openSite(loaded);
  importSnapshot(
    s.store,
    s.hasher,
    {
      passes: [
        pass({ id: 'guest', ...live, credentials: [{ type: 'pin', value: '123456' }] }),
        pass({ id: 'courier', ...live, credentials: [{ type: 'card', value: String(42 * 65536 + 1234) }] }),
        // A guest who comes a day early: the PIN matches a pass that is not valid yet.
        pass({
          id: 'early',
          validFrom: new Date(now + 86_400_000).toISOString(),
          validUntil: new Date(now + 2 * 86_400_000).toISOString(),
          credentials: [{ type: 'pin', value: '555000' }],
        }),
      ],
      accessGroups: [],
    },
    { policy: { maxValidityMs: 366 * 86_400_000 }, now },
  );
  s.close();
  const daemon: RunningDaemon = startDaemon(loaded, { logger: createLogger('silent') });
  const bridge = await FakeBridge.open(pty.device);
  t.teardown(async () => {
    await bridge.close();
    await daemon.stop();
    await pty.close();
    site.cleanup();
  });
  const input = daemon.inputs[0];
  if (input === undefined) throw new Error('no input');
  const link = daemon.links.get(pty.host);
  if (link === undefined) throw new Error('no link');
  const until = async (cond: () => boolean, what: string, ms = 8000): Promise<void> => {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) throw new Error(`timed out: ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  // Boot the bridge once the daemon has the port open (its first PING): bytes sent to a pty nobody has
  // open are lost, as with real firmware that boots before the host opens the port.
  await until(() => link.counters.framesOut > 0, 'daemon opened the port');
  bridge.boot();
  await until(() => input.status().online && link.firmwareVersion !== undefined, 'bridge online');
  return { pty, bridge, daemon, input, link, until, site };
}

t.test('a good PIN on the bridge keypad pulses the relay with LED green and the accept beep', async (t) => {
  const { bridge, link } = await setup(t);
  t.equal(link.firmwareVersion, 'fake-1.0');
  const since = bridge.received.length;
  bridge.typeKeys('123456#');
  t.same(await bridge.next((m) => m.type === 'relay', 5000, since), { type: 'relay', channel: 1, ms: 3000 });
  t.same(await bridge.next((m) => m.type === 'led', 5000, since), { type: 'led', colour: 1, ms: 2000 });
  t.same(await bridge.next((m) => m.type === 'beep' && m.pattern !== 3, 5000, since), {
    type: 'beep',
    pattern: 1,
  });
  t.equal(
    bridge.received.slice(since).filter((m) => m.type === 'beep' && m.pattern === 3).length,
    6,
    'a click per digit',
  );
});

t.test(
  'a bad PIN: LED red and the deny beep, no relay; a Wiegand card opens; a parity error is a read error',
  async (t) => {
    const { bridge, daemon } = await setup(t);
    let since = bridge.received.length;
    bridge.typeKeys('000000#');
    t.same(await bridge.next((m) => m.type === 'led', 5000, since), { type: 'led', colour: 2, ms: 2000 });
    t.same(await bridge.next((m) => m.type === 'beep' && m.pattern !== 3, 5000, since), {
      type: 'beep',
      pattern: 2,
    });
    since = bridge.received.length;
    const card = encodeWiegand('h10301', 42, 1234);
    bridge.send({ type: 'wiegand', bitCount: card.bitCount, data: card.data });
    t.same(await bridge.next((m) => m.type === 'relay', 5000, since), {
      type: 'relay',
      channel: 1,
      ms: 3000,
    });
    await bridge.next((m) => m.type === 'beep' && m.pattern === 1, 5000, since); // the card's accept feedback
    since = bridge.received.length;
    const bad = Uint8Array.from(card.data);
    bad[1] = (bad[1] ?? 0) ^ 0x10; // one flipped bit: parity fails
    bridge.send({ type: 'wiegand', bitCount: card.bitCount, data: bad });
    t.same(await bridge.next((m) => m.type === 'beep', 5000, since), { type: 'beep', pattern: 2 });
    t.equal(bridge.received.slice(since).filter((m) => m.type === 'relay').length, 0);
    const decisions = daemon.pipeline.recent.map((d) => [d.credentialType, d.granted, d.reason, d.passId]);
    t.same(decisions, [
      ['pin', false, 'unknown_credential', null],
      ['card', true, null, 'courier'],
    ]);
    t.equal(daemon.inputs[0]?.status().readErrors, 1);
  },
);

t.test(
  'garbage, bad CRC, truncated and oversize frames are dropped and counted; the door keeps working',
  async (t) => {
    const { bridge, link } = await setup(t);
    bridge.raw([0x13, 0x37, 0xff, 0xfe, 0x00]); // noise ending in a delimiter
    const good = Array.from(Buffer.from([0x02, 0x09, 0x02, 0x35, 0x00])); // not valid COBS/CRC either
    bridge.raw(good);
    bridge.raw([0x05, 0x02, 0x07, 0x31, 0x12, 0x34, 0x00]); // right shape, wrong CRC
    bridge.raw(Array.from({ length: 1200 }, () => 0x41).concat([0x00])); // oversize
    bridge.raw([0x04, 0x02]); // truncated: the start of a frame, then a fresh frame's bytes follow
    bridge.raw([0x00]);
    const since = bridge.received.length;
    bridge.typeKeys('123456#');
    t.same(await bridge.next((m) => m.type === 'relay', 5000, since), {
      type: 'relay',
      channel: 1,
      ms: 3000,
    });
    const discarded = Object.values(link.counters.discarded).reduce((a, b) => a + (b ?? 0), 0);
    t.ok(discarded >= 5, `every bad frame is counted (${JSON.stringify(link.counters.discarded)})`);
    t.ok((link.counters.discarded.oversize ?? 0) >= 1);
  },
);

t.test(
  'door contact on a bridge input; the bridge that stops heartbeats goes offline and comes back',
  async (t) => {
    const { bridge, daemon, input, until, pty, link } = await setup(t);
    bridge.send({ type: 'input', input: 1, level: 0 });
    await until(() => daemon.doors.get('lobby')?.snapshot.open === false, 'contact closed');
    bridge.send({ type: 'input', input: 1, level: 1 });
    await until(() => daemon.doors.get('lobby')?.snapshot.open === true, 'contact open');
    t.equal(daemon.doors.get('lobby')?.snapshot.forced, true, 'opened without a grant: forced');
    bridge.send({ type: 'input', input: 1, level: 0 });

    // Unplug: the port disappears; the input goes offline; plug back: it reconnects by itself.
    await bridge.close();
    await pty.unplug();
    await until(() => !input.status().online, 'offline after unplug');
    await pty.plug();
    const again = await FakeBridge.open(pty.device);
    t.teardown(() => again.close());
    const opened = link.counters.framesOut;
    await until(() => link.counters.framesOut > opened, 'daemon reopened the port', 15_000);
    again.boot('fake-1.1');
    await until(
      () => input.status().online && link.firmwareVersion === 'fake-1.1',
      'online after replug',
      15_000,
    );
    const since = again.received.length;
    again.typeKeys('123456#');
    t.same(await again.next((m) => m.type === 'relay', 5000, since), { type: 'relay', channel: 1, ms: 3000 });
    t.ok(link.counters.reconnects >= 1);
  },
);

t.test('lockout over the bridge: after 3 wrong PINs the keypad shows amber', async (t) => {
  const { bridge } = await setup(t);
  for (let i = 0; i < 3; i++) bridge.typeKeys(`00000${i}#`);
  const since = bridge.received.length;
  await new Promise((r) => setTimeout(r, 300));
  bridge.typeKeys('123456#');
  t.same(await bridge.next((m) => m.type === 'led' && m.colour === 3, 5000, since), {
    type: 'led',
    colour: 3,
    ms: 2000,
  });
  t.equal(bridge.received.slice(since).filter((m) => m.type === 'relay').length, 0);
});

/** Waits until the daemon has decided `n` credentials in all (the bridge sends faster than it decides). */
async function decided(d: RunningDaemon, n: number, until: (c: () => boolean, w: string) => Promise<void>) {
  await until(() => d.pipeline.recent.length >= n, `${n} decisions`);
}

t.test(
  'lockout per factor: 5 wrong PINs lock the bridge keypad, and a valid card presented at once still opens',
  async (t) => {
    const { bridge, daemon, input, until } = await setup(t, '');
    for (let i = 0; i < 5; i++) bridge.typeKeys(`90000${i}#`);
    await decided(daemon, 5, until);
    t.equal(input.status().lockedOut, true, 'the input reports a lockout');
    let since = bridge.received.length;
    const card = encodeWiegand('h10301', 42, 1234);
    bridge.send({ type: 'wiegand', bitCount: card.bitCount, data: card.data });
    t.same(await bridge.next((m) => m.type === 'relay', 5000, since), {
      type: 'relay',
      channel: 1,
      ms: 3000,
    });
    t.same(
      [input.status().lockouts?.pin.lockedOut, input.status().lockouts?.card.lockedOut],
      [true, false],
      'the keypad is locked, the card reader is not',
    );
    since = bridge.received.length;
    bridge.typeKeys('123456#');
    t.same(await bridge.next((m) => m.type === 'led' && m.colour === 3, 5000, since), {
      type: 'led',
      colour: 3,
      ms: 2000,
    });
    t.equal(
      bridge.received.slice(since).filter((m) => m.type === 'relay').length,
      0,
      'the keypad stays locked',
    );
    // Status (MQTT and `doorpass status`): lockedOut as before, per factor beside it.
    const name = input.source.name;
    t.match(daemon.status().inputs?.[name], {
      lockedOut: true,
      lockouts: { pin: { lockedOut: true }, card: { lockedOut: false }, qr: { lockedOut: false } },
    });
    t.match(
      daemon.localStatus().inputs.find((i) => i.name === name),
      { lockedOut: true, lockouts: { pin: { lockedOut: true, guessesLeft: 15 }, card: { guessesLeft: 20 } } },
    );
    const reasons = daemon.pipeline.recent.map((d) => [d.credentialType, d.reason]);
    t.same(reasons.slice(-2), [
      ['card', null],
      ['pin', 'locked_out'],
    ]);
  },
);

t.test(
  'four wrong PINs, own valid PIN, four wrong PINs: the keypad locks no later than without the valid PIN',
  async (t) => {
    const { bridge, daemon, input, until } = await setup(t, '');
    for (let i = 0; i < 4; i++) bridge.typeKeys(`90000${i}#`);
    let since = bridge.received.length;
    bridge.typeKeys('123456#');
    t.same(await bridge.next((m) => m.type === 'relay', 5000, since), {
      type: 'relay',
      channel: 1,
      ms: 3000,
    });
    bridge.typeKeys('900004#');
    await decided(daemon, 6, until);
    t.equal(input.status().lockedOut, true, 'locked at the 5th wrong PIN, as without the grant');
    for (let i = 5; i < 8; i++) bridge.typeKeys(`90000${i}#`);
    since = bridge.received.length;
    bridge.typeKeys('123456#');
    await decided(daemon, 10, until);
    t.equal(
      bridge.received.slice(since).filter((m) => m.type === 'relay').length,
      0,
      'own PIN: locked out too',
    );
    t.same(
      daemon.pipeline.recent.slice(-4).map((d) => d.reason),
      ['locked_out', 'locked_out', 'locked_out', 'locked_out'],
      'the second round of guesses was never tried',
    );
  },
);

t.test('a guest whose pass is not valid yet, typing it five times, does not lock the keypad', async (t) => {
  const { bridge, daemon, input, until } = await setup(t, '');
  for (let i = 0; i < 6; i++) bridge.typeKeys('555000#');
  await decided(daemon, 6, until);
  t.same(
    daemon.pipeline.recent.map((d) => d.reason),
    Array<string>(6).fill('not_yet_valid'),
  );
  t.equal(input.status().lockedOut, false);
  const since = bridge.received.length;
  bridge.typeKeys('123456#');
  t.same(await bridge.next((m) => m.type === 'relay', 5000, since), { type: 'relay', channel: 1, ms: 3000 });
});
