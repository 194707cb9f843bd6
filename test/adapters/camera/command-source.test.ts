/**
 * The `command` source with real child processes (sh scripts writing prepared raw frames): frames cut by
 * exact size, gray and yuv420, restart with backoff, a garbled stream reported and never thrown.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CameraInput, type CameraInputOptions } from '../../../src/adapters/camera/camera-input.js';
import { CommandSource, looksSheared } from '../../../src/adapters/camera/command-source.js';
import type { GreyFrame } from '../../../src/adapters/camera/frame.js';
import { systemClock } from '../../../src/app/relay.js';
import { noCodeScene, passPayload, Prng, renderScene } from '../../../scripts/qr-corpus.js';
import { recordingLogger } from '../../helpers/fakes.js';

const W = 320;
const H = 240;
const rng = new Prng(5);
const A = passPayload(rng, 40);
const B = passPayload(rng, 90);
const codeFrame = (text: string, seed: number): GreyFrame =>
  renderScene(new Prng(seed), W, H, { text, codeFrac: 0.45, noise: 2, clutter: 6 });
const frames = {
  none: noCodeScene(new Prng(9), W, H, { noise: 3 }),
  a: codeFrame(A, 1),
  b: codeFrame(B, 2),
};

const dir = mkdtempSync(path.join(tmpdir(), 'doorpass-camera-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, bytes: Uint8Array): string => {
  const p = path.join(dir, name);
  writeFileSync(p, bytes);
  return p;
};
const none = file('none.gray', frames.none.data);
const a = file('a.gray', frames.a.data);
const b = file('b.gray', frames.b.data);
// yuv420 (I420): the Y plane, then U and V planes of a quarter each (neutral chroma).
const yuvA = file('a.yuv', Buffer.concat([frames.a.data, Buffer.alloc((W * H) / 2, 128)]));
// The same scene written 256 pixels wide: read as 320 wide, each row starts at another place.
const narrow = file(
  'narrow.gray',
  noCodeScene(new Prng(3), 256, Math.floor((W * H) / 256), { noise: 2, clutter: 30 }).data,
);

class Recorder {
  events: string[] = [];
  credentials: string[] = [];
  readErrors: string[] = [];
  key(): void {}
  credential(_type: string, value: string): void {
    this.events.push('credential');
    this.credentials.push(value);
  }
  readError(detail: string): void {
    this.events.push('readError');
    this.readErrors.push(detail);
  }
  online(online: boolean, detail?: string): void {
    this.events.push(online ? 'online' : `offline: ${detail ?? ''}`);
  }
}

const until = async (cond: () => boolean, what: string, ms = 10_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

function camera(t: Test, script: string, extra: Partial<CameraInputOptions> = {}) {
  const log = recordingLogger();
  const input = new CameraInput(
    {
      type: 'camera',
      door: 'lobby',
      source: { type: 'command', command: ['sh', '-c', script], width: W, height: H, pixelFormat: 'gray' },
      restartMinMs: 100,
      restartMaxMs: 400,
      ...extra,
    },
    systemClock,
    log,
  );
  const rec = new Recorder();
  input.start(rec);
  t.teardown(() => input.stop());
  return { input, rec, log };
}

const q = (p: string): string => `'${p}'`;
/** Shows a frame `n` times, 40 ms apart (a code held in view). */
const hold = (p: string, n = 3): string => `for i in $(seq ${n}); do cat ${q(p)}; sleep 0.04; done`;

t.test('raw grey frames: no code, then a code, then another: each text delivered once', async (t) => {
  const pidFile = path.join(dir, 'camera.pid');
  const { input, rec } = camera(
    t,
    `echo $$ > ${q(pidFile)}; ${hold(none)}; ${hold(a, 4)}; ${hold(none, 2)}; ${hold(b, 4)}; exec sleep 30`,
  );
  await until(() => rec.credentials.length >= 2 && (input.counters.source.frames ?? 0) >= 13, 'both codes');
  await new Promise((r) => setTimeout(r, 100));
  t.same(rec.credentials, [A, B]);
  t.same(rec.events, ['online', 'credential', 'credential']);
  t.same(rec.readErrors, []);
  t.equal(input.counters.source.frames, 13);
  t.equal(input.counters.source.starts, 1);
  t.equal(input.name, 'camera:command:lobby');
  const pid = Number(readFileSync(pidFile, 'utf8'));
  t.doesNotThrow(() => process.kill(pid, 0), 'the camera process runs');
  await input.stop();
  t.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'stop() ended it');
});

t.test('yuv420: the Y plane is used, the chroma skipped', async (t) => {
  const { input, rec } = camera(t, `${hold(yuvA, 2)}; ${hold(yuvA, 1)}; exec sleep 30`, {
    source: {
      type: 'command',
      command: ['sh', '-c', `${hold(yuvA, 3)}; exec sleep 30`],
      width: W,
      height: H,
      pixelFormat: 'yuv420',
    },
  });
  await until(() => (input.counters.source.frames ?? 0) >= 3, 'frames');
  await until(() => rec.credentials.length === 1, 'the code');
  t.same(rec.credentials, [A]);
});

