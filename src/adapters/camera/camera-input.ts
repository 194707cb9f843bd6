/**
 * A door camera as a credential input: frames from a source (a child process, the serial bridge, a folder
 * of images) go to a decode worker (latest frame wins); decoded QR text goes to the handler as
 * `credential('qr', text)`, exactly like text from a QR scanner, once per code held in view (CodeSightings).
 * The main thread never decodes. docs/camera.md has the rules, the config and the measurements.
 */
import type { Clock, CredentialSource, FeedbackSignal, InputHandler, Logger } from '../../ports/io.js';
import { BridgeFrameSource, type FrameMessageFeed } from './bridge-source.js';
import { CommandSource } from './command-source.js';
import { FilesSource } from './files-source.js';
import {
  CAMERA_DEFAULTS,
  type CameraInputOptions,
  type FrameSink,
  type FrameSource,
  type GreyFrame,
} from './frame.js';
import { DecodePipeline, type FrameResult, type PipelineCounters } from './pipeline.js';
import { CodeSightings } from './sightings.js';

export type { CameraInputOptions, CameraSourceOptions, PixelFormat } from './frame.js';
export type { RegionOfInterest } from './prefilter.js';
export type { DecoderName } from './decoders.js';
export type { FrameMessageFeed } from './bridge-source.js';

/** What the camera needs from the rest of the daemon besides its options. */
export interface CameraEnvironment {
  /** For a bridge source: the link of the bridge on `source.path` (compose owns and starts it). */
  readonly bridge?: FrameMessageFeed;
}

export interface CameraCounters extends PipelineCounters {
  /** Codes delivered as credentials. */
  readonly credentials: number;
  /** Problems reported (read errors), and those held back because the same one was reported < 10 s ago. */
  readonly problems: number;
  readonly problemsSuppressed: number;
  readonly source: Readonly<Record<string, number>>;
}

/** The same problem is reported (as a read error, journalled) at most once per this interval. */
const PROBLEM_INTERVAL_MS = 10_000;

export class CameraInput implements CredentialSource {
  readonly name: string;
  private handler: InputHandler | undefined;
  private readonly source: FrameSource;
  private readonly pipeline: DecodePipeline;
  private readonly sightings: CodeSightings;
  /** undefined until the source / decoder first says how it is. */
  private sourceUp: boolean | undefined;
  private decoderUp: boolean | undefined;
  private sourceDetail = '';
  private decoderDetail = '';
  private reported: 'online' | 'offline' | undefined;
  private credentials = 0;
  private problems = 0;
  private problemsSuppressed = 0;
  private readonly lastProblem = new Map<string, number>();
  private running = false;
  private sourceStarted = false;
  private readonly sink: FrameSink = {
    frame: (frame: GreyFrame) => this.pipeline.push(frame, this.clock.monotonic()),
    status: (online, detail) => {
      this.sourceUp = online;
      this.sourceDetail = detail;
      this.update();
    },
    problem: (detail) => this.problem(detail),
  };

