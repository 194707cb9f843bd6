/** Frames, frame sources and the camera input's options (the shape of an `inputs[]` entry of type camera). */
import type { DecoderName } from './decoders.js';
import type { RegionOfInterest } from './prefilter.js';

/** One 8-bit grey image, row-major, `width * height` bytes. Whoever receives a frame owns `data`. */
export interface GreyFrame {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

/** What a frame source reports to the camera input. */
export interface FrameSink {
  /** A complete frame. The sink owns it (it may be transferred to the decode worker). */
  frame(frame: GreyFrame): void;
  /** The source's process or device came or went. */
  status(online: boolean, detail: string): void;
  /** A problem that produced no frame: a partial or wrongly sized frame, a stall. Never frame content. */
  problem(detail: string): void;
}

export interface FrameSource {
  readonly kind: CameraSourceOptions['type'];
  start(sink: FrameSink): void;
  stop(): Promise<void>;
  /** Counters for status and tests (frames, restarts, partial frames...). */
  readonly counters: Readonly<Record<string, number>>;
}

export type PixelFormat = 'gray' | 'yuv420';

/** A child process writing raw frames to stdout, e.g. rpicam-vid or ffmpeg. */
export interface CommandSourceOptions {
  readonly type: 'command';
  /** argv: the program and its arguments (no shell unless you run one, e.g. ["sh", "-c", "..."]). */
  readonly command: readonly string[];
  readonly width: number;
  readonly height: number;
  /** `gray`: width*height bytes per frame. `yuv420` (I420): width*height*3/2, of which the Y plane is used. */
  readonly pixelFormat: PixelFormat;
}

/** FRAME chunks from the serial bridge on `path` (the link is the one of the bridge input on that path). */
export interface BridgeSourceOptions {
  readonly type: 'bridge';
  readonly path: string;
}

/** A folder of PNG/JPEG images, cycled at `fps` (for trying a setup and for tests). */
export interface FilesSourceOptions {
  readonly type: 'files';
  readonly dir: string;
  readonly fps: number;
}

export type CameraSourceOptions = CommandSourceOptions | BridgeSourceOptions | FilesSourceOptions;

/** One `inputs[]` entry of type camera. Only `type`, `door` and `source` are required. */
export interface CameraInputOptions {
  readonly type: 'camera';
  readonly door: string;
  readonly source: CameraSourceOptions;
  /** Default `zxing` (see docs/camera.md for the measurements). */
  readonly decoder?: DecoderName;
  /** A code counts again only after it has been out of view this long (ms). Default 3000. */
  readonly holdOffMs?: number;
  /** Decode only this part of the frame (fractions 0..1 of width and height). Default: the whole frame. */
  readonly roi?: RegionOfInterest;
  /** Halve frames (after the ROI) until they are at most this wide; 0 = never. Default 0. */
  readonly maxWidth?: number;
  /** Skip decoding frames that did not change since the last decode. Default true. */
  readonly skipUnchanged?: boolean;
  /** Also read inverted codes (light on dark). Default false. */
  readonly invert?: boolean;
  /** No complete frame for this long: the camera is reported offline (and a command restarted). Default 5000. */
  readonly stallMs?: number;
  /** Restart backoff for a command that exits: from min, doubling, up to max (ms). Defaults 500 and 30000. */
  readonly restartMinMs?: number;
  readonly restartMaxMs?: number;
}

export const CAMERA_DEFAULTS = {
  decoder: 'zxing',
  holdOffMs: 3000,
  maxWidth: 0,
  skipUnchanged: true,
  invert: false,
  stallMs: 5000,
  restartMinMs: 500,
  restartMaxMs: 30_000,
} as const satisfies Partial<CameraInputOptions>;

/** Largest frame accepted from any source (pixels): 4096 x 4096. A bigger header is a garbled one. */
export const MAX_FRAME_PIXELS = 4096 * 4096;

/** Bytes of one frame in `format` (I420: a full Y plane and two quarter-size chroma planes, rounded up). */
export function frameBytes(width: number, height: number, format: PixelFormat): number {
  const y = width * height;
  if (format === 'gray') return y;
  return y + 2 * Math.ceil(width / 2) * Math.ceil(height / 2);
}
