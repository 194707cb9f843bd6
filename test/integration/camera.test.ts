/**
 * The camera end to end through the real decision path (SQLite store, access control, input controller,
 * door relay): a `command` camera that is a shell script writing raw grey frames opens the door for a valid
 * pass's QR code and refuses a revoked one; and while the decode worker is kept busy with noisy 1280x720
 * frames, the main thread stays free: timers fire on time and PIN decisions are not held up. Last, the
 * built daemon (dist) finds its worker as plain .js.
 */
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CameraInput, type CameraInputOptions } from '../../src/adapters/camera/camera-input.js';
import { HmacHasher } from '../../src/adapters/hasher.js';
import { SqlitePassStore } from '../../src/adapters/sqlite/store.js';
import { AccessControl } from '../../src/app/access.js';
import { DoorController } from '../../src/app/door-controller.js';
import { importSnapshot } from '../../src/app/import.js';
import { InputController } from '../../src/app/input-controller.js';
import { Journal } from '../../src/app/journal.js';
import { AccessPipeline } from '../../src/app/pipeline.js';
import { RelayPulse, systemClock } from '../../src/app/relay.js';
import { DEFAULT_KEYPAD } from '../../src/core/keypad.js';
import { DEFAULT_LOCKOUT } from '../../src/core/lockout.js';
import { Zone } from '../../src/core/zone.js';
import { noCodeScene, Prng, renderScene } from '../../scripts/qr-corpus.js';
import { FakeSource, RecordingLine, recordingLogger } from '../helpers/fakes.js';
import { pass } from '../helpers/fixtures.js';

const VALID = 'DPV1:vp-2026-0501-7f3a:9c1e55d0b2a44f7e';
const REVOKED = 'DPV1:vp-2026-0502-11c0:0d5be7a0c33f4a21';
const now = Date.now();
const live = {
  validFrom: new Date(now - 86_400_000).toISOString(),
  validUntil: new Date(now + 86_400_000).toISOString(),
};

