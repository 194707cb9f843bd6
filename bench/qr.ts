/**
 * Camera QR decoding (src/adapters/camera), every figure beside naive jsQR measured in the same run on the
 * same frames: jsQR called on an RGBA image with its default options (inversionAttempts 'attemptBoth',
 * passed explicitly because jsQR mutates its shared defaults).
 *
 *   qr.{zxing,jsqr,pipeline}.{nocode,code}.{640x480,1280x720}.ms   vs qr.jsqr_naive.{nocode,code}.<size>.ms
 *   qr.zxing_readBarcodes.{nocode,code}.<size>.ms                   vs the same (zxing-wasm's public API,
 *                                                                   RGBA, QR only, its default try* options)
 *   qr.pipeline.fps.<size>                                          vs qr.jsqr_naive.fps.<size>
 *   qr.pipeline.static.640x480.ms, qr.pipeline.downscale.{nocode,code}.1280x720.ms,
 *   qr.rate.small.1280x720.pipeline_downscale                       the cheap rejections, each vs the
 *                                                                   pipeline without it
 *   qr.rate.<distortion>.{zxing,jsqr,zxing_readBarcodes,pipeline,pipeline_downscale}
 *                                                                   vs qr.rate.<distortion>.jsqr_naive (%);
 *                                                                   also <distortion> = all, all.<size>
 *   qr.e2e.640x480.{p50,p99}.ms                                     frame with a valid code in -> relay
 *                                                                   pulsed, through the real decision path,
 *                                                                   vs qr.jsqr_naive.code.640x480.ms
 *
 * Per-frame times are the median over several frames and repetitions; "nocode" frames are cluttered scenes
 * (some with a phone showing a blank screen) with sensor noise, "code" frames a phone with a pass code held
 * up at a moderate angle. The corpus is generated (scripts/qr-corpus.ts, seeded); nothing is read from disk.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import jsQRModule from 'jsqr';
import { readBarcodes } from 'zxing-wasm/reader';
import { CameraInput } from '../src/adapters/camera/camera-input.js';
import { JsqrDecoder, qrText, ZxingDecoder, type QrDecoder } from '../src/adapters/camera/decoders.js';
import type { GreyFrame } from '../src/adapters/camera/frame.js';
import { DecodePipeline, type FrameResult } from '../src/adapters/camera/pipeline.js';
import type { DecodeWorkerConfig } from '../src/adapters/camera/worker-protocol.js';
import { HmacHasher } from '../src/adapters/hasher.js';
import { SqlitePassStore } from '../src/adapters/sqlite/store.js';
import { AccessControl } from '../src/app/access.js';
import { DoorController } from '../src/app/door-controller.js';
import { importSnapshot } from '../src/app/import.js';
import { InputController } from '../src/app/input-controller.js';
import { Journal } from '../src/app/journal.js';
import { AccessPipeline } from '../src/app/pipeline.js';
import { RelayPulse, systemClock } from '../src/app/relay.js';
import { DEFAULT_KEYPAD } from '../src/core/keypad.js';
import { DEFAULT_LOCKOUT } from '../src/core/lockout.js';
import { Zone } from '../src/core/zone.js';
import type { BridgeToHostMessage } from '../src/protocol/bridge.js';
import type { Logger, RelayLine } from '../src/ports/io.js';
import {
  DISTORTIONS,
  generateCorpus,
  noCodeScene,
  passPayload,
  Prng,
  renderScene,
  type CorpusFrame,
} from '../scripts/qr-corpus.js';
import { emit, log, nowNs, percentile } from './stats.js';

const SEED = 0x51c0de;
const SIZES = [
  [640, 480],
  [1280, 720],
] as const;
/** Frames per distortion for the decode rates, at each size. */
const RATE_FRAMES: Record<string, number> = { '640x480': 8, '1280x720': 3 };
const TIMING_FRAMES = 3;
const E2E_SAMPLES = 40;

