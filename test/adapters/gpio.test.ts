import t, { type Test } from 'tap';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { BinaryValue, Direction, Edge, Options, ValueCallback } from 'onoff';
import {
  GpioRelayLine,
  GpioSensor,
  resolveGpioLine,
  type GpioFactory,
  type GpioLike,
} from '../../src/adapters/gpio.js';
import { RelayPulse } from '../../src/app/relay.js';
import { isDoorpassError, type DoorpassError } from '../../src/core/errors.js';
import { FakeClock, recordingLogger } from '../helpers/fakes.js';

/** A temp directory laid out like /sys/class/gpio: export/unexport and one folder per gpiochip. */
function fakeSysfs(t: Test, chips: Record<string, { label: string; base: number; ngpio: number }>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'doorpass-sysfs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'export'), '');
  writeFileSync(path.join(dir, 'unexport'), '');
  for (const [name, chip] of Object.entries(chips)) {
    mkdirSync(path.join(dir, name));
    // sysfs attribute files end with a newline.
    writeFileSync(path.join(dir, name, 'label'), `${chip.label}\n`);
    writeFileSync(path.join(dir, name, 'base'), `${chip.base}\n`);
    writeFileSync(path.join(dir, name, 'ngpio'), `${chip.ngpio}\n`);
  }
  return dir;
}

// A Raspberry Pi 4 on a 6.6 kernel: the firmware expander first, the SoC's pin controller from 512 up.
const PI4_CHIPS = {
  gpiochip0: { label: 'raspberrypi-exp-gpio', base: 0, ngpio: 8 },
  gpiochip512: { label: 'pinctrl-bcm2711', base: 512, ngpio: 58 },
};

/** Catches what fn throws; fails the test when it throws nothing or something other than a DoorpassError. */
function thrown(t: Test, fn: () => unknown): DoorpassError {
  try {
    fn();
  } catch (err) {
    if (isDoorpassError(err)) return err;
    t.fail(`expected a DoorpassError, got ${String(err)}`);
    throw err;
  }
  t.fail('expected a throw');
  throw new Error('no throw');
}

t.test('resolveGpioLine: numbers pass through, {chip, offset} is base + offset from sysfs', async (t) => {
  const sysfs = fakeSysfs(t, PI4_CHIPS);
  t.equal(resolveGpioLine(17, 'doors[0].relay', sysfs), 17, 'a number is the sysfs number as it is');
  t.equal(
    resolveGpioLine(17, 'doors[0].relay', path.join(sysfs, 'missing')),
    17,
    'a number never looks at sysfs',
  );
  t.equal(resolveGpioLine({ chip: 'pinctrl-bcm2711', offset: 17 }, 'doors[0].relay', sysfs), 529);
  t.equal(resolveGpioLine({ chip: 'pinctrl-bcm2711', offset: 0 }, 'doors[0].relay', sysfs), 512);
  t.equal(
    resolveGpioLine({ chip: 'pinctrl-bcm2711', offset: 57 }, 'doors[0].relay', sysfs),
    569,
    'last line',
  );
  t.equal(resolveGpioLine({ chip: 'raspberrypi-exp-gpio', offset: 3 }, 'doors[0].relay', sysfs), 3);
});

t.test('resolveGpioLine: an offset past the chip names the chip, its range and the config key', async (t) => {
  const sysfs = fakeSysfs(t, PI4_CHIPS);
  for (const offset of [58, 200]) {
    const e = thrown(t, () =>
      resolveGpioLine({ chip: 'pinctrl-bcm2711', offset }, 'doors[1].contact', sysfs),
    );
    t.equal(e.code, 'device.gpio_unavailable');
    t.match(e.message, /^doors\[1\]\.contact: /, 'starts with the config key');
    t.match(e.message, `offset ${offset}`);
    t.match(e.message, '"pinctrl-bcm2711"');
    t.match(e.message, '58 lines, 0-57');
  }
});

t.test('resolveGpioLine: an unknown chip label lists the labels found', async (t) => {
  const sysfs = fakeSysfs(t, PI4_CHIPS);
  const e = thrown(t, () => resolveGpioLine({ chip: 'pinctrl-rp1', offset: 17 }, 'doors[0].relay', sysfs));
  t.equal(e.code, 'device.gpio_unavailable');
  t.match(e.message, /^doors\[0\]\.relay: /);
  t.match(e.message, '"pinctrl-rp1"');
  t.match(e.message, 'raspberrypi-exp-gpio');
  t.match(e.message, 'pinctrl-bcm2711');

  // A chip folder without a readable label (a half-registered chip) is skipped, not an error.
  mkdirSync(path.join(sysfs, 'gpiochip600'));
  t.equal(resolveGpioLine({ chip: 'pinctrl-bcm2711', offset: 17 }, 'doors[0].relay', sysfs), 529);
  t.match(
    thrown(t, () => resolveGpioLine({ chip: 'x', offset: 0 }, 'doors[0].relay', sysfs)).message,
    'found: raspberrypi-exp-gpio, pinctrl-bcm2711',
  );

  const empty = fakeSysfs(t, {});
  const none = thrown(t, () => resolveGpioLine({ chip: 'pinctrl-bcm2711', offset: 1 }, 'exit.button', empty));
  t.equal(none.code, 'device.gpio_unavailable');
  t.match(none.message, /^exit\.button: /);
  t.match(none.message, 'found: none', 'says no chip was found at all');
});

