/**
 * A "camera" that is a folder of PNG/JPEG images, shown one after the other at `fps` and cycled, for trying
 * a setup (point it at photos taken with the door camera) and for tests. The folder is listed again at the
 * start of each cycle, so images can be added while it runs. Images are decoded to grey once and cached (by
 * path, size and modification time); decoding happens on the thread that runs the source, so keep the folder
 * small: this is not a production camera.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import type { Clock, Logger, Timer } from '../../ports/io.js';
import {
  MAX_FRAME_PIXELS,
  type FilesSourceOptions,
  type FrameSink,
  type FrameSource,
  type GreyFrame,
} from './frame.js';

export type FilesCounters = {
  frames: number;
  cycles: number;
  unreadable: number;
};

const IMAGE = /\.(png|jpe?g)$/i;

/** RGBA to grey with the BT.601 weights (the same rounding as zxing-wasm), alpha composited over white. */
function greyOfRgba(rgba: Uint8Array, width: number, height: number): GreyFrame {
  const n = width * height;
  const out = new Uint8Array(n);
  for (let i = 0, j = 0; i < n; i++, j += 4) {
    const y =
      (306 * (rgba[j] as number) + 601 * (rgba[j + 1] as number) + 117 * (rgba[j + 2] as number) + 512) >> 10;
    const a = rgba[j + 3] as number;
    out[i] = a === 255 ? y : Math.round((y * a + 255 * (255 - a)) / 255);
  }
  return { width, height, data: out };
}

/** Decodes a PNG or JPEG file's bytes to a grey frame (throws on anything else or a broken file). */
export function decodeImage(bytes: Uint8Array, name: string): GreyFrame {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length >= 8 && buf.readUInt32BE(0) === 0x89504e47) {
    const png = PNG.sync.read(buf);
    if (png.width * png.height > MAX_FRAME_PIXELS) throw new Error(`${png.width}x${png.height} is too large`);
    return greyOfRgba(png.data, png.width, png.height);
  }
  if (buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) {
    const img = jpeg.decode(buf, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 256 });
    if (img.width * img.height > MAX_FRAME_PIXELS) throw new Error(`${img.width}x${img.height} is too large`);
    return greyOfRgba(img.data, img.width, img.height);
  }
  throw new Error(`${name} is neither PNG nor JPEG`);
}

export class FilesSource implements FrameSource {
  readonly kind = 'files' as const;
  readonly counters: FilesCounters = { frames: 0, cycles: 0, unreadable: 0 };
  private sink: FrameSink | undefined;
  private timer: Timer | undefined;
  private files: string[] = [];
  private index = 0;
  private readonly cache = new Map<string, { key: string; frame: GreyFrame | undefined }>();
  private state: 'unknown' | 'online' | 'offline' = 'unknown';
  private readonly intervalMs: number;

  constructor(
    private readonly options: FilesSourceOptions,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    if (!(options.fps > 0)) throw new RangeError('camera files: fps must be positive');
    this.intervalMs = 1000 / options.fps;
  }

  start(sink: FrameSink): void {
    this.sink = sink;
    this.schedule(0);
  }

  private schedule(ms: number): void {
    this.timer?.cancel();
    this.timer = this.clock.after(ms, () => {
      this.timer = undefined;
      this.tick();
    });
  }

  private report(online: boolean, detail: string): void {
    const state = online ? 'online' : 'offline';
    if (this.state === state) return;
    this.state = state;
    this.sink?.status(online, detail);
  }

  private list(): string[] {
    try {
      return readdirSync(this.options.dir)
        .filter((f) => IMAGE.test(f))
        .sort()
        .map((f) => path.join(this.options.dir, f));
    } catch (err) {
      this.report(
        false,
        `cannot list ${this.options.dir}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      );
      return [];
    }
  }

  private load(file: string): GreyFrame | undefined {
    let key: string;
    try {
      const st = statSync(file);
      key = `${st.size}:${st.mtimeMs}`;
    } catch {
      return undefined; // removed since the listing
    }
    const hit = this.cache.get(file);
    if (hit !== undefined && hit.key === key) return hit.frame;
    let frame: GreyFrame | undefined;
    try {
      frame = decodeImage(readFileSync(file), path.basename(file));
    } catch (err) {
      this.counters.unreadable++;
      const detail = `cannot read image ${path.basename(file)}: ${(err as Error).message}`;
      this.log.warn({ camera: this.options.dir }, detail);
      this.sink?.problem(detail);
    }
    this.cache.set(file, { key, frame });
    return frame;
  }

  private tick(): void {
    if (this.sink === undefined) return;
    if (this.index >= this.files.length) {
      this.files = this.list();
      this.index = 0;
      this.counters.cycles++;
      for (const f of this.cache.keys()) if (!this.files.includes(f)) this.cache.delete(f);
      if (this.files.length === 0) {
        this.report(false, `no PNG or JPEG images in ${this.options.dir}`);
        this.schedule(Math.max(this.intervalMs, 1000));
        return;
      }
    }
    const file = this.files[this.index++] as string;
    const frame = this.load(file);
    if (frame !== undefined) {
      this.counters.frames++;
      this.report(true, `images from ${this.options.dir}`);
      // A copy: the receiver owns (and may transfer) the pixels, the cache keeps its own.
      this.sink.frame({ width: frame.width, height: frame.height, data: frame.data.slice() });
    }
    this.schedule(this.intervalMs);
  }

  stop(): Promise<void> {
    this.sink = undefined;
    this.timer?.cancel();
    this.timer = undefined;
    return Promise.resolve();
  }
}