type NaiveJsQR = (
  data: Uint8ClampedArray,
  width: number,
  height: number,
  options: { inversionAttempts: 'attemptBoth' },
) => { binaryData: number[] } | null;
const jsQR: NaiveJsQR = ((m: unknown): NaiveJsQR => {
  const d = (m as { default?: unknown }).default;
  return (typeof d === 'function' ? d : m) as NaiveJsQR;
})(jsQRModule);

const silent: Logger = { info() {}, warn() {}, error() {}, debug() {} };
const sizeName = (w: number, h: number): string => `${w}x${h}`;
const ms = (ns: number): number => ns / 1e6;

function rgbaOf(f: GreyFrame): Uint8ClampedArray {
  const out = new Uint8ClampedArray(f.data.length * 4);
  for (let i = 0; i < f.data.length; i++) {
    const v = f.data[i] as number;
    out[i * 4] = v;
    out[i * 4 + 1] = v;
    out[i * 4 + 2] = v;
    out[i * 4 + 3] = 255;
  }
  return out;
}

const textsOf = (codes: Uint8Array[]): string[] =>
  codes.flatMap((c) => {
    const t = qrText(c);
    return 'text' in t ? [t.text] : [];
  });

/** One way of decoding a frame, as the figures name it. */
interface Contender {
  readonly name: string;
  decode(f: GreyFrame, rgba: Uint8ClampedArray): Promise<string[]>;
}

function contenders(zxing: QrDecoder, jsqr: QrDecoder): Contender[] {
  return [
    {
      name: 'jsqr_naive',
      decode: (f, rgba) => {
        const c = jsQR(rgba, f.width, f.height, { inversionAttempts: 'attemptBoth' });
        return Promise.resolve(c === null ? [] : textsOf([Uint8Array.from(c.binaryData)]));
      },
    },
    { name: 'jsqr', decode: async (f) => textsOf(await jsqr.decode(f.data, f.width, f.height)) },
    { name: 'zxing', decode: async (f) => textsOf(await zxing.decode(f.data, f.width, f.height)) },
    {
      name: 'zxing_readBarcodes',
      decode: async (f, rgba) => {
        const results = await readBarcodes(
          { data: rgba, width: f.width, height: f.height },
          { formats: ['QRCode'] },
        );
        return textsOf(results.filter((r) => r.isValid).map((r) => Uint8Array.from(r.bytes)));
      },
    },
  ];
}

/** A pipeline in this process, fed one frame at a time (push, wait for its result). */
class PipelineProbe {
  readonly pipeline: DecodePipeline;
  private waiting: ((r: FrameResult) => void) | undefined;
  private readyWait: (() => void) | undefined;

  constructor(config: Partial<DecodeWorkerConfig> = {}) {
    this.pipeline = new DecodePipeline(
      { decoder: 'zxing', invert: false, maxWidth: 0, skipUnchanged: false, ...config },
      systemClock,
      silent,
      {
        result: (r) => {
          const w = this.waiting;
          this.waiting = undefined;
          w?.(r);
        },
        status: (ok, detail) => {
          if (!ok) throw new Error(`decoder: ${detail}`);
          this.readyWait?.();
        },
      },
    );
  }

  async start(): Promise<this> {
    const ready = new Promise<void>((r) => (this.readyWait = r));
    this.pipeline.start();
    await ready;
    return this;
  }

  decode(f: GreyFrame, at = performance.now()): Promise<FrameResult> {
    const result = new Promise<FrameResult>((r) => (this.waiting = r));
    this.pipeline.push({ width: f.width, height: f.height, data: f.data.slice() }, at);
    return result;
  }

  stop(): Promise<void> {
    return this.pipeline.stop();
  }
}

function timingFrames(width: number, height: number): { nocode: GreyFrame[]; code: GreyFrame[] } {
  const rng = new Prng(SEED ^ width);
  const nocode = Array.from({ length: TIMING_FRAMES }, () => noCodeScene(rng, width, height));
  const code = Array.from({ length: TIMING_FRAMES }, () =>
    renderScene(rng, width, height, {
      text: passPayload(rng, 90),
      codeFrac: rng.range(0.22, 0.32),
      angle: rng.range(-15, 15),
      perspective: rng.range(0, 0.06),
      noise: rng.range(2, 5),
      clutter: rng.int(10, 30),
      cx: rng.next(),
      cy: rng.next(),
    }),
  );
  return { nocode, code };
}