  constructor(
    readonly options: CameraInputOptions,
    private readonly clock: Clock,
    private readonly log: Logger,
    env: CameraEnvironment = {},
  ) {
    const s = options.source;
    this.name = `camera:${s.type}:${options.door}`;
    const stallMs = options.stallMs ?? CAMERA_DEFAULTS.stallMs;
    if (s.type === 'command') {
      this.source = new CommandSource(
        s,
        {
          stallMs,
          restartMinMs: options.restartMinMs ?? CAMERA_DEFAULTS.restartMinMs,
          restartMaxMs: options.restartMaxMs ?? CAMERA_DEFAULTS.restartMaxMs,
        },
        clock,
        log,
      );
    } else if (s.type === 'bridge') {
      if (env.bridge === undefined) throw new RangeError(`${this.name}: no bridge link for ${s.path}`);
      this.source = new BridgeFrameSource(env.bridge, s.path, clock, stallMs);
    } else {
      this.source = new FilesSource(s, clock, log);
    }
    this.sightings = new CodeSightings(options.holdOffMs ?? CAMERA_DEFAULTS.holdOffMs);
    this.pipeline = new DecodePipeline(
      {
        decoder: options.decoder ?? CAMERA_DEFAULTS.decoder,
        invert: options.invert ?? CAMERA_DEFAULTS.invert,
        roi: options.roi,
        maxWidth: options.maxWidth ?? CAMERA_DEFAULTS.maxWidth,
        skipUnchanged: options.skipUnchanged ?? CAMERA_DEFAULTS.skipUnchanged,
      },
      clock,
      log,
      {
        result: (r) => this.onResult(r),
        status: (ok, detail) => {
          this.decoderUp = ok;
          this.decoderDetail = detail;
          if (!ok) this.problem(`camera decoder unavailable: ${detail}`);
          // The camera starts once frames can be decoded: none is dropped while the decoder loads.
          if (ok && !this.sourceStarted && this.running) {
            this.sourceStarted = true;
            this.source.start(this.sink);
          }
          this.update();
        },
      },
      {
        restartMinMs: options.restartMinMs ?? CAMERA_DEFAULTS.restartMinMs,
        restartMaxMs: options.restartMaxMs ?? CAMERA_DEFAULTS.restartMaxMs,
      },
    );
  }

  get counters(): CameraCounters {
    return {
      ...this.pipeline.counters,
      credentials: this.credentials,
      problems: this.problems,
      problemsSuppressed: this.problemsSuppressed,
      source: { ...this.source.counters },
    };
  }

  /** The decoder in use, once loaded ("zxing-wasm 3.1.4, grey plane via the luminance entry point ..."). */
  get decoderDescription(): string {
    return this.pipeline.detail;
  }

  /** Starts the decode worker; the source (camera process, bridge, folder) starts once the decoder is ready. */
  start(handler: InputHandler): void {
    if (this.running) return;
    this.running = true;
    this.handler = handler;
    this.pipeline.start();
  }

  /**
   * Online when the source delivers frames and the decoder is loaded, offline when either is down; nothing
   * is reported while either has not said yet (start-up). Reported on change only.
   */
  private update(): void {
    if (!this.running) return;
    const state =
      this.sourceUp === false || this.decoderUp === false
        ? 'offline'
        : this.sourceUp === true && this.decoderUp === true
          ? 'online'
          : undefined;
    if (state === undefined || state === this.reported) return;
    this.reported = state;
    const detail =
      state === 'online'
        ? `${this.sourceDetail}; ${this.decoderDetail}`
        : this.sourceUp === false
          ? this.sourceDetail
          : this.decoderDetail;
    this.log.debug({ input: this.name, detail }, `camera ${state}`);
    this.handler?.online(state === 'online', detail);
  }

  private problem(detail: string): void {
    const now = this.clock.monotonic();
    const last = this.lastProblem.get(detail);
    if (last !== undefined && now - last < PROBLEM_INTERVAL_MS) {
      this.problemsSuppressed++;
      return;
    }
    this.lastProblem.set(detail, now);
    if (this.lastProblem.size > 64) {
      for (const [k, at] of this.lastProblem) if (now - at >= PROBLEM_INTERVAL_MS) this.lastProblem.delete(k);
    }
    this.problems++;
    this.handler?.readError(detail);
  }

  private onResult(r: FrameResult): void {
    if (!this.running) return;
    if (r.error !== undefined) this.problem(`camera decoder error: ${r.error.slice(0, 200)}`);
    for (const why of r.invalid) this.problem(why);
    const fresh = this.sightings.observe(r.texts, r.at);
    for (const text of fresh) {
      this.credentials++;
      this.handler?.credential('qr', text);
    }
  }

  /** Cameras have no LED or beeper of their own. */
  feedback(_signal: FeedbackSignal): void {}

  async stop(): Promise<void> {
    this.running = false;
    this.sourceStarted = false;
    await this.source.stop();
    await this.pipeline.stop();
    this.sightings.clear();
  }
}
