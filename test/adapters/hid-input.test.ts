import t, { type Test } from 'tap';
import { EventEmitter } from 'node:events';
import {
  HidInput,
  type HidBackend,
  type HidDeviceInfo,
  type HidDeviceLike,
  type HidInputOptions,
} from '../../src/adapters/hid-input.js';
import type { CredentialType } from '../../src/core/decide.js';
import type { InputHandler } from '../../src/ports/io.js';
import { FakeClock, recordingLogger } from '../helpers/fakes.js';

/** Shaped like node-hid's HID: 'data' with one Buffer per input report, 'error' when unplugged. */
class FakeHid extends EventEmitter implements HidDeviceLike {
  closed = 0;
  constructor(readonly path: string) {
    super();
  }
  close(): void {
    this.closed++;
  }
  /** One input report, as node-hid delivers it (a fresh Buffer). */
  report(bytes: readonly number[]): void {
    this.emit('data', Buffer.from(bytes));
  }
  reports(list: readonly (readonly number[])[]): void {
    for (const r of list) this.report(r);
  }
}

/** node-hid's devices()/open() over a device list the test edits to plug and unplug readers. */
class FakeBackend implements HidBackend {
  list: HidDeviceInfo[] = [];
  opened: FakeHid[] = [];
  openError: Error | undefined;
  devices(): HidDeviceInfo[] {
    return this.list.map((d) => ({ ...d }));
  }
  open(path: string): HidDeviceLike {
    if (this.openError) throw this.openError;
    if (!this.list.some((d) => d.path === path)) throw new Error(`could not open device ${path}`);
    const dev = new FakeHid(path);
    this.opened.push(dev);
    return dev;
  }
  plug(info: HidDeviceInfo): void {
    this.list.push(info);
  }
  unplug(path: string): void {
    this.list = this.list.filter((d) => d.path !== path);
  }
  last(t: Test): FakeHid {
    const d = this.opened.at(-1);
    if (d === undefined) {
      t.fail('no device was opened');
      throw new Error('no device opened');
    }
    return d;
  }
}

type Got =
  | { kind: 'key'; key: string }
  | { kind: 'credential'; type: CredentialType; value: string }
  | { kind: 'readError'; detail: string }
  | { kind: 'online'; online: boolean; detail: string | undefined };

function recorder(): InputHandler & { got: Got[]; clear(): void } {
  const got: Got[] = [];
  return {
    got,
    clear: () => void got.splice(0),
    key: (key) => void got.push({ kind: 'key', key }),
    credential: (type, value) => void got.push({ kind: 'credential', type, value }),
    readError: (detail) => void got.push({ kind: 'readError', detail }),
    online: (online, detail) => void got.push({ kind: 'online', online, detail }),
  };
}

// HID Usage Tables, Keyboard/Keypad page 0x07, US layout. Left Shift is bit 1 (0x02) of the modifier byte.
const SHIFT = 0x02;
const ENTER = 0x28;
const KEYPAD_ENTER = 0x58;
const KEYPAD_STAR = 0x55;
const RELEASE = [0, 0, 0, 0, 0, 0, 0, 0] as const;
const USAGE: ReadonlyMap<string, readonly [number, number]> = (() => {
  const m = new Map<string, readonly [number, number]>();
  for (let i = 0; i < 26; i++) {
    m.set(String.fromCharCode(0x61 + i), [0, 0x04 + i]); // a-z
    m.set(String.fromCharCode(0x41 + i), [SHIFT, 0x04 + i]); // A-Z
  }
  [...'1234567890'].forEach((c, i) => m.set(c, [0, 0x1e + i]));
  [...'!@#$%^&*()'].forEach((c, i) => m.set(c, [SHIFT, 0x1e + i]));
  m.set('-', [0, 0x2d]);
  m.set('_', [SHIFT, 0x2d]);
  m.set('.', [0, 0x37]);
  m.set('/', [0, 0x38]);
  m.set(':', [SHIFT, 0x33]);
  m.set('\n', [0, ENTER]);
  return m;
})();

/** A boot report: modifier, reserved, six key slots. */
function press(mod: number, ...codes: number[]): number[] {
  const out = [mod, 0, 0, 0, 0, 0, 0, 0];
  codes.forEach((c, i) => (out[2 + i] = c));
  return out;
}

/** The reports a keyboard-mode reader sends to type `text`: a press report then a release per character. */
function typed(text: string): number[][] {
  return [...text].flatMap((c) => {
    const u = USAGE.get(c);
    if (u === undefined) throw new Error(`no usage for ${JSON.stringify(c)} in the test table`);
    return [press(u[0], u[1]), [...RELEASE]];
  });
}