/** Median ms per frame of `decode` over `frames`, each repeated until ~`budgetMs` is spent (min 3 each). */
async function timePerFrame(
  frames: readonly GreyFrame[],
  decode: (f: GreyFrame, i: number) => Promise<unknown>,
  budgetMs: number,
): Promise<number> {
  const samples: number[] = [];
  const started = nowNs();
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < frames.length; i++) {
      const t0 = nowNs();
      await decode(frames[i] as GreyFrame, i);
      samples.push(ms(nowNs() - t0));
    }
    if (round >= 2 && ms(nowNs() - started) > budgetMs) break;
  }
  return percentile(Float64Array.from(samples).sort(), 50);
}

async function perFrameFigures(all: Contender[], probe: PipelineProbe): Promise<Map<string, number>> {
  const naive = new Map<string, number>();
  for (const [w, h] of SIZES) {
    const size = sizeName(w, h);
    const sets = timingFrames(w, h);
    for (const kind of ['nocode', 'code'] as const) {
      const frames = sets[kind];
      const rgbas = frames.map(rgbaOf);
      for (const c of all) await c.decode(frames[0] as GreyFrame, rgbas[0] as Uint8ClampedArray); // warm-up
      const times = new Map<string, number>();
      for (const c of all) {
        const budget = c.name.startsWith('jsqr') ? 600 : 300;
        times.set(
          c.name,
          await timePerFrame(frames, (f, i) => c.decode(f, rgbas[i] as Uint8ClampedArray), budget),
        );
      }
      times.set('pipeline', await timePerFrame(frames, (f) => probe.decode(f), 300));
      const base = times.get('jsqr_naive') as number;
      naive.set(`${kind}.${size}`, base);
      log(
        `${kind} ${size}: ` +
          [...times].map(([n, v]) => `${n} ${v.toFixed(2)} ms`).join(', ') +
          ` (naive jsQR / zxing = ${(base / (times.get('zxing') as number)).toFixed(1)}x)`,
      );
      for (const name of ['zxing', 'jsqr', 'pipeline', 'zxing_readBarcodes'])
        emit(
          `qr.${name}.${kind}.${size}.ms`,
          times.get(name) as number,
          'ms',
          `qr.jsqr_naive.${kind}.${size}.ms`,
          base,
        );
    }
  }
  return naive;
}

/** Frames per second the pipeline sustains when frames come faster than it decodes (a nocode/code mix). */
async function throughput(naive: Map<string, number>): Promise<void> {
  for (const [w, h] of SIZES) {
    const size = sizeName(w, h);
    const sets = timingFrames(w, h);
    const frames = [...sets.nocode, ...sets.code];
    // Latest frame wins: keep one frame waiting at all times, count results for 1.5 s.
    let results = 0;
    let done = false;
    const pipeline = new DecodePipeline(
      { decoder: 'zxing', invert: false, maxWidth: 0, skipUnchanged: false },
      systemClock,
      silent,
      {
        result: () => {
          results++;
          if (!done) feed();
        },
        status: () => {},
      },
    );
    let i = 0;
    const feed = (): void => {
      const f = frames[i++ % frames.length] as GreyFrame;
      pipeline.push({ width: f.width, height: f.height, data: f.data.slice() }, performance.now());
    };
    pipeline.start();
    while (!pipeline.isReady) await new Promise((r) => setTimeout(r, 5));
    feed();
    feed();
    await new Promise((r) => setTimeout(r, 300)); // warm-up
    const r0 = results;
    const t0 = nowNs();
    await new Promise((r) => setTimeout(r, 1500));
    const fps = (results - r0) / (ms(nowNs() - t0) / 1000);
    done = true;
    await pipeline.stop();
    const naiveMs = ((naive.get(`nocode.${size}`) as number) + (naive.get(`code.${size}`) as number)) / 2;
    log(`pipeline ${size}: ${fps.toFixed(0)} frames/s sustained (naive jsQR ${(1000 / naiveMs).toFixed(1)})`);
    emit(`qr.pipeline.fps.${size}`, fps, 'fps', `qr.jsqr_naive.fps.${size}`, 1000 / naiveMs);
  }
}

