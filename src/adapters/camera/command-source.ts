/**
 * A camera that is a child process writing raw frames to stdout: `rpicam-vid -t 0 --codec yuv420 --width 640
 * --height 480 -o -` on a Raspberry Pi, `ffmpeg -f v4l2 -i /dev/video0 -pix_fmt gray -f rawvideo -` on a USB
 * camera. Frames are cut from the stream by exact size (only the Y plane of a yuv420 frame is kept). The
 * process is restarted with exponential backoff when it exits or stalls; its stderr goes to the log (debug,
 * and its last lines at warn when it dies). A garbled stream is reported, never thrown: a partial frame at
 * exit, frames that look sheared (a wrong width), no frame for `stallMs`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Clock, Logger, Timer } from '../../ports/io.js';
import {
  frameBytes,
  type CommandSourceOptions,
  type FrameSink,
  type FrameSource,
  type GreyFrame,
} from './frame.js';

export interface CommandSourceTiming {
  readonly stallMs: number;
  readonly restartMinMs: number;
  readonly restartMaxMs: number;
  /** A process that ran at least this long before it died restarts after restartMinMs again. Default 10 s. */
  readonly stableMs?: number;
  /** After SIGTERM, SIGKILL follows after this long (ms). Default 2000. */
  readonly killMs?: number;
}

export type CommandCounters = {
  frames: number;
  starts: number;
  exits: number;
  partialFrames: number;
  stalls: number;
  shearWarnings: number;
  stderrLines: number;
};

const STDERR_TAIL = 10;
/** Frames after each start that are checked for a wrong width. */
const SHEAR_CHECK_FRAMES = 8;

/**
 * Whether a grey frame looks sheared, as a raw stream read with the wrong width does: neighbouring rows then
 * differ much more than neighbouring columns. Samples ~2000 pixel pairs.
 */
export function looksSheared(frame: GreyFrame): boolean {
  const { width, height, data } = frame;
  if (width < 8 || height < 8) return false;
  let dx = 0;
  let dy = 0;
  const rows = 32;
  const cols = 64;
  for (let r = 0; r < rows; r++) {
    const y = Math.floor(((r + 0.5) * (height - 1)) / rows);
    for (let c = 0; c < cols; c++) {
      const x = Math.floor(((c + 0.5) * (width - 1)) / cols);
      const i = y * width + x;
      const v = data[i] as number;
      dx += Math.abs(v - (data[i + 1] as number));
      dy += Math.abs(v - (data[i + width] as number));
    }
  }
  // Flat frames (lens cap, darkness) say nothing either way.
  return dy > 4 * rows * cols && dy > 3 * dx;
}

export class CommandSource implements FrameSource {
  readonly kind = 'command' as const;
  readonly counters: CommandCounters = {
    frames: 0,
    starts: 0,
    exits: 0,
    partialFrames: 0,
    stalls: 0,
    shearWarnings: 0,
    stderrLines: 0,
  };
  private sink: FrameSink | undefined;
  private child: ChildProcess | undefined;
  private stopped = true;
  private restartTimer: Timer | undefined;
  private stallTimer: Timer | undefined;
  private backoffMs: number;
  private startedAt = 0;
  private readonly frameSize: number;
  private readonly ySize: number;
  /** The frame being filled, and how many of its stream bytes have arrived. */
  private current: Uint8Array | undefined;
  private filled = 0;
  private framesThisRun = 0;
  private shearedRun = 0;
  private stderrTail: string[] = [];
  private stderrPartial = '';
  private exitWaiters: (() => void)[] = [];

  constructor(
    private readonly options: CommandSourceOptions,
    private readonly timing: CommandSourceTiming,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    if (options.command.length === 0) throw new RangeError('camera command: empty command');
    if (!(options.width > 0 && options.height > 0))
      throw new RangeError('camera command: width and height must be positive');
    this.frameSize = frameBytes(options.width, options.height, options.pixelFormat);
    this.ySize = options.width * options.height;
    this.backoffMs = timing.restartMinMs;
  }

  private get program(): string {
    return this.options.command[0] ?? '';
  }

  start(sink: FrameSink): void {
    if (!this.stopped) return;
    this.sink = sink;
    this.stopped = false;
    this.launch();
  }