const keys = (s: string): Got[] => [...s].map((key) => ({ kind: 'key', key }));

interface Rig {
  input: HidInput;
  backend: FakeBackend;
  clock: FakeClock;
  handler: ReturnType<typeof recorder>;
  log: ReturnType<typeof recordingLogger>;
}

const KEYPAD_INFO = { vendorId: 0x1234, productId: 0x5678, path: '/dev/hidraw3' };

/** An input with the device already plugged in (unless `plugged` is empty) and started. */
function rig(t: Test, options: Partial<HidInputOptions> = {}, plugged: HidDeviceInfo[] = [KEYPAD_INFO]): Rig {
  const backend = new FakeBackend();
  for (const d of plugged) backend.plug(d);
  const clock = new FakeClock(0);
  const log = recordingLogger();
  const input = new HidInput(
    { role: 'keypad', vendorId: 0x1234, productId: 0x5678, reportId: false, pollMs: 1000, ...options },
    backend,
    clock,
    log,
  );
  const handler = recorder();
  input.start(handler);
  t.teardown(() => input.stop());
  return { input, backend, clock, handler, log };
}

t.test('keypad: digits and Enter from the main key row become keys, Enter is #', async (t) => {
  const { backend, handler, input } = rig(t);
  t.equal(input.name, 'hid:keypad:1234:5678');
  t.same(handler.got, [{ kind: 'online', online: true, detail: 'opened /dev/hidraw3' }]);
  handler.clear();
  const dev = backend.last(t);
  // "1234" + Enter, as the bytes a USB analyser shows.
  dev.reports([
    [0x00, 0x00, 0x1e, 0x00, 0x00, 0x00, 0x00, 0x00], // 1
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
    [0x00, 0x00, 0x1f, 0x00, 0x00, 0x00, 0x00, 0x00], // 2
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
    [0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00], // 3
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
    [0x00, 0x00, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00], // 4
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
    [0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x00, 0x00], // Enter
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
  ]);
  t.same(handler.got, keys('1234#'));
  handler.clear();

  dev.reports(typed('9870\n'));
  t.same(handler.got, keys('9870#'), '9 0x26 … 0 0x27');
  handler.clear();

  // A held key repeats its report (the reader re-sends state): one press only.
  dev.reports([press(0, 0x1e), press(0, 0x1e), press(0, 0x1e), [...RELEASE], [...RELEASE]]);
  t.same(handler.got, keys('1'), 'a key counts once until it is released');
});

t.test('keypad: the keypad area (digits, *, keypad Enter) gives the same keys', async (t) => {
  const { backend, handler } = rig(t);
  handler.clear();
  const dev = backend.last(t);
  // Keypad 1-9 are 0x59-0x61, keypad 0 is 0x62.
  const padDigits = [0x59, 0x5a, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f, 0x60, 0x61, 0x62];
  for (const code of padDigits) dev.reports([press(0, code), [...RELEASE]]);
  dev.reports([press(0, KEYPAD_STAR), [...RELEASE], press(0, KEYPAD_ENTER), [...RELEASE]]);
  t.same(handler.got, keys('1234567890*#'));
  handler.clear();
  // NumLock on some keypads sends digits with Shift held: still the digits.
  dev.reports([press(SHIFT, 0x59), [...RELEASE]]);
  t.same(handler.got, keys('1'));
});

t.test('keypad: letters, punctuation, shortcuts and bad reports are not keys', async (t) => {
  const { backend, handler } = rig(t);
  handler.clear();
  const dev = backend.last(t);
  dev.reports(typed('abcXYZ-./'));
  t.same(handler.got, [], 'letters and punctuation are ignored on a keypad');
  dev.reports([press(0x01, 0x1e), [...RELEASE]]); // Ctrl+1
  t.same(handler.got, [], 'a Ctrl chord is a shortcut, not a key');
  dev.report([0, 0, 0x1e]); // a short report
  dev.reports([press(0, 1, 1, 1, 1, 1, 1), [...RELEASE]]); // rollover
  t.same(handler.got, [], 'malformed and rollover reports produce no keys and no errors');
  dev.reports(typed('5\n'));
  t.same(handler.got, keys('5#'), 'keys after them still work');
});