/** The cheap rejections, each measured against the pipeline without it. */
async function rejections(): Promise<void> {
  // Skipping unchanged frames: a still scene (an empty hall) with fresh sensor noise in every frame.
  const rng = new Prng(SEED ^ 0x57a7);
  const still = noCodeScene(rng, 640, 480, { noise: 0, clutter: 40 });
  const noisy = Array.from({ length: 30 }, () => {
    const data = still.data.map((v) => Math.max(0, Math.min(255, Math.round(v + 4 * rng.gauss()))));
    return { width: 640, height: 480, data };
  });
  const perFrame = async (config: Partial<DecodeWorkerConfig>): Promise<{ wall: number; worker: number }> => {
    const p = await new PipelineProbe(config).start();
    let t = 0;
    const wall: number[] = [];
    for (let round = 0; round < 3; round++) {
      for (const f of noisy) {
        t += 33;
        const a = nowNs();
        await p.decode(f, t);
        wall.push(ms(nowNs() - a));
      }
    }
    const worker = p.pipeline.counters.workerMs / p.pipeline.counters.frames;
    await p.stop();
    return { wall: percentile(Float64Array.from(wall).sort(), 50), worker };
  };
  const skip = await perFrame({ skipUnchanged: true });
  const noSkip = await perFrame({ skipUnchanged: false });
  log(
    `still scene 640x480: worker ${skip.worker.toFixed(2)} ms/frame skipping unchanged frames, ` +
      `${noSkip.worker.toFixed(2)} ms without (wall p50 ${skip.wall.toFixed(2)} vs ${noSkip.wall.toFixed(2)})`,
  );
  emit(
    'qr.pipeline.static.640x480.ms',
    skip.worker,
    'ms',
    'qr.pipeline.static.noskip.640x480.ms',
    noSkip.worker,
  );

  // Downscaling 1280x720 to 640x360 before decoding.
  const sets = timingFrames(1280, 720);
  const full = await new PipelineProbe().start();
  const half = await new PipelineProbe({ maxWidth: 640 }).start();
  for (const kind of ['nocode', 'code'] as const) {
    const a = await timePerFrame(sets[kind], (f) => full.decode(f), 300);
    const b = await timePerFrame(sets[kind], (f) => half.decode(f), 300);
    log(`downscale 1280x720 ${kind}: ${b.toFixed(2)} ms at maxWidth 640, ${a.toFixed(2)} ms full size`);
    emit(`qr.pipeline.downscale.${kind}.1280x720.ms`, b, 'ms', `qr.pipeline.${kind}.1280x720.ms`, a);
  }
  // What downscaling costs: small codes (a phone held far away) at 1280x720, read by both.
  const small = generateCorpus({
    seed: SEED ^ 0x5a11,
    perDistortion: 16,
    noCode: 0,
    sizes: [[1280, 720]],
    distortions: ['small'],
  });
  let fullHits = 0;
  let halfHits = 0;
  let at = 0;
  for (const f of small) {
    at += 10_000;
    if ((await full.decode(f, at)).texts.includes(f.text as string)) fullHits++;
    if ((await half.decode(f, at)).texts.includes(f.text as string)) halfHits++;
  }
  log(
    `small codes at 1280x720: ${halfHits}/${small.length} read at maxWidth 640, ${fullHits}/${small.length} full size`,
  );
  emit(
    'qr.rate.small.1280x720.pipeline_downscale',
    (100 * halfHits) / small.length,
    '%',
    'qr.rate.small.1280x720.pipeline',
    (100 * fullHits) / small.length,
  );
  await full.stop();
  await half.stop();
}