t.test('resolveGpioLine: no sysfs GPIO directory says the kernel has no sysfs GPIO', async (t) => {
  const sysfs = fakeSysfs(t, PI4_CHIPS);
  const missing = path.join(sysfs, 'no-such-dir');
  const e = thrown(t, () =>
    resolveGpioLine({ chip: 'pinctrl-bcm2711', offset: 17 }, 'doors[0].relay', missing),
  );
  t.equal(e.code, 'device.gpio_unavailable');
  t.match(e.message, /^doors\[0\]\.relay: /);
  t.match(e.message, missing, 'names the directory it looked in');
  t.match(e.message, /no sysfs GPIO/);
});

/** Shaped like onoff's Gpio: records how it was constructed and everything written to it. */
class FakeGpio implements GpioLike {
  writes: BinaryValue[] = [];
  value: BinaryValue = 0;
  watchers: ValueCallback[] = [];
  unwatchAllCalls = 0;
  unexported = false;
  readError: Error | undefined;

  constructor(
    readonly gpio: number,
    readonly direction: Direction,
    readonly edge?: Edge,
    readonly options?: Options,
  ) {}

  readSync(): BinaryValue {
    if (this.readError) throw this.readError;
    return this.value;
  }
  writeSync(value: BinaryValue): void {
    if (this.unexported) throw new Error('write after unexport');
    this.writes.push(value);
  }
  watch(callback: ValueCallback): void {
    this.watchers.push(callback);
  }
  unwatchAll(): void {
    this.unwatchAllCalls++;
    this.watchers = [];
  }
  unexport(): void {
    this.unexported = true;
  }
  /** An edge interrupt as onoff reports it (after its debounce). */
  fire(err: Error | null, value: BinaryValue): void {
    for (const w of this.watchers) w(err, value);
  }
}

/** A factory that hands out FakeGpio objects and keeps them for the test to inspect. */
function fakeFactory(): { factory: GpioFactory; made: FakeGpio[] } {
  const made: FakeGpio[] = [];
  const factory: GpioFactory = (gpio, direction, edge, options) => {
    const g = new FakeGpio(gpio, direction, edge, options);
    made.push(g);
    return g;
  };
  return { factory, made };
}

function only(t: Test, made: readonly FakeGpio[]): FakeGpio {
  t.equal(made.length, 1, 'one Gpio opened');
  const g = made[0];
  if (g === undefined) throw new Error('no Gpio was created');
  return g;
}

/** A factory whose Gpio constructor fails like onoff's does: an fs error with an errno code. */
function failingFactory(code: string, message: string): GpioFactory {
  return () => {
    throw Object.assign(new Error(message), { code });
  };
}

t.test(
  'GpioRelayLine: an output, released at once, 1/0 for set, released and unexported on close',
  async (t) => {
    for (const activeLow of [false, true]) {
      const { factory, made } = fakeFactory();
      const line = new GpioRelayLine(factory, 529, activeLow, 'doors[0].relay');
      const g = only(t, made);
      t.equal(g.gpio, 529);
      t.equal(g.direction, 'out');
      t.same(g.options, { activeLow }, 'activeLow is left to onoff');
      t.same(g.writes, [0], 'written 0 before anything else (fail-secure)');
      line.set(true);
      line.set(false);
      line.set(true);
      t.same(g.writes, [0, 1, 0, 1]);
      t.equal(g.unexported, false);
      line.close();
      t.same(g.writes, [0, 1, 0, 1, 0], 'close releases the relay first');
      t.equal(g.unexported, true);
    }
  },
);

