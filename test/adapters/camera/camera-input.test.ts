/**
 * CameraInput with the bridge source (a fake link) and a fake clock: reassembly, hold-off, latest frame
 * wins, online/offline, and the decode worker loaded from src.
 */
import t, { type Test } from 'tap';
import type { BridgeToHostMessage } from '../../../src/protocol/bridge.js';
import { CameraInput, type CameraInputOptions } from '../../../src/adapters/camera/camera-input.js';
import type { GreyFrame } from '../../../src/adapters/camera/frame.js';
import type { DecoderName } from '../../../src/adapters/camera/decoders.js';
import { DecodePipeline } from '../../../src/adapters/camera/pipeline.js';
import { noCodeScene, passPayload, Prng, renderScene } from '../../../scripts/qr-corpus.js';
import { FakeClock, recordingLogger } from '../../helpers/fakes.js';

class FakeFeed {
  private listeners: ((m: BridgeToHostMessage) => void)[] = [];
  onMessage(l: (m: BridgeToHostMessage) => void): void {
    this.listeners.push(l);
  }
  send(m: BridgeToHostMessage): void {
    for (const l of this.listeners) l(m);
  }
  /** The frame as FRAME chunks of up to 1010 pixels; `upTo` chunks only (an incomplete frame). */
  frame(f: GreyFrame, frameId: number, upTo = Number.POSITIVE_INFINITY): void {
    const chunkCount = Math.ceil(f.data.length / 1010);
    for (let i = 0; i < Math.min(chunkCount, upTo); i++) {
      this.send({
        type: 'frame',
        frameId,
        chunkIndex: i,
        chunkCount,
        width: f.width,
        height: f.height,
        pixels: f.data.slice(i * 1010, (i + 1) * 1010),
      });
    }
  }
}

class Recorder {
  events: string[] = [];
  credentials: string[] = [];
  readErrors: string[] = [];
  key(k: string): void {
    this.events.push(`key ${k}`);
  }
  credential(type: string, value: string): void {
    this.events.push(`credential ${type}`);
    this.credentials.push(value);
  }
  readError(detail: string): void {
    this.events.push('readError');
    this.readErrors.push(detail);
  }
  online(online: boolean): void {
    this.events.push(online ? 'online' : 'offline');
  }
}

