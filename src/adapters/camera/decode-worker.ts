/**
 * The decode worker: everything that looks at pixels runs here, never on the daemon's main thread. It loads
 * the decoder once, then for each frame: region of interest, change check, downscale, decode, text. One frame
 * at a time; the main thread sends the next only after the reply (latest frame wins there).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createDecoder, qrText, type QrDecoder } from './decoders.js';
import type { GreyFrame } from './frame.js';
import { ChangeGate, crop, downscale, signature } from './prefilter.js';
import type { DecodeWorkerConfig, FrameRequest, WorkerReply } from './worker-protocol.js';

const port = parentPort;
if (port === null) throw new Error('decode-worker must run in a worker thread');
const config = workerData as DecodeWorkerConfig;
const post = (m: WorkerReply): void => port.postMessage(m);

let decoder: QrDecoder | undefined;
try {
  decoder = await createDecoder(config.decoder, { invert: config.invert });
  post({ type: 'ready', detail: decoder.detail });
} catch (err) {
  post({ type: 'failed', message: (err as Error).message });
}

const gate = config.skipUnchanged ? new ChangeGate(config.gate) : undefined;
let lastTexts: readonly string[] = [];

async function handle(m: FrameRequest, d: QrDecoder): Promise<void> {
  const t0 = performance.now();
  const base = { type: 'result', seq: m.seq, at: m.at } as const;
  let frame: GreyFrame = crop({ width: m.width, height: m.height, data: m.data }, config.roi);
  const sig = gate === undefined ? undefined : signature(frame);
  if (gate !== undefined && sig !== undefined && gate.check(sig, m.at) === 'reuse') {
    post({
      ...base,
      texts: lastTexts,
      invalid: [],
      reused: true,
      ms: performance.now() - t0,
      width: 0,
      height: 0,
    });
    return;
  }
  frame = downscale(frame, config.maxWidth);
  let codes: Uint8Array[];
  try {
    codes = await d.decode(frame.data, frame.width, frame.height);
  } catch (err) {
    lastTexts = [];
    post({
      ...base,
      texts: [],
      invalid: [],
      reused: false,
      ms: performance.now() - t0,
      width: frame.width,
      height: frame.height,
      error: (err as Error).message,
    });
    return;
  }
  const texts: string[] = [];
  const invalid: string[] = [];
  for (const bytes of codes) {
    const t = qrText(bytes);
    if ('text' in t) {
      if (!texts.includes(t.text)) texts.push(t.text);
    } else invalid.push(t.invalid);
  }
  if (gate !== undefined && sig !== undefined) gate.decoded(sig, m.at, codes.length > 0);
  lastTexts = texts;
  post({
    ...base,
    texts,
    invalid,
    reused: false,
    ms: performance.now() - t0,
    width: frame.width,
    height: frame.height,
  });
}

if (decoder !== undefined) {
  const d = decoder;
  port.on('message', (m: FrameRequest) => void handle(m, d));
}