t.test('card reader: a numeric token + Enter is a card credential', async (t) => {
  const { backend, handler, input } = rig(t, { role: 'card' });
  t.equal(input.name, 'hid:card:1234:5678');
  handler.clear();
  const dev = backend.last(t);
  dev.reports(typed('0012345678'));
  t.same(handler.got, [], 'nothing before Enter');
  dev.reports(typed('\n'));
  t.same(handler.got, [{ kind: 'credential', type: 'card', value: '0012345678' }]);
  handler.clear();
  dev.reports([...typed('42'), press(0, KEYPAD_ENTER), [...RELEASE]]);
  t.same(handler.got, [{ kind: 'credential', type: 'card', value: '42' }], 'keypad Enter ends a token too');
  handler.clear();
  dev.reports(typed('\n\n'));
  t.same(handler.got, [], 'an empty token is nothing');
});

t.test('card reader: a non-numeric token is a read error that does not repeat it', async (t) => {
  const { backend, handler } = rig(t, { role: 'card' });
  handler.clear();
  const dev = backend.last(t);
  dev.reports(typed('SECRET9x\n'));
  t.equal(handler.got.length, 1);
  const g = handler.got[0];
  t.equal(g?.kind, 'readError');
  if (g?.kind === 'readError') {
    t.notMatch(g.detail, /SECRET|9x|secret/i, 'no token content in the message');
    t.match(g.detail, '8 characters');
  }
  handler.clear();
  dev.reports(typed('77\n'));
  t.same(handler.got, [{ kind: 'credential', type: 'card', value: '77' }], 'the next read is fine');
});

t.test('scanner: shifted text with symbols is a QR credential', async (t) => {
  const { backend, handler } = rig(t, { role: 'scanner' });
  handler.clear();
  const dev = backend.last(t);
  dev.reports([
    [0x02, 0x00, 0x13, 0x00, 0x00, 0x00, 0x00, 0x00], // P (Shift + p)
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
    [0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00], // a
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
    [0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x00, 0x00], // s
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
    [0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x00, 0x00], // s
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
    [0x00, 0x00, 0x2d, 0x00, 0x00, 0x00, 0x00, 0x00], // -
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
    [0x00, 0x00, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00], // 4
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
    [0x00, 0x00, 0x1f, 0x00, 0x00, 0x00, 0x00, 0x00], // 2
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
    [0x20, 0x00, 0x1e, 0x00, 0x00, 0x00, 0x00, 0x00], // ! (right Shift + 1)
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
    [0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x00, 0x00], // Enter
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
  ]);
  t.same(handler.got, [{ kind: 'credential', type: 'qr', value: 'Pass-42!' }]);
  handler.clear();
  dev.reports(typed('https://example.test/p/AbC_9\n'));
  t.same(handler.got, [{ kind: 'credential', type: 'qr', value: 'https://example.test/p/AbC_9' }]);
});

t.test('scanner: 9-byte reports with a leading report ID when reportId is set', async (t) => {
  const { backend, handler } = rig(t, { role: 'scanner', reportId: true });
  handler.clear();
  const dev = backend.last(t);
  const withId = typed('Pass-42!\n').map((r) => [0x01, ...r]);
  t.equal(withId[0]?.length, 9);
  dev.reports(withId);
  t.same(handler.got, [{ kind: 'credential', type: 'qr', value: 'Pass-42!' }]);
  handler.clear();
  dev.reports(typed('X\n'));
  t.same(handler.got, [], '8-byte reports are the wrong length for a report-ID device');
});

t.test('device selection: by vendor/product id among several devices, or by path', async (t) => {
  const others: HidDeviceInfo[] = [
    { vendorId: 0x046d, productId: 0xc52b, path: '/dev/hidraw0' }, // a wireless mouse receiver
    { vendorId: 0x1234, productId: 0x9999, path: '/dev/hidraw1' }, // same vendor, other product
    { vendorId: 0x9999, productId: 0x5678, path: '/dev/hidraw2' }, // other vendor, same product
    { vendorId: 0x1234, productId: 0x5678 }, // the right ids but no path to open
  ];
  const byId = rig(t, {}, [...others, KEYPAD_INFO]);
  t.same(
    byId.backend.opened.map((d) => d.path),
    ['/dev/hidraw3'],
    'the device with the configured ids',
  );
  t.same(byId.handler.got, [{ kind: 'online', online: true, detail: 'opened /dev/hidraw3' }]);

  const byPath = rig(t, { vendorId: undefined, productId: undefined, path: '/dev/hidraw1' }, [
    ...others,
    KEYPAD_INFO,
  ]);
  t.equal(byPath.input.name, 'hid:keypad:/dev/hidraw1');
  t.same(
    byPath.backend.opened.map((d) => d.path),
    ['/dev/hidraw1'],
    'the configured path, whatever its ids',
  );

  const wrongIds = rig(t, { vendorId: 0x1234, productId: 0x0001 }, [...others, KEYPAD_INFO]);
  t.same(wrongIds.backend.opened, [], 'no device with the ids: nothing opened');
  t.match(wrongIds.handler.got, [{ kind: 'online', online: false }]);
});