const until = async (cond: () => boolean, what: string, ms = 10_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

const rng = new Prng(42);
const A = passPayload(rng, 40);
const B = passPayload(rng, 90);
const W = 320;
const H = 240;
const scene = (text: string | null, seed: number): GreyFrame =>
  text === null
    ? noCodeScene(new Prng(seed), W, H, { noise: 3 })
    : renderScene(new Prng(seed), W, H, { text, codeFrac: 0.45, noise: 2, clutter: 6 });
const frameA = scene(A, 1);
const frameB = scene(B, 2);
const none = scene(null, 3);

function rig(t: Test, extra: Partial<CameraInputOptions> = {}) {
  const clock = new FakeClock(Date.parse('2026-06-15T12:00:00Z'));
  const log = recordingLogger();
  const feed = new FakeFeed();
  const input = new CameraInput(
    {
      type: 'camera',
      door: 'lobby',
      source: { type: 'bridge', path: '/dev/ttyBRIDGE' },
      holdOffMs: 2000,
      ...extra,
    },
    clock,
    log,
    { bridge: feed },
  );
  const rec = new Recorder();
  input.start(rec);
  t.teardown(() => input.stop());
  const results = (): number => input.counters.decoded + input.counters.unchanged;
  let id = 0;
  /** Sends a frame and waits for its result. */
  const show = async (f: GreyFrame): Promise<void> => {
    const before = results();
    feed.frame(f, ++id & 0xffff);
    await until(() => results() > before, 'frame result');
  };
  return { clock, log, feed, input, rec, show, results, nextId: () => ++id & 0xffff };
}

t.test(
  'a code held in view counts once; again only after the hold-off out of view; another code at once',
  async (t) => {
    const { clock, input, rec, show } = rig(t);
    await until(() => input.decoderDescription !== '', 'decoder loaded');
    t.equal(input.name, 'camera:bridge:lobby');
    await show(frameA);
    t.same(rec.credentials, [A], 'first sight');
    t.same(rec.events.slice(0, 2), ['online', 'credential qr'], 'online once frames and decoder are there');
    clock.advance(100);
    await show(frameA);
    clock.advance(100);
    await show(frameA);
    t.same(rec.credentials, [A], 'held in view: once');
    clock.advance(100);
    await show(frameB);
    t.same(rec.credentials, [A, B], 'a different code counts at once');
    clock.advance(100);
    await show(frameA);
    t.same(rec.credentials, [A, B], 'A was out of view for 200 ms only');
    clock.advance(1000);
    await show(none);
    clock.advance(899);
    await show(frameA);
    t.same(rec.credentials, [A, B], 'out of view 1999 ms: still the same attempt');
    clock.advance(1000);
    await show(none);
    clock.advance(1000);
    await show(frameA);
    t.same(rec.credentials, [A, B, A], 'out of view for the hold-off (2000 ms): a new attempt');
    t.equal(rec.readErrors.length, 0);
    t.equal(input.counters.credentials, 3);
  },
);

t.test('latest frame wins: frames arriving while the worker is busy are dropped and counted', async (t) => {
  const { input, feed, results, nextId } = rig(t, { skipUnchanged: false });
  await until(() => input.decoderDescription !== '', 'decoder loaded');
  for (let i = 0; i < 10; i++) feed.frame(i % 2 === 0 ? frameA : none, nextId());
  t.equal(input.counters.frames, 10);
  t.equal(input.counters.dropped, 8, 'one in the worker, the last one waiting, 8 replaced');
  await until(() => results() === 2, 'two decodes');
  await new Promise((r) => setTimeout(r, 50));
  t.equal(results(), 2, 'nothing queued behind them');
  t.equal(input.counters.decoded, 2);
});

t.test(
  'bridge reassembly: an incomplete frame is dropped when the next starts; bad chunks are reported',
  async (t) => {
    const { input, feed, rec, show } = rig(t);
    await until(() => input.decoderDescription !== '', 'decoder loaded');
    feed.frame(frameB, 500, 10); // 10 of 77 chunks, then another frame starts
    await show(frameA);
    t.same(rec.credentials, [A]);
    t.equal(input.counters.source.incomplete, 1);
    t.equal(input.counters.source.frames, 1);
    // A chunk out of order drops the frame and reports it (no content in the report).
    feed.send({
      type: 'frame',
      frameId: 9,
      chunkIndex: 0,
      chunkCount: 3,
      width: 10,
      height: 10,
      pixels: new Uint8Array(40),
    });
    feed.send({
      type: 'frame',
      frameId: 9,
      chunkIndex: 2,
      chunkCount: 3,
      width: 10,
      height: 10,
      pixels: new Uint8Array(30),
    });
    // Pixels that do not add up to width x height.
    feed.send({
      type: 'frame',
      frameId: 10,
      chunkIndex: 0,
      chunkCount: 1,
      width: 10,
      height: 10,
      pixels: new Uint8Array(60),
    });
    // A size beyond any camera.
    feed.send({
      type: 'frame',
      frameId: 11,
      chunkIndex: 0,
      chunkCount: 1,
      width: 65535,
      height: 65535,
      pixels: new Uint8Array(5),
    });
    // The middle of a frame whose start was lost.
    feed.send({
      type: 'frame',
      frameId: 12,
      chunkIndex: 1,
      chunkCount: 3,
      width: 10,
      height: 10,
      pixels: new Uint8Array(30),
    });
    feed.send({
      type: 'frame',
      frameId: 12,
      chunkIndex: 2,
      chunkCount: 3,
      width: 10,
      height: 10,
      pixels: new Uint8Array(30),
    });
    // A chunk whose size changed mid-frame, and one with too many pixels.
    feed.send({
      type: 'frame',
      frameId: 13,
      chunkIndex: 0,
      chunkCount: 2,
      width: 10,
      height: 10,
      pixels: new Uint8Array(50),
    });
    feed.send({
      type: 'frame',
      frameId: 13,
      chunkIndex: 1,
      chunkCount: 2,
      width: 10,
      height: 11,
      pixels: new Uint8Array(50),
    });
    feed.send({
      type: 'frame',
      frameId: 14,
      chunkIndex: 0,
      chunkCount: 2,
      width: 10,
      height: 10,
      pixels: new Uint8Array(90),
    });
    feed.send({
      type: 'frame',
      frameId: 14,
      chunkIndex: 1,
      chunkCount: 2,
      width: 10,
      height: 10,
      pixels: new Uint8Array(20),
    });
    feed.send({ type: 'key', key: '1' });
    t.same(rec.readErrors, [
      'bridge camera frame dropped: chunk 2 of 3 when 1 of 3 was due',
      'bridge camera frame dropped: 60 of 100 pixels in 1 chunks',
      'bridge camera frame dropped: size 65535x65535',
      'bridge camera frame dropped: size changed within a frame (10x10 -> 10x11)',
      'bridge camera frame dropped: more than 10x10 pixels',
    ]);
    t.equal(input.counters.source.malformed, 5);
    t.equal(input.counters.source.incomplete, 2, 'the orphaned middle counted once');
    t.equal(input.counters.source.frames, 1);
  },
);

t.test('no frame for stallMs: offline; frames again: online', async (t) => {
  const { clock, input, rec, show } = rig(t, { stallMs: 3000 });
  await until(() => input.decoderDescription !== '', 'decoder loaded');
  await show(none);
  t.same(rec.events, ['online']);
  clock.advance(2999);
  t.same(rec.events, ['online']);
  clock.advance(1);
  t.same(rec.events, ['online', 'offline']);
  clock.advance(10_000);
  t.same(rec.events, ['online', 'offline'], 'reported once');
  await show(frameA);
  t.same(rec.events, ['online', 'offline', 'online', 'credential qr']);
  t.equal(input.counters.source.stalls, 1);
});

t.test('a bridge source needs the link; stop() ends the worker; feedback is a no-op', async (t) => {
  const clock = new FakeClock(0);
  t.throws(
    () =>
      new CameraInput(
        { type: 'camera', door: 'x', source: { type: 'bridge', path: '/dev/x' } },
        clock,
        recordingLogger(),
      ),
    /no bridge link/,
  );
  const { input, feed, rec } = rig(t);
  input.feedback('accept');
  await until(() => input.decoderDescription !== '', 'decoder loaded');
  await input.stop();
  feed.frame(frameA, 77);
  await new Promise((r) => setTimeout(r, 50));
  t.same(rec.credentials, [], 'nothing after stop');
  await input.stop();
});

t.test('a decoder that cannot load: reported unavailable, retried with backoff, never a crash', async (t) => {
  const clock = new FakeClock(0);
  const statuses: string[] = [];
  const pipeline = new DecodePipeline(
    { decoder: 'bogus' as DecoderName, invert: false, maxWidth: 0, skipUnchanged: true },
    clock,
    recordingLogger(),
    { result: () => statuses.push('result'), status: (ok, detail) => statuses.push(`${ok} ${detail}`) },
    { restartMinMs: 100, restartMaxMs: 400 },
  );
  t.teardown(() => pipeline.stop());
  pipeline.start();
  pipeline.push(frameA, 0);
  await until(() => statuses.length === 1, 'first failure');
  t.same(statuses, ['false decoder failed to load: unknown QR decoder bogus (expected zxing or jsqr)']);
  clock.advance(99);
  t.equal(pipeline.counters.workerRestarts, 0);
  clock.advance(1);
  t.equal(pipeline.counters.workerRestarts, 1, 'restarted after 100 ms');
  await until(() => statuses.length === 2, 'second failure');
  clock.advance(199);
  t.equal(pipeline.counters.workerRestarts, 1);
  clock.advance(1);
  t.equal(pipeline.counters.workerRestarts, 2, 'then after 200 ms');
  t.equal(pipeline.isReady, false);
  t.equal(pipeline.counters.decoded, 0);
});
