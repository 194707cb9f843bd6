/**
 * `doorpass run` with an `osdp` input (the acceptance contract's shape) on a pseudo-terminal: a card on the
 * simulated reader opens the door through the reader's own output, with the green LED and the short beep.
 */
import path from 'node:path';
import t from 'tap';
import { loadConfig } from '../../src/app/config.js';
import { openSite } from '../../src/app/compose.js';
import { importSnapshot } from '../../src/app/import.js';
import { encodeWiegand } from '../../src/protocol/wiegand.js';
import { startDaemon } from '../helpers/cli.js';
import { pass, tempSite } from '../helpers/fixtures.js';
import { OsdpBusSim } from '../helpers/osdp-sim/index.js';
import { haveSocat, ptyPair } from '../helpers/pty.js';

if (!haveSocat()) {
  t.fail('socat is not installed (scripts/test.sh installs it)');
  t.end();
}

t.test('doorpass run: a card on an OSDP reader opens the door', async (t) => {
  const pty = await ptyPair();
  const site = tempSite(
    (dir) => `site: { id: tower-a, timezone: America/New_York }
device: { id: panel-west }
storage: { dir: ${JSON.stringify(path.join(dir, 'state'))} }
doors:
  - id: lobby
    relay: { type: osdp, reader: 1, output: 0, pulseMs: 3000 }
inputs: [ { type: osdp, path: ${JSON.stringify(pty.host)}, baudRate: 115200, readers: [ { address: 1, door: lobby, secure: false } ] } ]
log: { level: info }
`,
  );
  const now = Date.now();
  const s = openSite(loadConfig(site.configFile));
  importSnapshot(
    s.store,
    s.hasher,
    {
      passes: [
        pass({
          id: 'courier',
          validFrom: new Date(now - 86_400_000).toISOString(),
          validUntil: new Date(now + 86_400_000).toISOString(),
          credentials: [{ type: 'card', value: String(42 * 65536 + 1234) }],
        }),
      ],
      accessGroups: [],
    },
    { policy: { maxValidityMs: 366 * 86_400_000 }, now },
  );
  s.close();
  const sim = await OsdpBusSim.open(pty.device, 115200, [{ address: 1 }]);
  const daemon = await startDaemon(site.configFile);
  t.teardown(async () => {
    daemon.child.kill('SIGTERM');
    await new Promise((r) => daemon.child.once('exit', r));
    await sim.close();
    await pty.close();
    site.cleanup();
  });
  const reader = sim.reader(1);
  await daemon.waitFor(/OSDP reader online/);
  const card = encodeWiegand('h10301', 42, 1234);
  let bits = '';
  for (let i = 0; i < card.bitCount; i++) bits += ((card.data[i >> 3] ?? 0) >> (7 - (i & 7))) & 1 ? '1' : '0';
  reader.presentCard(bits);
  await reader.waitFor((r) => r.outputs[0] === true, 5000);
  t.match(reader.outputCommands.at(-1), { output: 0, controlCode: 5, timer: 30 }, 'the reader times 3 s');
  await reader.waitFor((r) => r.led.color === 'green' && r.buzzer.tone === 'default', 5000);
  const granted = await daemon.waitFor(/"granted":true|access granted/);
  t.notMatch(granted, /2753746/, 'the log never holds the card number');
  // An unknown card: red LED, long beep, no output.
  const before = reader.outputCommands.length;
  const other = encodeWiegand('h10301', 7, 7);
  let otherBits = '';
  for (let i = 0; i < other.bitCount; i++)
    otherBits += ((other.data[i >> 3] ?? 0) >> (7 - (i & 7))) & 1 ? '1' : '0';
  reader.presentCard(otherBits);
  await reader.waitFor((r) => r.led.color === 'red' && r.buzzer.onTime === 10, 5000);
  t.equal(reader.outputCommands.length, before, 'no output for a denied card');
});