t.test('GpioRelayLine: open errors become DoorpassErrors with a hint for the errno', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['EACCES', "EACCES: permission denied, open '/sys/class/gpio/export'", /gpio group/],
    ['EBUSY', "EBUSY: resource busy or locked, write '/sys/class/gpio/export'", /in use by another/],
    ['EINVAL', "EINVAL: invalid argument, write '/sys/class/gpio/export'", /chip and offset/],
  ];
  for (const [code, message, hint] of cases) {
    const e = thrown(t, () => new GpioRelayLine(failingFactory(code, message), 17, false, 'doors[0].relay'));
    t.equal(e.code, 'device.gpio_unavailable', code);
    t.match(e.message, /^doors\[0\]\.relay: cannot open GPIO 17: /, `${code}: names the key and the line`);
    t.match(e.message, message, `${code}: keeps the system message`);
    t.match(e.message, hint, `${code}: hint`);
    t.equal((e.cause as NodeJS.ErrnoException).code, code, `${code}: the cause is kept`);
  }
  const other = thrown(
    t,
    () => new GpioRelayLine(failingFactory('ENOENT', 'ENOENT: no such file'), 17, false, 'doors[0].relay'),
  );
  t.notMatch(other.message, /gpio group|in use|chip and offset/, 'no hint for other errors');

  // A write that fails right after opening is reported the same way (the line never goes live half-set up).
  const badWrite: GpioFactory = (gpio, direction, edge, options) => {
    const g = new FakeGpio(gpio, direction, edge, options);
    g.writeSync = () => {
      throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    };
    return g;
  };
  const w = thrown(t, () => new GpioRelayLine(badWrite, 17, false, 'doors[0].relay'));
  t.match(w.message, /gpio group/);
});

t.test(
  'GpioSensor: an input on both edges, debounced by onoff, reporting start level then changes',
  async (t) => {
    const { factory, made } = fakeFactory();
    const log = recordingLogger();
    const sensor = new GpioSensor(factory, 530, true, 25, 'doors[0].contact', log);
    const g = only(t, made);
    t.equal(g.gpio, 530);
    t.equal(g.direction, 'in');
    t.equal(g.edge, 'both');
    t.same(g.options, { activeLow: true, debounceTimeout: 25 });
    t.equal(sensor.name, 'doors[0].contact');

    g.value = 1;
    const levels: boolean[] = [];
    sensor.start((active) => void levels.push(active));
    t.same(levels, [true], 'the level at start is reported at once');
    g.fire(null, 1);
    t.same(levels, [true], 'the same level again is not a change');
    g.fire(null, 0);
    g.fire(null, 0);
    g.fire(null, 1);
    t.same(levels, [true, false, true]);

    g.fire(new Error('EPOLL failure'), 0);
    t.same(levels, [true, false, true], 'a watch error is not a level');
    t.equal(log.lines.length, 1);
    t.equal(log.lines[0]?.level, 'warn');
    t.match(log.lines[0]?.obj, { sensor: 'doors[0].contact', err: 'EPOLL failure' });
    g.fire(null, 0);
    t.same(levels, [true, false, true, false], 'changes after an error are still reported');

    sensor.stop();
    t.equal(g.unwatchAllCalls, 1);
    t.equal(g.watchers.length, 0);
    t.equal(g.unexported, true);
    t.same(g.writes, [], 'an input is never written');
  },
);

t.test('GpioSensor: an unreadable start level is logged, and the first edge is reported', async (t) => {
  const { factory, made } = fakeFactory();
  const log = recordingLogger();
  const sensor = new GpioSensor(factory, 17, false, 10, 'exit', log);
  const g = only(t, made);
  g.readError = new Error('EIO');
  const levels: boolean[] = [];
  sensor.start((active) => void levels.push(active));
  t.same(levels, []);
  t.match(log.lines, [{ level: 'warn', obj: { sensor: 'exit', err: 'EIO' } }]);
  g.fire(null, 0);
  t.same(levels, [false], 'the first level seen is reported whatever it is');
  sensor.stop();
});

t.test('GpioSensor: open errors become DoorpassErrors naming the sensor', async (t) => {
  const e = thrown(
    t,
    () =>
      new GpioSensor(
        failingFactory('EACCES', 'EACCES: permission denied'),
        17,
        false,
        10,
        'doors[0].contact',
        recordingLogger(),
      ),
  );
  t.equal(e.code, 'device.gpio_unavailable');
  t.match(e.message, /^doors\[0\]\.contact: cannot open GPIO 17: .*gpio group/);
});

t.test('RelayPulse over a GPIO line: 1 for the pulse, 0 after pulseMs', async (t) => {
  const clock = new FakeClock(0);
  const { factory, made } = fakeFactory();
  const relay = new RelayPulse(new GpioRelayLine(factory, 529, true, 'doors[0].relay'), clock);
  const g = only(t, made);
  t.same(g.writes, [0, 0], 'released by the line and again by the pulse (fail-secure twice)');
  g.writes = [];
  relay.pulse(3000);
  t.same(g.writes, [1]);
  clock.advance(2999);
  t.same(g.writes, [1], 'still energised just before pulseMs');
  clock.advance(1);
  t.same(g.writes, [1, 0], 'released after pulseMs');
  relay.pulse(3000);
  relay.close();
  t.same(g.writes, [1, 0, 1, 0, 0], 'close releases at once (release, then the line releases again)');
  t.equal(g.unexported, true);
  clock.advance(10_000);
  t.equal(g.writes.length, 5, 'no late write after close');
});