const dir = mkdtempSync(path.join(tmpdir(), 'doorpass-camera-it-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function rig(t: Test) {
  const store = new SqlitePassStore(path.join(dir, `${t.name.length}-${Math.random()}`));
  const hasher = new HmacHasher(Buffer.alloc(32, 9));
  importSnapshot(
    store,
    hasher,
    {
      passes: [
        pass({
          id: 'guest',
          ...live,
          credentials: [
            { type: 'qr', value: VALID },
            { type: 'pin', value: '246810' },
          ],
        }),
        pass({ id: 'banned', ...live, revoked: true, credentials: [{ type: 'qr', value: REVOKED }] }),
      ],
      accessGroups: [],
    },
    { policy: { maxValidityMs: 366 * 86_400_000 }, now },
  );
  const clock = systemClock;
  const log = recordingLogger();
  const journal = new Journal(store, 'panel-west', clock, log);
  const access = new AccessControl(store, hasher, new Zone('Europe/Berlin'), 'panel-west', journal.ids);
  const line = new RecordingLine();
  const relay = new RelayPulse(line, clock);
  const door = new DoorController(
    'lobby',
    relay,
    { pulseMs: 200, heldOpenMs: 30_000, graceMs: 2000 },
    clock,
    journal,
    log,
  );
  const pipeline = new AccessPipeline(access, new Map([['lobby', door]]), clock, log);
  const controllers: InputController[] = [];
  const attach = (source: CameraInput | FakeSource): InputController => {
    const c = new InputController(source, 'lobby', pipeline, journal, clock, log, DEFAULT_KEYPAD, {
      ...DEFAULT_LOCKOUT,
      maxFailures: 100,
    });
    source.start(c);
    controllers.push(c);
    return c;
  };
  t.teardown(async () => {
    for (const c of controllers) await c.stop();
    relay.close();
    store.close();
  });
  return { pipeline, line, log, attach, store };
}

const until = async (cond: () => boolean, what: string, ms = 15_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

const camera = (command: string[], extra: Partial<CameraInputOptions> = {}, width = 640, height = 480) =>
  new CameraInput(
    {
      type: 'camera',
      door: 'lobby',
      source: { type: 'command', command, width, height, pixelFormat: 'gray' },
      ...extra,
    },
    systemClock,
    recordingLogger(),
  );

t.test('a command camera: no code, a valid pass (door opens), a revoked pass (refused)', async (t) => {
  const { pipeline, line, attach } = rig(t);
  const scene = (text: string | null, seed: number) =>
    text === null
      ? noCodeScene(new Prng(seed), 640, 480, { noise: 4 })
      : renderScene(new Prng(seed), 640, 480, {
          text,
          codeFrac: 0.3,
          angle: -9,
          perspective: 0.05,
          noise: 4,
        });
  const raw = (name: string, text: string | null, seed: number): string => {
    const p = path.join(dir, name);
    writeFileSync(p, scene(text, seed).data);
    return `'${p}'`;
  };
  const none = raw('none.gray', null, 1);
  const valid = raw('valid.gray', VALID, 2);
  const revoked = raw('revoked.gray', REVOKED, 3);
  const show = (f: string, n: number): string => `for i in $(seq ${n}); do cat ${f}; sleep 0.03; done`;
  // Contract: inputs: [ { type: camera, door: lobby, source: { type: command, command: ["sh", "-c", "…"],
  // width: 640, height: 480, pixelFormat: gray } } ]
  const cam = camera([
    'sh',
    '-c',
    `${show(none, 3)}; ${show(valid, 5)}; ${show(none, 3)}; ${show(revoked, 5)}; exec sleep 30`,
  ]);
  const input = attach(cam);
  await until(() => pipeline.decisionCount === 2 && cam.counters.source.frames === 16, 'two decisions');
  await new Promise((r) => setTimeout(r, 100));
  t.same(
    pipeline.recent.map((d) => [d.source, d.credentialType, d.granted, d.reason, d.passId]),
    [
      ['camera:command:lobby', 'qr', true, null, 'guest'],
      ['camera:command:lobby', 'qr', false, 'revoked', 'banned'],
    ],
    'each code once, through the same decision path as scanned QR text',
  );
  t.same(line.states.slice(0, 2), [false, true], 'the valid pass pulsed the relay');
  t.equal(input.status().readErrors, 0);
  t.equal(input.status().online, true);
});

t.test(
  'the main thread stays free while the decode worker is kept busy with noisy 1280x720 frames',
  async (t) => {
    const { pipeline, attach } = rig(t);
    const noisy = [0, 1].map((i) => {
      const p = path.join(dir, `noisy-${i}.gray`);
      writeFileSync(p, noCodeScene(new Prng(50 + i), 1280, 720, { noise: 28, clutter: 80 }).data);
      return p;
    });
    // 30 frames per second, alternating two noisy frames: jsQR takes far longer than 33 ms on each.
    const writer = `const fs=require('fs');const f=process.argv.slice(1).map(p=>fs.readFileSync(p));let i=0;setInterval(()=>process.stdout.write(f[i++%2]),33)`;
    const cam = camera(
      [process.execPath, '-e', writer, ...noisy],
      { decoder: 'jsqr', skipUnchanged: false },
      1280,
      720,
    );
    attach(cam);
    const keypad = new FakeSource('keypad');
    attach(keypad);
    await until(() => cam.counters.decoded >= 1, 'decoding under way', 20_000);

    const lags: number[] = [];
    const pinDelays: number[] = [];
    const windowMs = 1500;
    await new Promise<void>((resolve) => {
      const start = performance.now();
      let expected = start + 10;
      const tick = setInterval(() => {
        const at = performance.now();
        lags.push(at - expected);
        expected = at + 10;
        if (at - start > windowMs) {
          clearInterval(tick);
          resolve();
        }
      }, 10);
      for (let k = 1; k * 150 < windowMs; k++) {
        const due = start + k * 150;
        setTimeout(() => {
          const before = pipeline.decisionCount;
          keypad.type('246810#');
          if (pipeline.decisionCount === before + 1 && pipeline.recent.at(-1)?.granted === true)
            pinDelays.push(performance.now() - due);
        }, k * 150);
      }
    });
    const maxLag = Math.max(...lags);
    const maxPin = Math.max(...pinDelays);
    t.comment(
      `timer lag max ${maxLag.toFixed(1)} ms over ${lags.length} ticks; PIN decision delay max ${maxPin.toFixed(1)} ms ` +
        `(${pinDelays.length} PINs); camera frames ${cam.counters.frames}, decoded ${cam.counters.decoded}, dropped ${cam.counters.dropped}`,
    );
    // Behaviour, not a latency figure (that is `npm run bench`'s qr.* lines): the timers keep ticking and
    // every PIN is decided while the worker is busy. The bound only catches a main thread held for a whole
    // run of frames (decoding there would block it for seconds); a suite running heavy tests beside this one
    // on two cores made 100 ms flaky (226 ms seen).
    t.ok(lags.length >= 10, `the main thread's timers kept ticking (${lags.length} ticks)`);
    t.ok(maxLag < 1000, `timer lag stays under a second (${maxLag.toFixed(1)} ms)`);
    t.equal(pinDelays.length, 9, 'every PIN decided (and granted)');
    t.ok(maxPin < 1000, `PIN decisions not held up for a second (${maxPin.toFixed(1)} ms)`);
    t.ok(cam.counters.dropped > 10, 'the worker was busy: frames were dropped, not queued');
  },
);

t.test('from the build: the worker entry resolves to dist/.../decode-worker.js and decodes', async (t) => {
  const entry = fileURLToPath(new URL('../../dist/src/adapters/camera/camera-input.js', import.meta.url));
  if (!existsSync(entry)) {
    t.pass('skipped: dist is not built (npm test builds it first)');
    return;
  }
  const script = `
    const { CameraInput } = await import(${JSON.stringify(pathToFileURL(entry).href)});
    const { selfTestFrame } = await import(${JSON.stringify(pathToFileURL(entry.replace('camera-input.js', 'decoders.js')).href)});
    const clock = { now: Date.now, monotonic: () => performance.now(), after: (ms, fn) => { const h = setTimeout(fn, ms); return { cancel: () => clearTimeout(h) }; } };
    const log = { info() {}, warn() {}, error() {}, debug() {} };
    const listeners = [];
    const cam = new CameraInput({ type: 'camera', door: 'lobby', source: { type: 'bridge', path: 'x' } }, clock, log, { bridge: { onMessage: (l) => listeners.push(l) } });
    const text = new Promise((resolve) => cam.start({ key() {}, readError() {}, online() {}, credential: (_t, v) => resolve(v) }));
    while (cam.decoderDescription === '') await new Promise((r) => setTimeout(r, 5));
    const f = selfTestFrame();
    for (const l of listeners) l({ type: 'frame', frameId: 1, chunkIndex: 0, chunkCount: 1, width: f.width, height: f.height, pixels: f.data });
    process.stdout.write(JSON.stringify({ text: await text, decoder: cam.decoderDescription }));
    await cam.stop();`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 20_000,
    // Plain node, as the daemon runs: without tap's loaders (NODE_OPTIONS) in the child.
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  t.equal(r.status, 0, r.stderr);
  t.match(JSON.parse(r.stdout || '{}'), {
    text: 'doorpass zxing self-test',
    decoder: /luminance entry point \(self-test ok\)/,
  });
});