  private launch(): void {
    if (this.stopped) return;
    const [program, ...args] = this.options.command;
    this.counters.starts++;
    this.startedAt = this.clock.monotonic();
    this.current = undefined;
    this.filled = 0;
    this.framesThisRun = 0;
    this.shearedRun = 0;
    this.stderrTail = [];
    this.stderrPartial = '';
    let child: ChildProcess;
    try {
      child = spawn(program as string, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      this.died(`cannot start ${this.program}: ${(err as Error).message}`);
      return;
    }
    this.child = child;
    this.log.debug({ camera: this.program, pid: child.pid }, 'camera process started');
    child.stdout?.on('data', (chunk: Buffer) => {
      if (this.child === child) this.onData(chunk);
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => this.onStderr(text));
    child.on('error', (err) => {
      // Spawn failures (ENOENT, EACCES) arrive here, with or without a later 'exit'.
      if (this.child !== child) return;
      this.child = undefined;
      this.died(`cannot run ${this.program}: ${err.message}`);
    });
    child.on('close', (code, signal) => {
      const waiters = this.exitWaiters;
      this.exitWaiters = [];
      for (const w of waiters) w();
      if (this.child !== child) return;
      this.child = undefined;
      this.counters.exits++;
      this.flushPartial('ended');
      this.died(
        `${this.program} exited (${signal !== null ? `signal ${signal}` : `code ${code ?? 'unknown'}`}) after ${this.framesThisRun} frames`,
      );
    });
    this.armStall();
  }

  private onStderr(text: string): void {
    const lines = (this.stderrPartial + text).split(/\r?\n|\r/);
    this.stderrPartial = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === '') continue;
      this.counters.stderrLines++;
      this.stderrTail.push(line.slice(0, 500));
      if (this.stderrTail.length > STDERR_TAIL) this.stderrTail.shift();
      this.log.debug({ camera: this.program, stderr: line.slice(0, 500) }, 'camera stderr');
    }
  }

  private onData(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.current === undefined) {
        this.current = new Uint8Array(this.ySize);
        this.filled = 0;
      }
      const take = Math.min(this.frameSize - this.filled, chunk.length - offset);
      // Only the Y plane is kept: bytes beyond ySize (yuv420 chroma) are skipped.
      if (this.filled < this.ySize) {
        const n = Math.min(take, this.ySize - this.filled);
        this.current.set(chunk.subarray(offset, offset + n), this.filled);
      }
      this.filled += take;
      offset += take;
      if (this.filled === this.frameSize) {
        const data = this.current;
        this.current = undefined;
        this.filled = 0;
        this.emit({ width: this.options.width, height: this.options.height, data });
      }
    }
  }

  private emit(frame: GreyFrame): void {
    this.counters.frames++;
    this.framesThisRun++;
    this.armStall();
    if (this.framesThisRun === 1) {
      this.sink?.status(true, `${this.program} is sending frames`);
    }
    if (this.framesThisRun <= SHEAR_CHECK_FRAMES) {
      this.shearedRun = looksSheared(frame) ? this.shearedRun + 1 : 0;
      if (this.shearedRun === 3) {
        this.counters.shearWarnings++;
        const detail =
          `camera frames look sheared: is the width right (${this.options.width}x${this.options.height} ` +
          `${this.options.pixelFormat} configured)?`;
        this.log.warn({ camera: this.program }, detail);
        this.sink?.problem(detail);
      }
    }
    this.sink?.frame(frame);
  }

  private flushPartial(why: 'ended' | 'stalled'): void {
    if (this.current === undefined || this.filled === 0) return;
    this.counters.partialFrames++;
    const detail =
      `camera stream ${why} with a partial frame: ${this.filled} of ${this.frameSize} bytes ` +
      `(configured ${this.options.width}x${this.options.height} ${this.options.pixelFormat}; ` +
      'check width, height and pixelFormat)';
    this.current = undefined;
    this.filled = 0;
    this.log.warn({ camera: this.program }, detail);
    this.sink?.problem(detail);
  }

  private armStall(): void {
    this.stallTimer?.cancel();
    this.stallTimer = this.clock.after(this.timing.stallMs, () => {
      this.stallTimer = undefined;
      const child = this.child;
      if (this.stopped || child === undefined) return;
      this.counters.stalls++;
      const detail = `camera stalled: no complete frame for ${this.timing.stallMs} ms`;
      this.flushPartial('stalled');
      this.sink?.problem(detail);
      this.log.warn({ camera: this.program }, `${detail}; restarting ${this.program}`);
      this.kill(child);
      // 'close' follows the kill and restarts it.
    });
  }

  private died(detail: string): void {
    this.stallTimer?.cancel();
    this.stallTimer = undefined;
    if (this.stopped) return;
    const ranMs = this.clock.monotonic() - this.startedAt;
    if (ranMs >= (this.timing.stableMs ?? 10_000) && this.framesThisRun > 0)
      this.backoffMs = this.timing.restartMinMs;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.timing.restartMaxMs);
    const tail = this.stderrTail.length > 0 ? this.stderrTail : undefined;
    this.log.warn({ camera: this.program, stderr: tail, restartInMs: delay }, detail);
    this.sink?.status(false, detail);
    this.restartTimer?.cancel();
    this.restartTimer = this.clock.after(delay, () => {
      this.restartTimer = undefined;
      this.launch();
    });
  }

  private kill(child: ChildProcess): void {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }, this.timing.killMs ?? 2000);
    t.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.restartTimer?.cancel();
    this.restartTimer = undefined;
    this.stallTimer?.cancel();
    this.stallTimer = undefined;
    const child = this.child;
    this.child = undefined;
    this.sink = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const closed = new Promise<void>((resolve) => this.exitWaiters.push(resolve));
    this.kill(child);
    await closed;
  }
}
