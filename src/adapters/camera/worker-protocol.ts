/** Messages between the camera input (main thread) and its decode worker. */
import type { DecoderName } from './decoders.js';
import type { ChangeGateOptions, RegionOfInterest } from './prefilter.js';

/** Given to the worker as workerData. */
export interface DecodeWorkerConfig {
  readonly decoder: DecoderName;
  readonly invert: boolean;
  readonly roi?: RegionOfInterest | undefined;
  /** Halve frames until at most this wide; 0 = never. */
  readonly maxWidth: number;
  readonly skipUnchanged: boolean;
  readonly gate?: ChangeGateOptions | undefined;
}

/** Main -> worker: one frame; `data`'s buffer is transferred. `at` is the frame's monotonic time (ms). */
export interface FrameRequest {
  readonly type: 'frame';
  readonly seq: number;
  readonly at: number;
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

/** Worker -> main. */
export type WorkerReply =
  | { readonly type: 'ready'; readonly detail: string }
  | { readonly type: 'failed'; readonly message: string }
  | {
      readonly type: 'result';
      readonly seq: number;
      readonly at: number;
      /** Texts of the codes in view (the previous decode's when `reused`). */
      readonly texts: readonly string[];
      /** Why a code found gave no text (never its content). */
      readonly invalid: readonly string[];
      /** The scene had not changed: not decoded, the last decode's codes stand. */
      readonly reused: boolean;
      /** Time spent on this frame in the worker (prefilter and decode), ms. */
      readonly ms: number;
      /** Size the decoder saw (after ROI and downscale); 0 when reused. */
      readonly width: number;
      readonly height: number;
      /** The decoder threw (message only, no content). */
      readonly error?: string;
    };
