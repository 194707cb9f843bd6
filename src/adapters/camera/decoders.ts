/**
 * QR decoders behind one small interface: grey pixels in, the byte content of each code found out.
 *
 * - `zxing`: ZXing-C++ compiled to WebAssembly (zxing-wasm), loaded from the package's own .wasm file (never a
 *   CDN). It is fed the grey plane directly through the module's luminance entry point
 *   (`readBarcodesFromPixmap`, what the public `readBarcodes` calls after converting RGBA to grey in JS).
 *   That entry point is undocumented, so the version is pinned in package.json and a known code is decoded
 *   through it at start; if that self-test fails, the decoder falls back to the public `readBarcodes` with an
 *   RGBA copy of the frame.
 * - `jsqr`: jsQR 1.4.0, pure JavaScript. It only takes RGBA, so the grey plane is expanded into one RGBA buffer
 *   that is reused from frame to frame, and `inversionAttempts` is always passed explicitly (jsQR mutates its
 *   shared default options, so one call that omits it would inherit whatever an earlier call set).
 *
 * Both return the code's bytes; qrText() turns them into credential text by the same rule as a scanned QR
 * (well-formed UTF-8, a leading U+FEFF kept, 1-2048 characters), so two decoders never disagree on the text.
 * Used inside the decode worker and by the benchmark; the daemon's main thread never calls decode().
 */
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import jsQRModule from 'jsqr';
import { prepareZXingModule, readBarcodes, ZXING_WASM_VERSION } from 'zxing-wasm/reader';

export type DecoderName = 'zxing' | 'jsqr';
export const DECODER_NAMES: readonly DecoderName[] = ['zxing', 'jsqr'];

export interface DecoderOptions {
  /** Also look for inverted codes (light modules on a dark background). Default false: see docs/camera.md. */
  readonly invert?: boolean;
}

export interface QrDecoder {
  readonly name: DecoderName;
  /** Which implementation and entry point, for the log ("zxing-wasm 3.1.4, luminance entry"). */
  readonly detail: string;
  /** The byte content of each QR code found in the grey image (`width * height` bytes, row-major). */
  decode(grey: Uint8Array, width: number, height: number): Promise<Uint8Array[]>;
}

/** The zxing-wasm version whose internal entry point was checked; another one still runs after a self-test. */
export const ZXING_PINNED_VERSION = '3.1.4';

export async function createDecoder(name: DecoderName, options: DecoderOptions = {}): Promise<QrDecoder> {
  if (name === 'jsqr') return new JsqrDecoder(options.invert ?? false);
  if (name === 'zxing') return ZxingDecoder.create(options.invert ?? false);
  throw new RangeError(`unknown QR decoder ${String(name)} (expected ${DECODER_NAMES.join(' or ')})`);
}

// ---- text -------------------------------------------------------------------------------------------------

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
export const MAX_QR_TEXT = 2048;

/**
 * The credential text of a decoded code, or why there is none. Never includes any of the content: the
 * reason goes to readError, which must not carry credential bits.
 */
export function qrText(bytes: Uint8Array): { text: string } | { invalid: string } {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { invalid: `QR code content is not UTF-8 text (${bytes.length} bytes)` };
  }
  if (text.length === 0) return { invalid: 'QR code is empty' };
  if (text.length > MAX_QR_TEXT) return { invalid: `QR text longer than ${MAX_QR_TEXT} characters` };
  return { text };
}

// ---- jsQR ---------------------------------------------------------------------------------------------------

type JsQR = (
  data: Uint8ClampedArray,
  width: number,
  height: number,
  options: { inversionAttempts: 'dontInvert' | 'attemptBoth' },
) => { binaryData: number[] } | null;

