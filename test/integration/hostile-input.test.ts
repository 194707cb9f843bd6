/**
 * The daemon under hostile input: the built `doorpass run` as a subprocess, a real pty as its serial bridge
 * and a real Mosquitto broker. The bridge line carries random bytes, corrupted and oversize frames; the
 * cloud topics carry unsigned, forged, oversize, deep-JSON and garbage payloads, some with a valid signature
 * (a leaked key or a buggy cloud). Afterwards the process is still running, a valid PIN on the bridge keypad
 * still opens the door, and `doorpass status` counts what was refused.
 */
import t from 'tap';
import path from 'node:path';
import mqtt from 'mqtt';
import { loadPrivateKey, signPayload } from '../../src/adapters/mqtt/signature.js';
import { encodeFrame } from '../../src/protocol/bridge.js';
import { topics } from '../../src/protocol/mqtt.js';
import { keygen, publishDelta, type CloudConnection } from '../../src/tools/cloud.js';
import { runCli, startDaemon } from '../helpers/cli.js';
import { FakeBridge } from '../helpers/fake-bridge.js';
import { pass, tempSite } from '../helpers/fixtures.js';
import { haveMosquitto, startBroker } from '../helpers/mosquitto.js';
import { haveSocat, ptyPair } from '../helpers/pty.js';

const T = topics('tower-a', 'panel-west');
const now = Date.now();
const live = {
  validFrom: new Date(now - 3_600_000).toISOString(),
  validUntil: new Date(now + 3_600_000).toISOString(),
};

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A seeded PRNG (mulberry32): the garbage is random but the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