/** Decode rate per distortion on the corpus, for each decoder and the pipeline, vs naive jsQR. */
async function rates(all: Contender[]): Promise<void> {
  const corpus: CorpusFrame[] = [];
  const t0 = nowNs();
  for (const [w, h] of SIZES) {
    corpus.push(
      ...generateCorpus({
        seed: SEED,
        perDistortion: RATE_FRAMES[sizeName(w, h)],
        noCode: 0,
        sizes: [[w, h]],
      }),
    );
  }
  log(`corpus: ${corpus.length} frames generated in ${ms(nowNs() - t0).toFixed(0)} ms`);
  const probe = await new PipelineProbe({ skipUnchanged: true }).start();
  const names = [...all.map((c) => c.name), 'pipeline', 'pipeline_downscale'];
  const half = await new PipelineProbe({ maxWidth: 640, skipUnchanged: true }).start();
  const hits = new Map<string, number>();
  const key = (d: string, n: string): string => `${d}|${n}`;
  let at = 0;
  const spent = new Map<string, number>();
  for (const f of corpus) {
    const rgba = rgbaOf(f);
    const found = new Map<string, string[]>();
    for (const c of all) {
      const a = nowNs();
      found.set(c.name, await c.decode(f, rgba));
      spent.set(c.name, (spent.get(c.name) ?? 0) + ms(nowNs() - a));
    }
    at += 10_000; // frames far apart: the change gate never reuses a result across corpus frames
    found.set('pipeline', [...(await probe.decode(f, at)).texts]);
    found.set('pipeline_downscale', [...(await half.decode(f, at)).texts]);
    for (const n of names) {
      if (f.text !== null && (found.get(n) ?? []).includes(f.text)) {
        for (const d of [f.distortion, 'all', `all.${sizeName(f.width, f.height)}`])
          hits.set(key(d, n), (hits.get(key(d, n)) ?? 0) + 1);
      }
    }
  }
  await probe.stop();
  await half.stop();
  log(
    `decode time over the corpus: ${[...spent].map(([n, v]) => `${n} ${(v / 1000).toFixed(1)} s`).join(', ')}`,
  );
  const count = (d: string): number =>
    corpus.filter((f) => f.distortion === d || d === 'all' || d === `all.${sizeName(f.width, f.height)}`)
      .length;
  for (const d of [...DISTORTIONS, 'all', ...SIZES.map(([w, h]) => `all.${sizeName(w, h)}`)]) {
    const n = count(d);
    const pct = (name: string): number => (100 * (hits.get(key(d, name)) ?? 0)) / n;
    const base = pct('jsqr_naive');
    log(`rate ${d} (${n} frames): ${names.map((name) => `${name} ${pct(name).toFixed(0)}%`).join(', ')}`);
    for (const name of names.filter((x) => x !== 'jsqr_naive'))
      emit(`qr.rate.${d}.${name}`, pct(name), '%', `qr.rate.${d}.jsqr_naive`, base);
  }
}

class TimedLine implements RelayLine {
  energisedAt: number | undefined;
  set(on: boolean): void {
    if (on) this.energisedAt = nowNs();
  }
  close(): void {}
}