// jsqr is CommonJS with a `default` property on its export: take whichever is the function.
const jsQR: JsQR = ((m: unknown): JsQR => {
  const withDefault = m as { default?: unknown };
  return (typeof withDefault.default === 'function' ? withDefault.default : m) as JsQR;
})(jsQRModule);

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export class JsqrDecoder implements QrDecoder {
  readonly name = 'jsqr' as const;
  readonly detail: string;
  private rgba = new Uint8ClampedArray(0);
  private words = new Uint32Array(0);
  private readonly inversion: 'dontInvert' | 'attemptBoth';

  constructor(invert: boolean) {
    this.inversion = invert ? 'attemptBoth' : 'dontInvert';
    this.detail = `jsqr 1.4.0, inversionAttempts ${this.inversion}`;
  }

  /** Expands grey into the reused RGBA buffer (r = g = b = grey, so jsQR's own luminance is the grey value). */
  rgbaOf(grey: Uint8Array, width: number, height: number): Uint8ClampedArray {
    const n = width * height;
    if (this.rgba.length !== n * 4) {
      this.rgba = new Uint8ClampedArray(n * 4);
      this.words = new Uint32Array(this.rgba.buffer);
    }
    if (LITTLE_ENDIAN) {
      const w = this.words;
      for (let i = 0; i < n; i++) w[i] = 0xff000000 | ((grey[i] as number) * 0x010101);
    } else {
      const c = this.rgba;
      for (let i = 0, j = 0; i < n; i++, j += 4) {
        const v = grey[i] as number;
        c[j] = v;
        c[j + 1] = v;
        c[j + 2] = v;
        c[j + 3] = 255;
      }
    }
    return this.rgba;
  }

  decode(grey: Uint8Array, width: number, height: number): Promise<Uint8Array[]> {
    const code = jsQR(this.rgbaOf(grey, width, height), width, height, {
      inversionAttempts: this.inversion,
    });
    return Promise.resolve(code === null ? [] : [Uint8Array.from(code.binaryData)]);
  }
}

// ---- zxing-wasm ---------------------------------------------------------------------------------------------

/** The part of the Emscripten module zxing-wasm builds that the luminance entry point needs. */
interface ZxingLuminanceModule {
  readonly HEAPU8: Uint8Array;
  _malloc(size: number): number;
  _free(ptr: number): void;
  readBarcodesFromPixmap(
    ptr: number,
    width: number,
    height: number,
    options: ZxingInternalOptions,
  ): {
    size(): number;
    get(i: number): { bytes: Uint8Array; isValid: boolean } | undefined;
    delete?: () => void;
  };
}

/** zxing-wasm's internal (already encoded) reader options, as readerOptionsToZXingReaderOptions makes them. */
interface ZxingInternalOptions {
  formats: string;
  tryHarder: boolean;
  tryRotate: boolean;
  tryInvert: boolean;
  tryDownscale: boolean;
  tryDenoise: boolean;
  binarizer: number;
  isPure: boolean;
  downscaleFactor: number;
  downscaleThreshold: number;
  minLineCount: number;
  maxNumberOfSymbols: number;
  validateOptionalChecksum: boolean;
  returnErrors: boolean;
  eanAddOnSymbol: number;
  textMode: number;
  characterSet: number;
  tryCode39ExtendedMode: boolean;
}

/**
 * What makes zxing fast here: QR only, no rotation (a QR symbol is found at any angle anyway; tryRotate is
 * for linear codes), no extra downscaled pass, no "try harder" scan-line density. Measured on the corpus
 * (bench/qr.ts, docs/camera.md): the same decode rate as zxing's defaults at about half the time.
 */
export const ZXING_READER_OPTIONS = {
  formats: ['QRCode'],
  tryHarder: false,
  tryRotate: false,
  tryDownscale: false,
  tryDenoise: false,
  binarizer: 'LocalAverage',
  maxNumberOfSymbols: 4,
} as const;

