/**
 * The built `doorpass run` as a subprocess, with a bridge input on a real pty and a bridge relay: a good
 * PIN, a bad PIN and a good card, checked on the wire (RELAY / LED / BEEP frames) and in the journal.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { encodeWiegand } from '../../src/protocol/wiegand.js';
import { runCli, startDaemon } from '../helpers/cli.js';
import { FakeBridge } from '../helpers/fake-bridge.js';
import { pass, tempSite } from '../helpers/fixtures.js';
import { haveSocat, ptyPair } from '../helpers/pty.js';

t.test(
  'doorpass run: bridge keypad and Wiegand reader, bridge relay, events journalled',
  { skip: !haveSocat() && 'socat is not installed' },
  async (t) => {
    const pty = await ptyPair();
    const site = tempSite(
      (dir) => `site: { id: tower-a, timezone: America/New_York }
device: { id: panel-west }
storage: { dir: ${JSON.stringify(path.join(dir, 'state'))} }
doors: [ { id: lobby, relay: { type: bridge, channel: 1, pulseMs: 3000 } } ]
inputs: [ { type: bridge, path: ${JSON.stringify(pty.host)}, baudRate: 115200, door: lobby, wiegand: { format: h10301 } } ]
`,
    );
    t.teardown(async () => {
      await pty.close();
      site.cleanup();
    });
    const now = Date.now();
    const live = {
      validFrom: new Date(now - 3_600_000).toISOString(),
      validUntil: new Date(now + 3_600_000).toISOString(),
    };
    const snap = path.join(site.dir, 'passes.json');
    writeFileSync(
      snap,
      JSON.stringify({
        passes: [
          pass({ id: 'guest', ...live, credentials: [{ type: 'pin', value: '246810' }] }),
          pass({
            id: 'courier',
            kind: 'courier',
            ...live,
            credentials: [{ type: 'card', value: String(7 * 65536 + 4242) }],
          }),
        ],
      }),
    );
    const c = ['--config', site.configFile];
    t.equal((await runCli(['passes', 'import', snap, ...c])).code, 0);

    const daemon = await startDaemon(site.configFile);
    const bridge = await FakeBridge.open(pty.device);
    t.teardown(() => bridge.close());
    // The daemon pings as soon as its port is open; boot then, so the HELLO is not lost.
    await bridge.next((m) => m.type === 'ping', 10_000, 0);
    bridge.boot('sim-0.9');
    await daemon.waitFor(/bridge said hello/);

    let since = bridge.received.length;
    bridge.typeKeys('246810#');
    t.same(await bridge.next((m) => m.type === 'relay', 5000, since), {
      type: 'relay',
      channel: 1,
      ms: 3000,
    });
    t.same(await bridge.next((m) => m.type === 'led', 5000, since), { type: 'led', colour: 1, ms: 2000 });
    t.same(await bridge.next((m) => m.type === 'beep' && m.pattern !== 3, 5000, since), {
      type: 'beep',
      pattern: 1,
    });

    since = bridge.received.length;
    bridge.typeKeys('999999#');
    t.same(await bridge.next((m) => m.type === 'led', 5000, since), { type: 'led', colour: 2, ms: 2000 });
    t.same(await bridge.next((m) => m.type === 'beep' && m.pattern !== 3, 5000, since), {
      type: 'beep',
      pattern: 2,
    });

    since = bridge.received.length;
    const card = encodeWiegand('h10301', 7, 4242);
    bridge.send({ type: 'wiegand', bitCount: card.bitCount, data: card.data });
    t.same(await bridge.next((m) => m.type === 'relay', 5000, since), {
      type: 'relay',
      channel: 1,
      ms: 3000,
    });
    await bridge.next((m) => m.type === 'beep' && m.pattern === 1, 5000, since);
    t.equal(
      bridge.received.filter((m) => m.type === 'relay' && m.ms === 3000).length,
      2,
      'two grants, two pulses',
    );

    daemon.child.kill('SIGTERM');
    const exited = await Promise.race([
      new Promise<number | null>((r) => daemon.child.on('exit', r)),
      new Promise<string>((r) => setTimeout(() => r('still running 10 s after SIGTERM'), 10_000)),
    ]);
    t.equal(exited, 0, daemon.lines.slice(-5).join('\n'));
    t.ok(
      bridge.received.some((m) => m.type === 'relay' && m.ms === 0),
      'the relay is released on shutdown',
    );

    const events = await runCli(['events', 'list', '--json', ...c]);
    const list = events.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const access = list.filter((e) => String(e.type).startsWith('access.'));
    t.same(
      access.map((e) => [e.type, e.credentialType, e.passId, e.reason, e.source]),
      [
        ['access.granted', 'pin', 'guest', null, `bridge:${pty.host}`],
        ['access.denied', 'pin', null, 'unknown_credential', `bridge:${pty.host}`],
        ['access.granted', 'card', 'courier', null, `bridge:${pty.host}`],
      ],
    );
    t.notMatch(
      events.stdout + daemon.lines.join('\n'),
      /246810|999999|462226/,
      'no credential value in events or logs',
    );
  },
);
