/** The `files` source: a folder of PNG/JPEG images cycled at fps (committed fixtures in test/fixtures/qr). */
import t from 'tap';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import { CameraInput } from '../../../src/adapters/camera/camera-input.js';
import { decodeImage, FilesSource } from '../../../src/adapters/camera/files-source.js';
import { FakeClock, recordingLogger } from '../../helpers/fakes.js';

const fixtures = fileURLToPath(new URL('../../fixtures/qr/', import.meta.url));
const DOOR_PASS = 'DPV1:vp-2026-0501-7f3a:9c1e55d0b2a44f7e';
const PHOTO = 'DPV1:vp-2026-0612-c0de:5be7a0c33f4a2110';

const dir = mkdtempSync(path.join(tmpdir(), 'doorpass-camera-files-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const until = async (cond: () => boolean, what: string, ms = 10_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

t.test('a folder of images, cycled at fps: codes delivered once, a broken file reported once', async (t) => {
  const images = path.join(dir, 'images');
  mkdirSync(images);
  for (const f of ['door-pass.png', 'empty-hall.png', 'phone-photo.jpg'])
    copyFileSync(path.join(fixtures, f), path.join(images, f));
  writeFileSync(path.join(images, 'broken.png'), 'not an image');
  writeFileSync(path.join(images, 'notes.txt'), 'ignored');
  const clock = new FakeClock(0);
  const events: string[] = [];
  const input = new CameraInput(
    { type: 'camera', door: 'lobby', source: { type: 'files', dir: images, fps: 20 } },
    clock,
    recordingLogger(),
  );
  input.start({
    key: () => {},
    credential: (type, value) => events.push(`${type} ${value}`),
    readError: (detail) => events.push(`error ${detail}`),
    online: (online) => events.push(online ? 'online' : 'offline'),
  });
  t.teardown(() => input.stop());
  t.equal(input.name, 'camera:files:lobby');
  await until(() => input.decoderDescription !== '', 'decoder loaded');
  const settled = (): boolean => input.counters.decoded + input.counters.unchanged === input.counters.frames;
  for (let tick = 0; tick < 8; tick++) {
    clock.advance(tick === 0 ? 0 : 50);
    await until(settled, 'frame decoded');
  }
  t.same(events, [
    'error cannot read image broken.png: broken.png is neither PNG nor JPEG',
    'online',
    `qr ${DOOR_PASS}`,
    `qr ${PHOTO}`,
  ]);
  t.same(input.counters.source, { frames: 6, cycles: 2, unreadable: 1 }, 'two cycles, broken.png read once');
});

t.test('an empty or missing folder is offline', async (t) => {
  const clock = new FakeClock(0);
  const statuses: string[] = [];
  const source = new FilesSource(
    { type: 'files', dir: path.join(dir, 'missing'), fps: 5 },
    clock,
    recordingLogger(),
  );
  source.start({
    frame: () => statuses.push('frame'),
    status: (on, d) => statuses.push(`${on} ${d}`),
    problem: () => {},
  });
  clock.advance(0);
  mkdirSync(path.join(dir, 'missing'));
  clock.advance(1000);
  t.same(
    statuses,
    [`false cannot list ${path.join(dir, 'missing')}: ENOENT`],
    'offline once (then empty: still offline)',
  );
  copyFileSync(path.join(fixtures, 'empty-hall.png'), path.join(dir, 'missing', 'a.png'));
  clock.advance(1000);
  t.same(statuses.slice(1), ['true images from ' + path.join(dir, 'missing'), 'frame']);
  await source.stop();
  clock.advance(1000);
  t.equal(statuses.length, 3, 'nothing after stop');
  t.throws(() => new FilesSource({ type: 'files', dir, fps: 0 }, clock, recordingLogger()), /fps/);
});

t.test('decodeImage: PNG (alpha over white), JPEG, anything else refused', async (t) => {
  const png = new PNG({ width: 2, height: 1 });
  png.data = Buffer.from([255, 0, 0, 255, 0, 0, 0, 0]); // red, then transparent black
  const f = decodeImage(PNG.sync.write(png), 'x.png');
  t.same([f.width, f.height, [...f.data]], [2, 1, [(306 * 255 + 512) >> 10, 255]]);
  const jpg = decodeImage(readFileSync(path.join(fixtures, 'phone-photo.jpg')), 'p.jpg');
  t.same([jpg.width, jpg.height], [320, 240]);
  t.throws(() => decodeImage(new Uint8Array([1, 2, 3]), 'x.gif'), /x\.gif is neither PNG nor JPEG/);
});