function internalOptions(invert: boolean): ZxingInternalOptions {
  return {
    formats: 'QRCode',
    tryHarder: ZXING_READER_OPTIONS.tryHarder,
    tryRotate: ZXING_READER_OPTIONS.tryRotate,
    tryInvert: invert,
    tryDownscale: ZXING_READER_OPTIONS.tryDownscale,
    tryDenoise: ZXING_READER_OPTIONS.tryDenoise,
    binarizer: 0, // LocalAverage
    isPure: false,
    downscaleFactor: 3,
    downscaleThreshold: 500,
    minLineCount: 2,
    maxNumberOfSymbols: ZXING_READER_OPTIONS.maxNumberOfSymbols,
    validateOptionalChecksum: false,
    returnErrors: false,
    eanAddOnSymbol: 0, // Ignore
    textMode: 2, // HRI (the text is not used: bytes are)
    characterSet: 0, // Unknown
    tryCode39ExtendedMode: true,
  };
}

const require = createRequire(import.meta.url);

/** The zxing reader module, instantiated from the package's own .wasm (once per thread). */
let modulePromise: Promise<ZxingLuminanceModule> | undefined;
function zxingModule(): Promise<ZxingLuminanceModule> {
  modulePromise ??= prepareZXingModule({
    overrides: { wasmBinary: readFileSync(require.resolve('zxing-wasm/reader/zxing_reader.wasm')) },
    fireImmediately: true,
  }).then((m) => m as unknown as ZxingLuminanceModule);
  return modulePromise;
}

/** A version-2 QR code of SELF_TEST_TEXT (made with the `qrcode` package), for the start-up self-test. */
const SELF_TEST_TEXT = 'doorpass zxing self-test';
const SELF_TEST_CODE = [
  '#######.#.###.#...#######',
  '#.....#.###.##..#.#.....#',
  '#.###.#.##...#.#..#.###.#',
  '#.###.#...#.##..#.#.###.#',
  '#.###.#.#..#..#.#.#.###.#',
  '#.....#..##.###...#.....#',
  '#######.#.#.#.#.#.#######',
  '.........#...###.........',
  '#..########.#..#.#..#.###',
  '.#.##..#...#####.#.###...',
  '########.###...#.#..#.#.#',
  '##..##.##..##.#.##...##..',
  '#.#..#####.....##.##.....',
  '#.#.#..#.#..##.#.#.##....',
  '##.#.####.#..###....##.##',
  '#.#.##.#.#..#.##..#.###.#',
  '#.#####...####.######.#.#',
  '........#.##....#...#.##.',
  '#######.#.#.##..#.#.###.#',
  '#.....#.####.#.##...##..#',
  '#.###.#.#..##.########...',
  '#.###.#.#...#....###..###',
  '#.###.#..#.####.##.##..##',
  '#.....#...##..#..#.######',
  '#######.#.##....#.###...#',
];

/** The self-test code drawn at 3 px per module with its quiet zone, on a 160x120 grey frame, off centre. */
export function selfTestFrame(): { width: number; height: number; data: Uint8Array; text: string } {
  const width = 160;
  const height = 120;
  const data = new Uint8Array(width * height).fill(200);
  const scale = 3;
  const x0 = 36;
  const y0 = 8;
  const n = SELF_TEST_CODE.length;
  for (let my = -4; my < n + 4; my++) {
    const row = SELF_TEST_CODE[my] ?? '';
    for (let mx = -4; mx < n + 4; mx++) {
      const dark = row[mx] === '#';
      for (let dy = 0; dy < scale; dy++) {
        const y = y0 + (my + 4) * scale + dy;
        for (let dx = 0; dx < scale; dx++) data[y * width + x0 + (mx + 4) * scale + dx] = dark ? 25 : 230;
      }
    }
  }
  return { width, height, data, text: SELF_TEST_TEXT };
}

const textOf = (bytes: Uint8Array): string | undefined => {
  const t = qrText(bytes);
  return 'text' in t ? t.text : undefined;
};

