/** Region of interest, downscaling, the change gate and the hold-off rule: pure functions, no worker. */
import t from 'tap';
import {
  ChangeGate,
  crop,
  downscale,
  roiRect,
  signature,
  signatureDistance,
} from '../../../src/adapters/camera/prefilter.js';
import { CodeSightings } from '../../../src/adapters/camera/sightings.js';
import { frameBytes } from '../../../src/adapters/camera/frame.js';
import { noCodeScene, Prng, renderScene } from '../../../scripts/qr-corpus.js';

const ramp = (w: number, h: number) => ({
  width: w,
  height: h,
  data: Uint8Array.from({ length: w * h }, (_, i) => (i % w) + 10 * Math.floor(i / w)),
});

t.test('roi: fractions to whole pixels inside the frame; crop copies the rows', async (t) => {
  t.same(roiRect({ x: 0.25, y: 0.5, width: 0.5, height: 0.5 }, 640, 480), {
    x: 160,
    y: 240,
    width: 320,
    height: 240,
  });
  t.same(roiRect({ x: -1, y: 0.9, width: 5, height: 5 }, 100, 100), { x: 0, y: 90, width: 100, height: 10 });
  t.same(
    roiRect({ x: 1, y: 1, width: 0, height: 0 }, 10, 10),
    { x: 9, y: 9, width: 1, height: 1 },
    'never empty',
  );
  const f = ramp(4, 3);
  t.equal(crop(f, undefined), f);
  t.equal(crop(f, { x: 0, y: 0, width: 1, height: 1 }), f, 'the whole frame: no copy');
  t.same(crop(f, { x: 0.5, y: 1 / 3, width: 0.5, height: 2 / 3 }), {
    width: 2,
    height: 2,
    data: Uint8Array.of(12, 13, 22, 23),
  });
});

t.test('downscale: 2x2 box halving until at most maxWidth wide; 0 = never', async (t) => {
  const f = ramp(8, 4);
  t.equal(downscale(f, 0), f);
  t.equal(downscale(f, 8), f);
  const h = downscale(f, 5);
  t.same([h.width, h.height], [4, 2]);
  t.equal(h.data[0], Math.round((0 + 1 + 10 + 11) / 4));
  t.same([downscale(f, 2).width, downscale(f, 2).height], [2, 1]);
  t.same([downscale(ramp(1280, 720), 640).width, downscale(ramp(1281, 721), 640).height], [640, 360]);
});

t.test('signature: insensitive to sensor noise, sensitive to a phone moving in', async (t) => {
  const base = noCodeScene(new Prng(1), 640, 480, { noise: 0, phone: false });
  const noisy = {
    ...base,
    data: base.data.map((v, i) => Math.max(0, Math.min(255, v + (((i * 7919) % 21) - 10)))),
  };
  t.ok(signatureDistance(signature(base), signature(noisy)) < 6, 'sensor noise of +-10 levels');
  const phone = { ...base, data: base.data.slice() };
  for (let y = 300; y < 380; y++) phone.data.fill(240, y * 640 + 500, y * 640 + 560); // a 60x80 phone
  t.ok(signatureDistance(signature(base), signature(phone)) >= 30, 'a small bright phone in a corner');
  t.equal(signatureDistance(new Uint8Array(4), new Uint8Array(5)), 255);
  t.equal(signature(ramp(8, 8)).length, 192, 'small frames are read whole');
});

t.test(
  'change gate: reuse a still scene with codes; settle before skipping an empty one; refresh',
  async (t) => {
    const gate = new ChangeGate({ threshold: 6, maxSkipMs: 1000, settleFrames: 2 });
    const s1 = new Uint8Array(192).fill(100);
    const s2 = new Uint8Array(192).fill(100);
    s2[5] = 140;
    t.equal(gate.check(s1, 0), 'decode', 'first frame');
    gate.decoded(s1, 0, false);
    t.equal(
      gate.check(s1, 30),
      'decode',
      'still, empty: decoded once more (the first still frame may be blurred)',
    );
    gate.decoded(s1, 30, false);
    t.equal(gate.check(s1, 60), 'reuse', 'still and empty twice: skipped');
    t.equal(gate.check(s1, 1029), 'reuse');
    t.equal(gate.check(s1, 1030), 'decode', 'refreshed after maxSkipMs');
    gate.decoded(s1, 1030, false);
    t.equal(gate.check(s1, 1060), 'reuse', 'a refresh does not restart the settling');
    t.equal(gate.check(s2, 1090), 'decode', 'a change');
    gate.decoded(s2, 1090, true);
    t.equal(gate.check(s2, 1120), 'reuse', 'still with a code: its result stands');
    t.equal(gate.check(s1, 1150), 'decode');
    gate.decoded(s1, 1150, false);
    t.equal(gate.check(s1, 1180), 'decode', 'settling again after a change');
  },
);

t.test('hold-off: once per sighting; again after holdOffMs out of view; others at once', async (t) => {
  const s = new CodeSightings(1000);
  t.same(s.observe(['a'], 0), ['a']);
  t.same(s.observe(['a', 'a'], 500), []);
  t.same(s.observe(['b', 'a', 'b'], 1400), ['b'], 'held: a is still the same attempt; b is new');
  t.same(s.observe([], 1800), []);
  t.same(s.observe(['a'], 2399), [], 'out of view 999 ms');
  t.same(s.observe(['a'], 3399), ['a'], 'out of view 1000 ms');
  t.equal(s.size, 1, 'b forgotten');
  t.same(s.observe(['a'], 3000), [], 'a late frame does not move the last sighting back');
  s.clear();
  t.same(s.observe(['a'], 3400), ['a']);
});

t.test('frame sizes: gray and I420', async (t) => {
  t.equal(frameBytes(640, 480, 'gray'), 307_200);
  t.equal(frameBytes(640, 480, 'yuv420'), 460_800);
  t.equal(frameBytes(5, 3, 'yuv420'), 15 + 2 * 3 * 2);
  t.ok(renderScene(new Prng(1), 64, 48, { text: null }).data.length === 64 * 48);
});