t.test(
  'a process that exits is restarted with backoff: offline, then online again; stderr to the log',
  async (t) => {
    const { input, rec, log } = camera(t, `echo 'camera warming up' >&2; cat ${q(none)}; sleep 0.05; exit 3`);
    await until(() => (input.counters.source.starts ?? 0) >= 3, 'two restarts');
    t.match(rec.events.slice(0, 3), ['online', /^offline: sh exited \(code 3\) after 1 frames/, 'online']);
    t.same(rec.readErrors, [], 'a clean exit on a frame boundary is no read error');
    t.ok(log.lines.some((l) => l.level === 'debug' && JSON.stringify(l.obj).includes('camera warming up')));
    const warn = log.lines.find((l) => l.level === 'warn' && l.msg?.includes('exited (code 3)') === true);
    t.match(warn?.obj, { stderr: ['camera warming up'] }, 'the last stderr lines come with the exit');
  },
);

t.test('a program that cannot run is reported offline and retried', async (t) => {
  const log = recordingLogger();
  const input = new CameraInput(
    {
      type: 'camera',
      door: 'lobby',
      source: {
        type: 'command',
        command: [path.join(dir, 'no-such-camera')],
        width: W,
        height: H,
        pixelFormat: 'gray',
      },
      restartMinMs: 50,
    },
    systemClock,
    log,
  );
  const rec = new Recorder();
  input.start(rec);
  t.teardown(() => input.stop());
  await until(() => (input.counters.source.starts ?? 0) >= 2, 'retried');
  t.match(rec.events[0], /^offline: cannot run .*no-such-camera: spawn .* ENOENT/);
});

t.test('garbled streams are reported, not crashed on', async (t) => {
  t.test('a short final frame', async (t) => {
    const { input, rec } = camera(t, `cat ${q(none)}; head -c 1000 ${q(a)}; exit 0`);
    await until(() => rec.readErrors.length > 0, 'reported');
    t.match(
      rec.readErrors[0],
      /camera stream ended with a partial frame: 1000 of 76800 bytes \(configured 320x240 gray/,
    );
    t.equal(input.counters.source.partialFrames, 1);
    t.equal((input.counters.source.frames ?? 0) >= 1, true);
  });
  t.test('a stall in the middle of a frame', async (t) => {
    const { input, rec } = camera(t, `cat ${q(none)}; head -c 5000 ${q(a)}; exec sleep 30`, { stallMs: 400 });
    await until(() => (input.counters.source.starts ?? 0) >= 2, 'killed and restarted');
    t.match(rec.readErrors, [
      /stalled with a partial frame: 5000 of 76800 bytes/,
      /camera stalled: no complete frame for 400 ms/,
    ]);
    t.match(rec.events, ['online', 'readError', 'readError', /^offline: sh exited \(signal SIGTERM\)/]);
    t.equal(input.counters.source.stalls, 1);
  });
  t.test('frames of the wrong width', async (t) => {
    const { input, rec } = camera(t, `for i in 1 2 3 4; do cat ${q(narrow)}; done; exec sleep 30`);
    await until(() => rec.readErrors.length > 0, 'reported');
    t.match(
      rec.readErrors[0],
      /camera frames look sheared: is the width right \(320x240 gray configured\)\?/,
    );
    t.equal(input.counters.source.shearWarnings, 1);
    t.same(rec.credentials, []);
  });
});

t.test(
  'looksSheared: natural frames are not, rows of another width are, flat frames say nothing',
  async (t) => {
    t.equal(looksSheared(frames.none), false);
    t.equal(looksSheared(frames.a), false);
    const n = noCodeScene(new Prng(3), 256, Math.floor((W * H) / 256), { noise: 2, clutter: 30 });
    t.equal(looksSheared({ width: W, height: H, data: n.data }), true);
    t.equal(looksSheared({ width: W, height: H, data: new Uint8Array(W * H).fill(9) }), false);
    t.equal(looksSheared({ width: 4, height: 4, data: new Uint8Array(16) }), false);
  },
);

t.test('CommandSource refuses an empty command or size', async (t) => {
  const timing = { stallMs: 1000, restartMinMs: 10, restartMaxMs: 10 };
  t.throws(
    () =>
      new CommandSource(
        { type: 'command', command: [], width: 1, height: 1, pixelFormat: 'gray' },
        timing,
        systemClock,
        recordingLogger(),
      ),
  );
  t.throws(
    () =>
      new CommandSource(
        { type: 'command', command: ['x'], width: 0, height: 1, pixelFormat: 'gray' },
        timing,
        systemClock,
        recordingLogger(),
      ),
  );
});
