/**
 * The main thread's side of decoding: one decode worker per camera, fed so that the latest frame wins. At
 * most one frame is in the worker and one waits; a newer frame replaces the waiting one, which is dropped
 * and counted. The main thread only moves buffers (transferred, not copied) and reads results, so keypad
 * and card input are never held up by decoding. A worker that dies is restarted with backoff.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Clock, Logger, Timer } from '../../ports/io.js';
import type { GreyFrame } from './frame.js';
import type { DecodeWorkerConfig, FrameRequest, WorkerReply } from './worker-protocol.js';

/** A decoded (or reused) frame, as the camera input sees it. */
export interface FrameResult {
  /** Monotonic time of the frame (when it arrived from the source), ms. */
  readonly at: number;
  readonly texts: readonly string[];
  readonly invalid: readonly string[];
  readonly reused: boolean;
  /** Worker time for the frame, ms. */
  readonly ms: number;
  readonly error?: string | undefined;
}

export interface PipelineEvents {
  result(result: FrameResult): void;
  /** The decoder became usable (true) or not (false: failed to load, crashed). */
  status(ok: boolean, detail: string): void;
}

export interface PipelineCounters {
  /** Frames given to push(). */
  frames: number;
  /** Frames the worker decoded. */
  decoded: number;
  /** Frames the worker skipped because the scene had not changed. */
  unchanged: number;
  /** Frames replaced by a newer one while the worker was busy (latest frame wins). */
  dropped: number;
  /** Worker time, summed over all frames (ms). */
  workerMs: number;
  decodeErrors: number;
  workerRestarts: number;
}

/**
 * The worker's entry file next to this module: decode-worker.js when running from the build (dist), or
 * decode-worker.ts when running from src under a TypeScript loader (tap), which workers inherit through
 * execArgv.
 */
export function decodeWorkerEntry(): URL {
  for (const ext of ['js', 'ts']) {
    const url = new URL(`./decode-worker.${ext}`, import.meta.url);
    if (existsSync(fileURLToPath(url))) return url;
  }
  throw new Error(`camera: decode-worker not found next to ${fileURLToPath(import.meta.url)}`);
}

export class DecodePipeline {
  readonly counters: PipelineCounters = {
    frames: 0,
    decoded: 0,
    unchanged: 0,
    dropped: 0,
    workerMs: 0,
    decodeErrors: 0,
    workerRestarts: 0,
  };
  private worker: Worker | undefined;
  private ready = false;
  private busy = false;
  private pending: { frame: GreyFrame; at: number } | undefined;
  private seq = 0;
  private stopped = true;
  private restartTimer: Timer | undefined;
  private backoffMs: number;
  private decoderDetail = '';

  constructor(
    private readonly config: DecodeWorkerConfig,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly events: PipelineEvents,
    private readonly options: { readonly restartMinMs?: number; readonly restartMaxMs?: number } = {},
  ) {
    this.backoffMs = options.restartMinMs ?? 1000;
  }

  /** The decoder's description once loaded ("zxing-wasm 3.1.4, grey plane via ..."). */
  get detail(): string {
    return this.decoderDetail;
  }

  get isReady(): boolean {
    return this.ready;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.spawn();
  }

  private spawn(): void {
    let worker: Worker;
    try {
      worker = new Worker(decodeWorkerEntry(), {
        workerData: this.config,
        // The worker inherits the process's flags (tap's TypeScript loader among them) except those that
        // only make sense for a main script given as a string (`node --input-type=module -e ...`).
        execArgv: process.execArgv.filter((a) => !a.startsWith('--input-type')),
      });
    } catch (err) {
      this.failed(`cannot start the decode worker: ${(err as Error).message}`);
      return;
    }
    this.worker = worker;
    worker.on('message', (m: WorkerReply) => this.onReply(worker, m));
    worker.on('error', (err: Error) => {
      this.log.error({ err: err.message }, 'camera decode worker crashed');
    });
    worker.on('exit', (code) => {
      if (this.worker !== worker) return; // terminated on purpose (stop, or replaced)
      this.worker = undefined;
      this.failed(`decode worker exited (code ${code})`);
    });
  }

  private failed(detail: string): void {
    const wasReady = this.ready;
    this.ready = false;
    this.busy = false;
    const w = this.worker;
    this.worker = undefined;
    if (w !== undefined) void w.terminate();
    this.log.warn({ detail }, 'camera decoder unavailable');
    this.events.status(false, detail);
    if (this.stopped || this.restartTimer !== undefined) return;
    if (wasReady) this.backoffMs = this.options.restartMinMs ?? 1000;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.options.restartMaxMs ?? 30_000);
    this.restartTimer = this.clock.after(delay, () => {
      this.restartTimer = undefined;
      if (this.stopped) return;
      this.counters.workerRestarts++;
      this.spawn();
    });
  }

  private onReply(worker: Worker, m: WorkerReply): void {
    if (worker !== this.worker) return;
    switch (m.type) {
      case 'ready':
        this.ready = true;
        this.decoderDetail = m.detail;
        this.log.info({ decoder: m.detail }, 'camera decoder ready');
        this.events.status(true, m.detail);
        this.next();
        return;
      case 'failed':
        this.failed(`decoder failed to load: ${m.message}`);
        return;
      case 'result':
        this.busy = false;
        this.counters.workerMs += m.ms;
        if (m.reused) this.counters.unchanged++;
        else this.counters.decoded++;
        if (m.error !== undefined) this.counters.decodeErrors++;
        this.next();
        this.events.result({
          at: m.at,
          texts: m.texts,
          invalid: m.invalid,
          reused: m.reused,
          ms: m.ms,
          error: m.error,
        });
        return;
    }
  }

  /** Hands a frame over (the pipeline owns it from now on). `at`: its monotonic time. */
  push(frame: GreyFrame, at: number): void {
    if (this.stopped) return;
    this.counters.frames++;
    if (this.pending !== undefined) this.counters.dropped++;
    this.pending = { frame, at };
    this.next();
  }

  private next(): void {
    const w = this.worker;
    const p = this.pending;
    if (w === undefined || !this.ready || this.busy || p === undefined) return;
    this.pending = undefined;
    this.busy = true;
    let data = p.frame.data;
    // Transfer the pixels without a copy when the frame owns its whole buffer; copy a view of a larger one.
    if (
      data.byteOffset !== 0 ||
      data.byteLength !== data.buffer.byteLength ||
      !(data.buffer instanceof ArrayBuffer)
    )
      data = data.slice();
    const request: FrameRequest = {
      type: 'frame',
      seq: ++this.seq,
      at: p.at,
      width: p.frame.width,
      height: p.frame.height,
      data,
    };
    w.postMessage(request, [data.buffer as ArrayBuffer]);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.restartTimer?.cancel();
    this.restartTimer = undefined;
    this.pending = undefined;
    this.ready = false;
    const w = this.worker;
    this.worker = undefined;
    if (w !== undefined) await w.terminate();
  }
}