t.test('not connected: offline once, polled every pollMs, online when it appears', async (t) => {
  const { backend, handler, clock, input } = rig(t, { role: 'scanner' }, []);
  t.same(handler.got, [{ kind: 'online', online: false, detail: 'device not connected' }]);
  clock.advance(5000);
  t.equal(handler.got.length, 1, 'offline is reported once, not on every poll');
  t.equal(clock.pendingTimers, 1, 'one poll pending, not a pile of them');

  backend.plug({ vendorId: 0x9999, productId: 0x0001, path: '/dev/hidraw0' });
  clock.advance(1000);
  t.same(backend.opened, [], 'another device is not taken for it');

  backend.plug(KEYPAD_INFO);
  clock.advance(999);
  t.same(backend.opened, [], 'not before the next poll');
  clock.advance(1);
  t.same(
    backend.opened.map((d) => d.path),
    ['/dev/hidraw3'],
  );
  t.same(handler.got.at(-1), { kind: 'online', online: true, detail: 'opened /dev/hidraw3' });
  t.equal(clock.pendingTimers, 0, 'no polling while connected');
  handler.clear();
  backend.last(t).reports(typed('ok\n'));
  t.same(handler.got, [{ kind: 'credential', type: 'qr', value: 'ok' }]);
  await input.stop();
});

t.test('an open that fails is offline with the reason, and is retried', async (t) => {
  const backend = new FakeBackend();
  backend.plug(KEYPAD_INFO);
  backend.openError = new Error('cannot open device with path /dev/hidraw3');
  const clock = new FakeClock(0);
  const input = new HidInput(
    { role: 'card', vendorId: 0x1234, productId: 0x5678, reportId: false, pollMs: 500 },
    backend,
    clock,
    recordingLogger(),
  );
  const handler = recorder();
  input.start(handler);
  t.teardown(() => input.stop());
  t.same(handler.got, [
    {
      kind: 'online',
      online: false,
      detail: 'cannot open /dev/hidraw3: cannot open device with path /dev/hidraw3',
    },
  ]);
  clock.advance(1500);
  t.equal(handler.got.length, 1);
  backend.openError = undefined;
  clock.advance(500);
  t.same(handler.got.at(-1), { kind: 'online', online: true, detail: 'opened /dev/hidraw3' });
});

t.test('unplugged: offline, closed, reopened when it is listed again', async (t) => {
  const { backend, handler, clock } = rig(t, { role: 'card' });
  handler.clear();
  const first = backend.last(t);
  // Half a card number, then the reader is pulled out.
  first.reports([...typed('0012'), press(0, 0x20)]);
  backend.unplug('/dev/hidraw3');
  first.emit('error', new Error('could not read from HID device'));
  t.same(handler.got, [
    { kind: 'online', online: false, detail: 'device error: could not read from HID device' },
  ]);
  t.equal(first.closed, 1, 'the dead device is closed');
  t.equal(first.listenerCount('data'), 0, 'and no longer listened to');
  t.equal(first.listenerCount('error'), 0);

  clock.advance(5000);
  t.equal(backend.opened.length, 1, 'not reopened while it is not listed');
  t.equal(handler.got.length, 1, 'offline once');

  backend.plug(KEYPAD_INFO);
  clock.advance(1000);
  t.equal(backend.opened.length, 2, 'reopened');
  const second = backend.last(t);
  t.not(second, first);
  t.same(handler.got.at(-1), { kind: 'online', online: true, detail: 'opened /dev/hidraw3' });
  handler.clear();
  // The key held at the unplug is pressed anew on the new device; the half token before it is gone.
  second.reports([press(0, 0x20), [...RELEASE], ...typed('45\n')]);
  t.same(handler.got, [{ kind: 'credential', type: 'card', value: '345' }]);

  // A second unplug works the same way.
  handler.clear();
  second.emit('error', new Error('gone'));
  t.same(handler.got, [{ kind: 'online', online: false, detail: 'device error: gone' }]);
  t.equal(second.closed, 1);
  clock.advance(1000);
  t.equal(backend.opened.length, 3, 'still listed: reopened on the next poll');
});