t.test(
  'garbage on the bridge and on the cloud topics: the daemon keeps serving and counts the rejects',
  {
    skip:
      (!haveMosquitto() && 'mosquitto is not installed') ||
      (!haveSocat() && 'socat is not installed (scripts/test.sh installs it)'),
  },
  async (t) => {
    const broker = await startBroker();
    const pty = await ptyPair();
    const site = tempSite((dir) => {
      keygen(path.join(dir, 'keys'));
      return `site: { id: tower-a, timezone: America/New_York }
device: { id: panel-west }
storage: { dir: ${JSON.stringify(path.join(dir, 'state'))} }
status: { socket: ${JSON.stringify(path.join(dir, 'doorpass.sock'))} }
doors: [ { id: lobby, relay: { type: bridge, channel: 1, pulseMs: 3000 } } ]
inputs: [ { type: bridge, path: ${JSON.stringify(pty.host)}, baudRate: 115200, door: lobby } ]
mqtt: { url: ${JSON.stringify(broker.url)} }
cloud: { publicKeyFile: ${JSON.stringify(path.join(dir, 'keys', 'cloud.pub.pem'))} }
`;
    });
    const c = ['--config', site.configFile];
    const cloud: CloudConnection = {
      url: broker.url,
      site: 'tower-a',
      keyFile: path.join(site.dir, 'keys', 'cloud.key.pem'),
      stateFile: path.join(site.dir, 'cloud-state.json'),
    };
    const daemon = await startDaemon(site.configFile);
    let exited: number | null | undefined;
    daemon.child.on('exit', (code) => (exited = code));
    const bridge = await FakeBridge.open(pty.device);
    t.teardown(async () => {
      daemon.child.kill('SIGKILL');
      await bridge.close();
      await pty.close();
      await broker.close();
      site.cleanup();
    });
    const status = async (): Promise<Record<string, unknown>> => {
      const r = await runCli(['status', '--json', ...c]);
      return r.code === 0 ? (JSON.parse(r.stdout) as Record<string, unknown>) : {};
    };
    await daemon.waitFor(/connected to the broker/);
    bridge.boot();
    await until(async () => {
      const st = (await status()) as { inputs?: { online: boolean }[] };
      return st.inputs?.[0]?.online === true;
    }, 'bridge online');

    // A pass with PIN 424242, signed and sent as the cloud sends it.
    await publishDelta(cloud, {
      upsert: [pass({ id: 'guest', ...live, credentials: [{ type: 'pin', value: '424242' }] })],
      revoke: [],
    });
    await until(async () => ((await status()) as { sync?: { seq: number } }).sync?.seq === 1, 'delta 1');

    // --- The serial line: random bytes, corrupted frames, an oversize run, all in odd chunks.
    const rnd = prng(0x5eed);
    const garbage: number[] = [];
    for (let i = 0; i < 20_000; i++) garbage.push(Math.floor(rnd() * 256));
    for (let i = 0; i < 200; i++) {
      const frame = Array.from(encodeFrame(i & 0xff, { type: 'key', key: '9' }));
      const at = Math.floor(rnd() * (frame.length - 1));
      frame[at] = (frame[at] ?? 0) ^ (1 + Math.floor(rnd() * 255)); // corrupt one byte
      garbage.push(...frame);
    }
    garbage.push(...Array<number>(50_000).fill(0x41), 0); // an oversize run, then its delimiter
    for (let o = 0; o < garbage.length;) {
      const n = 1 + Math.floor(rnd() * 4000);
      bridge.raw(garbage.slice(o, o + n));
      o += n;
      await new Promise((r) => setTimeout(r, 5));
    }
    bridge.raw([0]); // end whatever half frame the garbage left

    // --- The cloud topics.
    const client = await mqtt.connectAsync(broker.url, { protocolVersion: 5, reconnectPeriod: 0 });
    const key = loadPrivateKey(cloud.keyFile);
    const deep = (n: number): string => '['.repeat(n) + ']'.repeat(n);
    const hostile = [
      deep(100_000),
      `{"seq":2,"upsert":[${deep(100_000)}]}`,
      // Schema-valid but for `parts` (a valid signed snapshot is authoritative and would replace the cache).
      `{"seq":2,"part":1,"parts":0,"passes":[${deep(50_000)}]}`,
      JSON.stringify({ seq: 2, upsert: [pass({ id: 'x'.repeat(1_000_000) })] }),
      `{"__proto__":{"polluted":1},"seq":2,"upsert":[],"constructor":{"prototype":{"polluted":1}}}`,
      '{"seq": 2, "upsert": [',
      Buffer.from(Array.from({ length: 5000 }, () => Math.floor(rnd() * 256))).toString('latin1'),
    ];
    const publish = (topic: string, payload: string | Buffer, sig?: string) =>
      client.publishAsync(topic, payload, {
        qos: 1,
        ...(sig !== undefined && { properties: { userProperties: { sig } } }),
      });
    for (const p of hostile) {
      for (const topic of [T.passes, T.snapshot, T.commands]) {
        await publish(topic, p, signPayload(key, Buffer.from(p))); // a valid signature over garbage
        await publish(topic, p); // unsigned
        await publish(topic, p, 'AAAA'); // a forged signature
      }
    }
    // Over the 4 MiB limit: refused before parsing (and before the signature is checked). Just over it, so
    // it still fits the Maximum Packet Size the device announces (larger ones the broker never delivers:
    // test/integration/mqtt-binding.test.ts).
    const oversize = Buffer.alloc(4 * 1024 * 1024 + 1024, 0x5b);
    await publish(T.passes, oversize, signPayload(key, oversize));
    await client.endAsync();

    // --- Still serving: a valid PIN on the bridge keypad opens the door.
    await until(async () => {
      const st = (await status()) as { sync?: { rejected?: Record<string, number> } };
      return (st.sync?.rejected?.too_large ?? 0) >= 1;
    }, 'the oversize message counted');
    const since = bridge.received.length;
    bridge.typeKeys('424242#');
    t.same(await bridge.next((m) => m.type === 'relay', 8000, since), {
      type: 'relay',
      channel: 1,
      ms: 3000,
    });
    t.equal(exited, undefined, 'the daemon never exited');

    const st = (await status()) as {
      sync: { seq: number; rejected: Record<string, number> };
      bridges: { framesIn: number; discarded: Record<string, number> }[];
      inputs: { online: boolean; lockedOut: boolean }[];
    };
    // Signed, schema-valid deltas whose passes are all invalid do advance the seq (the cloud signed them; the
    // bad passes are rejected one by one); they never remove the guest pass.
    t.ok(st.sync.seq >= 1 && st.sync.seq <= 3, `seq ${st.sync.seq}`);
    const r = st.sync.rejected;
    t.ok((r.missing_signature ?? 0) >= hostile.length * 3, `unsigned counted: ${r.missing_signature}`);
    t.ok((r.bad_signature ?? 0) >= hostile.length * 3, `forged counted: ${r.bad_signature}`);
    t.ok(
      (r.bad_json ?? 0) + (r.schema ?? 0) >= hostile.length,
      `signed garbage counted: ${JSON.stringify(r)}`,
    );
    // The 4 MiB + 1 KiB message, and the 1 MB one on the snapshot topic (a snapshot part is at most 256 KiB).
    t.equal(r.too_large, 2, 'oversize messages counted');
    const discarded = Object.values(st.bridges[0]?.discarded ?? {}).reduce((a, b) => a + b, 0);
    t.ok(discarded >= 200, `bridge runs discarded and counted: ${JSON.stringify(st.bridges[0]?.discarded)}`);
    t.ok((st.bridges[0]?.discarded.oversize ?? 0) >= 1, 'the oversize run among them');
    t.equal(st.inputs[0]?.online, true, 'the bridge is still online');
    t.notOk(
      daemon.lines.some((l) => l.includes('424242')),
      'the PIN never appears in the log',
    );
  },
);
