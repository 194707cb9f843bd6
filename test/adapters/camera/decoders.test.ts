/** The two decoders on generated frames: exact text, nothing from a frame without a code, inversion as chosen. */
import t from 'tap';
import {
  createDecoder,
  JsqrDecoder,
  qrText,
  selfTestFrame,
  ZxingDecoder,
} from '../../../src/adapters/camera/decoders.js';
import { noCodeScene, passPayload, Prng, renderScene } from '../../../scripts/qr-corpus.js';

const texts = (codes: Uint8Array[]): string[] =>
  codes.map((c) => {
    const r = qrText(c);
    return 'text' in r ? r.text : `<${r.invalid}>`;
  });

const rng = new Prng(7);
const payload = passPayload(rng, 90);
const unicode = 'DPV1:vp-2026-0612-zoë:Ø✓ 門 🚪';
const clean = (text: string, invert = false, width = 640, height = 480) =>
  renderScene(new Prng(11), width, height, {
    text,
    codeFrac: 0.32,
    angle: 12,
    noise: 3,
    clutter: 10,
    invert,
  });

for (const name of ['zxing', 'jsqr'] as const) {
  t.test(
    `${name}: a code decodes to its exact text; no code gives nothing; inverted codes only when asked`,
    async (t) => {
      const d = await createDecoder(name);
      t.equal(d.name, name);
      t.match(
        d.detail,
        name === 'zxing' ? /zxing-wasm 3\.1\.4, grey plane via the luminance entry point/ : /dontInvert/,
      );
      for (const [w, h] of [
        [640, 480],
        [1280, 720],
      ] as const) {
        const f = clean(payload, false, w, h);
        t.same(texts(await d.decode(f.data, f.width, f.height)), [payload], `${w}x${h}: exact text`);
      }
      const u = clean(unicode);
      t.same(
        texts(await d.decode(u.data, u.width, u.height)),
        [unicode],
        'UTF-8 text (byte mode) round-trips',
      );
      for (let i = 0; i < 3; i++) {
        const n = noCodeScene(new Prng(100 + i), 640, 480, { noise: 6 });
        t.same(await d.decode(n.data, n.width, n.height), [], `frame without a code ${i}: nothing`);
      }
      const inv = clean(payload, true);
      t.same(await d.decode(inv.data, inv.width, inv.height), [], 'an inverted code is not read by default');
      const withInvert = await createDecoder(name, { invert: true });
      t.same(
        texts(await withInvert.decode(inv.data, inv.width, inv.height)),
        [payload],
        'read with invert: true',
      );
      const again = clean(payload);
      t.same(
        texts(await withInvert.decode(again.data, again.width, again.height)),
        [payload],
        'and normal ones still',
      );
    },
  );
}

t.test('jsqr: one RGBA buffer reused across frames, grey copied into r, g and b', async (t) => {
  const d = new JsqrDecoder(false);
  const a = d.rgbaOf(Uint8Array.of(0, 128, 255, 7), 2, 2);
  t.same([...a], [0, 0, 0, 255, 128, 128, 128, 255, 255, 255, 255, 255, 7, 7, 7, 255]);
  const b = d.rgbaOf(Uint8Array.of(1, 2, 3, 4), 2, 2);
  t.equal(a, b, 'same buffer for the same size');
  t.not(d.rgbaOf(new Uint8Array(9), 3, 3), a, 'a new one for another size');
});

t.test('zxing: the self-test code; the public readBarcodes fallback reads the same', async (t) => {
  const f = selfTestFrame();
  const lum = await ZxingDecoder.create(false);
  t.equal(lum.luminanceEntry, true);
  t.same(texts(await lum.decode(f.data, f.width, f.height)), [f.text]);
  const pub = await ZxingDecoder.create(false, true);
  t.equal(pub.luminanceEntry, false);
  t.match(pub.detail, /RGBA via readBarcodes/);
  const c = clean(payload);
  t.same(texts(await pub.decode(c.data, c.width, c.height)), [payload]);
  t.same(await pub.decode(f.data.fill(128), f.width, f.height), []);
});

t.test(
  'qrText: the scanned-QR rules (UTF-8, BOM kept, 1-2048 characters), never the content in errors',
  async (t) => {
    const enc = new TextEncoder();
    t.same(qrText(enc.encode('abc')), { text: 'abc' });
    t.same(qrText(Uint8Array.of(0xef, 0xbb, 0xbf, 0x41)), { text: '\ufeffA' });
    const bad = qrText(Uint8Array.of(0x41, 0xff, 0x42));
    t.same(bad, { invalid: 'QR code content is not UTF-8 text (3 bytes)' });
    t.same(qrText(new Uint8Array(0)), { invalid: 'QR code is empty' });
    t.same(qrText(enc.encode('x'.repeat(2049))), { invalid: 'QR text longer than 2048 characters' });
    t.same(qrText(enc.encode('x'.repeat(2048))), { text: 'x'.repeat(2048) });
  },
);