t.test('stop: closes the device, cancels polling, feedback never throws', async (t) => {
  const connected = rig(t);
  const dev = connected.backend.last(t);
  for (const s of ['accept', 'deny', 'click', 'locked_out', 'alarm', 'alarm_off'] as const) {
    t.doesNotThrow(() => connected.input.feedback(s), `feedback ${s}`);
  }
  t.same(connected.handler.got.length, 1, 'feedback reports nothing');
  await connected.input.stop();
  t.equal(dev.closed, 1);
  t.equal(dev.listenerCount('data'), 0);
  connected.handler.clear();
  dev.reports(typed('1\n'));
  t.same(connected.handler.got, [], 'nothing after stop');

  const waiting = rig(t, {}, []);
  t.equal(waiting.clock.pendingTimers, 1);
  await waiting.input.stop();
  t.equal(waiting.clock.pendingTimers, 0, 'the poll is cancelled');
  waiting.backend.plug(KEYPAD_INFO);
  waiting.clock.advance(10_000);
  t.same(waiting.backend.opened, [], 'nothing opened after stop');
  t.doesNotThrow(() => waiting.input.feedback('deny'));

  const unplugged = rig(t);
  const gone = unplugged.backend.last(t);
  unplugged.backend.unplug('/dev/hidraw3');
  gone.emit('error', new Error('gone'));
  t.equal(unplugged.clock.pendingTimers, 1);
  await unplugged.input.stop();
  t.equal(unplugged.clock.pendingTimers, 0, 'the reconnect poll is cancelled');
  t.equal(gone.closed, 1, 'not closed twice');
  await unplugged.input.stop();
});

t.test('a close that throws (device already gone) is not an error', async (t) => {
  const { backend, handler, clock } = rig(t);
  const dev = backend.last(t);
  dev.close = () => {
    throw new Error('already closed');
  };
  t.doesNotThrow(() => dev.emit('error', new Error('unplugged')));
  t.match(handler.got.at(-1), { kind: 'online', online: false });
  clock.advance(1000);
  t.equal(backend.opened.length, 2, 'reopened');
});

t.test('reports in a Buffer that is a slice of a larger one are read at their offset', async (t) => {
  const { backend, handler } = rig(t, { role: 'card' });
  handler.clear();
  const dev = backend.last(t);
  for (const r of typed('123\n')) {
    // node-hid may hand out views into a shared pool: junk before and after the report must be ignored.
    const big = Buffer.alloc(64, 0x1e);
    Buffer.from(r).copy(big, 20);
    dev.emit('data', big.subarray(20, 28));
  }
  t.same(handler.got, [{ kind: 'credential', type: 'card', value: '123' }]);
});

t.test('a token longer than 2048 characters is one read error without its content', async (t) => {
  const { backend, handler } = rig(t, { role: 'scanner' });
  handler.clear();
  const dev = backend.last(t);
  dev.reports(typed(`${'ab'.repeat(1100)}\n`));
  t.same(handler.got, [{ kind: 'readError', detail: 'hid token longer than 2048 characters' }]);
  handler.clear();
  dev.reports(typed('next\n'));
  t.same(handler.got, [{ kind: 'credential', type: 'qr', value: 'next' }], 'the next scan is intact');
});

t.test('a device list that cannot be read is offline with the reason, and is retried', async (t) => {
  const backend = new FakeBackend();
  backend.plug(KEYPAD_INFO);
  const listing = backend.devices.bind(backend);
  let broken = true;
  backend.devices = () => {
    if (broken) throw new Error('hid_enumerate failed');
    return listing();
  };
  const clock = new FakeClock(0);
  const input = new HidInput(
    { role: 'keypad', vendorId: 0x1234, productId: 0x5678, reportId: false },
    backend,
    clock,
    recordingLogger(),
  );
  const handler = recorder();
  input.start(handler);
  t.teardown(() => input.stop());
  t.same(handler.got, [
    { kind: 'online', online: false, detail: 'cannot open device: hid_enumerate failed' },
  ]);
  broken = false;
  clock.advance(1999);
  t.equal(backend.opened.length, 0, 'the default poll interval is 2 s');
  clock.advance(1);
  t.equal(backend.opened.length, 1);
  t.match(handler.got.at(-1), { kind: 'online', online: true });
});
