/**
 * A camera on the serial bridge: FRAME messages carry an 8-bit grey image in chunks 0..chunkCount-1 that
 * share a frameId; each chunk repeats the image's width and height and continues the pixels where the
 * previous one stopped (docs/serial-protocol.md). Chunks are reassembled per frame id; a frame still
 * incomplete when another one starts is dropped and counted, and so is one whose chunks arrive out of order
 * or whose pixels do not add up to width x height. The link itself (port, retries, online state) belongs
 * to the bridge input on the same path: this source only listens.
 */
import type { BridgeToHostMessage } from '../../protocol/bridge.js';
import type { Clock, Timer } from '../../ports/io.js';
import { MAX_FRAME_PIXELS, type FrameSink, type FrameSource } from './frame.js';

/** What the source needs of a BridgeLink: its message stream (structural, so tests can pass a fake). */
export interface FrameMessageFeed {
  onMessage(listener: (m: BridgeToHostMessage) => void): void;
}

export type BridgeFrameCounters = {
  /** Complete frames delivered. */
  frames: number;
  chunks: number;
  /** Frames dropped because another frame started before they were complete. */
  incomplete: number;
  /** Frames dropped for a chunk out of order, a changed size, or pixels that do not add up. */
  malformed: number;
  stalls: number;
};

type FrameChunk = Extract<BridgeToHostMessage, { type: 'frame' }>;

interface Assembly {
  readonly frameId: number;
  readonly chunkCount: number;
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
  nextChunk: number;
  filled: number;
}

export class BridgeFrameSource implements FrameSource {
  readonly kind = 'bridge' as const;
  readonly counters: BridgeFrameCounters = { frames: 0, chunks: 0, incomplete: 0, malformed: 0, stalls: 0 };
  private sink: FrameSink | undefined;
  private assembly: Assembly | undefined;
  private stallTimer: Timer | undefined;
  private state: 'unknown' | 'online' | 'offline' = 'unknown';

  constructor(
    feed: FrameMessageFeed,
    private readonly path: string,
    private readonly clock: Clock,
    private readonly stallMs: number,
  ) {
    feed.onMessage((m) => {
      if (m.type === 'frame' && this.sink !== undefined) this.onChunk(m);
    });
  }

  start(sink: FrameSink): void {
    this.sink = sink;
    this.armStall();
  }

  private malformed(why: string): void {
    this.counters.malformed++;
    this.assembly = undefined;
    this.sink?.problem(`bridge camera frame dropped: ${why}`);
  }

  private onChunk(m: FrameChunk): void {
    this.counters.chunks++;
    let a = this.assembly;
    if (a !== undefined && (m.frameId !== a.frameId || m.chunkIndex === 0)) {
      // Another frame started (or this one restarted) before the previous one was complete.
      if (a.nextChunk !== Number.POSITIVE_INFINITY) this.counters.incomplete++;
      a = this.assembly = undefined;
    }
    if (a === undefined) {
      if (m.chunkIndex !== 0) {
        // The middle of a frame whose start was lost: nothing to attach it to. Counted once per frame.
        this.counters.incomplete++;
        this.assembly = {
          frameId: m.frameId,
          chunkCount: m.chunkCount,
          width: m.width,
          height: m.height,
          data: new Uint8Array(0),
          nextChunk: Number.POSITIVE_INFINITY,
          filled: 0,
        };
        return;
      }
      const pixels = m.width * m.height;
      if (pixels === 0 || pixels > MAX_FRAME_PIXELS) {
        this.malformed(`size ${m.width}x${m.height}`);
        return;
      }
      a = this.assembly = {
        frameId: m.frameId,
        chunkCount: m.chunkCount,
        width: m.width,
        height: m.height,
        data: new Uint8Array(pixels),
        nextChunk: 0,
        filled: 0,
      };
    }
    if (a.nextChunk === Number.POSITIVE_INFINITY) return; // the rest of a frame already given up on
    if (m.chunkIndex !== a.nextChunk || m.chunkCount !== a.chunkCount) {
      this.malformed(
        `chunk ${m.chunkIndex} of ${m.chunkCount} when ${a.nextChunk} of ${a.chunkCount} was due`,
      );
      return;
    }
    if (m.width !== a.width || m.height !== a.height) {
      this.malformed(`size changed within a frame (${a.width}x${a.height} -> ${m.width}x${m.height})`);
      return;
    }
    if (a.filled + m.pixels.length > a.data.length) {
      this.malformed(`more than ${a.width}x${a.height} pixels`);
      return;
    }
    a.data.set(m.pixels, a.filled);
    a.filled += m.pixels.length;
    a.nextChunk++;
    if (a.nextChunk < a.chunkCount) return;
    this.assembly = undefined;
    if (a.filled !== a.data.length) {
      this.malformed(`${a.filled} of ${a.data.length} pixels in ${a.chunkCount} chunks`);
      return;
    }
    this.counters.frames++;
    this.armStall();
    if (this.state !== 'online') {
      this.state = 'online';
      this.sink?.status(true, `frames from the bridge on ${this.path}`);
    }
    this.sink?.frame({ width: a.width, height: a.height, data: a.data });
  }

  private armStall(): void {
    this.stallTimer?.cancel();
    this.stallTimer = this.clock.after(this.stallMs, () => {
      this.stallTimer = undefined;
      if (this.sink === undefined) return;
      if (this.state !== 'offline') {
        this.counters.stalls++;
        this.state = 'offline';
        this.sink.status(false, `no camera frame from the bridge on ${this.path} for ${this.stallMs} ms`);
      }
      this.armStall();
    });
  }

  stop(): Promise<void> {
    this.sink = undefined;
    this.assembly = undefined;
    this.stallTimer?.cancel();
    this.stallTimer = undefined;
    return Promise.resolve();
  }
}