/** A frame with a valid pass's code in (bridge FRAME) -> relay energised, through the real decision path. */
async function endToEnd(naiveCodeMs: number): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'doorpass-bench-qr-'));
  const store = new SqlitePassStore(path.join(dir, 'state'), { synchronous: 'FULL' });
  const listeners: ((m: BridgeToHostMessage) => void)[] = [];
  let input: InputController | undefined;
  try {
    const rng = new Prng(SEED ^ 0xe2e);
    const now = Date.now();
    const codes = Array.from({ length: E2E_SAMPLES }, () => passPayload(rng, 90));
    const hasher = new HmacHasher(Buffer.alloc(32, 0x5a));
    const validity = {
      validFrom: new Date(now - 86_400_000).toISOString(),
      validUntil: new Date(now + 86_400_000).toISOString(),
    };
    importSnapshot(
      store,
      hasher,
      {
        passes: codes.map((value, i) => ({
          id: `qr-${i}`,
          version: 1,
          kind: 'visitor',
          name: 'Guest',
          issuer: { id: 'res-1', name: 'Dana' },
          credentials: [{ type: 'qr', value }],
          doors: '*',
          ...validity,
          repeat: { mode: 'never' },
        })),
        accessGroups: [],
      },
      { policy: { maxValidityMs: 366 * 86_400_000 }, now },
    );
    const journal = new Journal(store, 'bench', systemClock, silent);
    const access = new AccessControl(store, hasher, new Zone('Europe/Berlin'), 'bench', journal.ids);
    const line = new TimedLine();
    const door = new DoorController(
      'lobby',
      new RelayPulse(line, systemClock),
      { pulseMs: 1, heldOpenMs: 60_000, graceMs: 1000 },
      systemClock,
      journal,
      silent,
    );
    const pipeline = new AccessPipeline(access, new Map([['lobby', door]]), systemClock, silent);
    const camera = new CameraInput(
      { type: 'camera', door: 'lobby', source: { type: 'bridge', path: 'bench' } },
      systemClock,
      silent,
      { bridge: { onMessage: (l) => listeners.push(l) } },
    );
    input = new InputController(
      camera,
      'lobby',
      pipeline,
      journal,
      systemClock,
      silent,
      DEFAULT_KEYPAD,
      DEFAULT_LOCKOUT,
    );
    camera.start(input);
    while (camera.decoderDescription === '') await new Promise((r) => setTimeout(r, 5));
    const frames = codes.map((text) =>
      renderScene(rng, 640, 480, {
        text,
        codeFrac: rng.range(0.22, 0.3),
        angle: rng.range(-12, 12),
        noise: 3,
      }),
    );
    const samples: number[] = [];
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i] as GreyFrame;
      line.energisedAt = undefined;
      const decisions = pipeline.decisionCount;
      const t0 = nowNs();
      for (const l of listeners)
        l({
          type: 'frame',
          frameId: i,
          chunkIndex: 0,
          chunkCount: 1,
          width: 640,
          height: 480,
          pixels: f.data.slice(),
        });
      const deadline = Date.now() + 2000;
      while (line.energisedAt === undefined && Date.now() < deadline)
        await new Promise((r) => setImmediate(r));
      if (line.energisedAt === undefined || pipeline.decisionCount !== decisions + 1) {
        log(`e2e: frame ${i} did not open the door`);
        continue;
      }
      samples.push(ms(line.energisedAt - t0));
      await new Promise((r) => setTimeout(r, 5)); // let the 1 ms pulse end
    }
    const sorted = Float64Array.from(samples).sort();
    log(
      `e2e 640x480 frame -> relay: p50 ${percentile(sorted, 50).toFixed(2)} ms, p99 ${percentile(sorted, 99).toFixed(2)} ms ` +
        `(${samples.length}/${frames.length} opened; decoder ${camera.decoderDescription})`,
    );
    emit('qr.e2e.640x480.p50.ms', percentile(sorted, 50), 'ms', 'qr.jsqr_naive.code.640x480.ms', naiveCodeMs);
    emit('qr.e2e.640x480.p99.ms', percentile(sorted, 99), 'ms', 'qr.jsqr_naive.code.640x480.ms', naiveCodeMs);
  } finally {
    await input?.stop();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchQr(): Promise<void> {
  const started = nowNs();
  const zxing = await ZxingDecoder.create(false);
  const jsqr = new JsqrDecoder(false);
  log(`qr: ${zxing.detail}; ${jsqr.detail}`);
  const all = contenders(zxing, jsqr);
  const probe = await new PipelineProbe().start();
  const naive = await perFrameFigures(all, probe);
  await probe.stop();
  await throughput(naive);
  await rejections();
  await endToEnd(naive.get('code.640x480') as number);
  await rates(all);
  log(`qr bench done in ${(ms(nowNs() - started) / 1000).toFixed(1)} s`);
}