export class ZxingDecoder implements QrDecoder {
  readonly name = 'zxing' as const;
  private ptr = 0;
  private capacity = 0;
  private readonly options: ZxingInternalOptions;
  private rgba = new Uint8ClampedArray(0);

  private constructor(
    private readonly module: ZxingLuminanceModule,
    private readonly invert: boolean,
    private useLuminance: boolean,
    readonly detail: string,
  ) {
    this.options = internalOptions(invert);
  }

  /**
   * Loads the module and checks the luminance entry point on a known code. `forcePublic` skips it (tests of
   * the fallback).
   */
  static async create(invert: boolean, forcePublic = false): Promise<ZxingDecoder> {
    const module = await zxingModule();
    const pinned = ZXING_WASM_VERSION === ZXING_PINNED_VERSION;
    const probe = new ZxingDecoder(module, invert, true, '');
    let luminanceOk = false;
    let why = 'disabled';
    if (!forcePublic) {
      try {
        const f = selfTestFrame();
        const found = (await probe.decode(f.data, f.width, f.height)).map(textOf);
        luminanceOk = found.length === 1 && found[0] === f.text;
        why = luminanceOk ? 'self-test ok' : `self-test decoded ${found.length} codes, not the test text`;
      } catch (err) {
        why = `self-test failed: ${(err as Error).message}`;
      }
    }
    const version = `zxing-wasm ${ZXING_WASM_VERSION}${pinned ? '' : ` (checked: ${ZXING_PINNED_VERSION})`}`;
    const detail = luminanceOk
      ? `${version}, grey plane via the luminance entry point (${why})`
      : `${version}, RGBA via readBarcodes (luminance entry point ${why})`;
    const decoder = new ZxingDecoder(module, invert, luminanceOk, detail);
    if (!luminanceOk) {
      const f = selfTestFrame();
      const found = (await decoder.decode(f.data, f.width, f.height)).map(textOf);
      if (found[0] !== f.text)
        throw new Error(`zxing-wasm ${ZXING_WASM_VERSION} cannot decode its self-test code`);
    }
    return decoder;
  }

  get luminanceEntry(): boolean {
    return this.useLuminance;
  }

  decode(grey: Uint8Array, width: number, height: number): Promise<Uint8Array[]> {
    if (!this.useLuminance) return this.decodePublic(grey, width, height);
    const m = this.module;
    const n = width * height;
    if (n > this.capacity) {
      if (this.ptr !== 0) m._free(this.ptr);
      this.ptr = m._malloc(n);
      if (this.ptr === 0) {
        this.capacity = 0;
        return Promise.reject(new Error(`zxing: cannot allocate ${n} bytes`));
      }
      this.capacity = n;
    }
    m.HEAPU8.set(grey.subarray(0, n), this.ptr);
    const results = m.readBarcodesFromPixmap(this.ptr, width, height, this.options);
    const out: Uint8Array[] = [];
    try {
      for (let i = 0; i < results.size(); i++) {
        const r = results.get(i);
        // Copy: the bytes must not alias wasm memory, which the next call may move or overwrite.
        if (r !== undefined && r.isValid) out.push(Uint8Array.from(r.bytes));
      }
    } finally {
      results.delete?.();
    }
    return Promise.resolve(out);
  }

  private async decodePublic(grey: Uint8Array, width: number, height: number): Promise<Uint8Array[]> {
    const n = width * height;
    if (this.rgba.length !== n * 4) this.rgba = new Uint8ClampedArray(n * 4);
    const c = this.rgba;
    for (let i = 0, j = 0; i < n; i++, j += 4) {
      const v = grey[i] as number;
      c[j] = v;
      c[j + 1] = v;
      c[j + 2] = v;
      c[j + 3] = 255;
    }
    const results = await readBarcodes(
      { data: c, width, height },
      { ...ZXING_READER_OPTIONS, formats: ['QRCode'], tryInvert: this.invert },
    );
    return results.filter((r) => r.isValid).map((r) => Uint8Array.from(r.bytes));
  }
}
