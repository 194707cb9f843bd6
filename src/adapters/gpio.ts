/**
 * GPIO through onoff (sysfs): relay outputs, door contacts and exit buttons. The onoff `Gpio` is created by a
 * factory, so tests pass an object with the same API and the daemon loads onoff (and its native epoll) only
 * when a GPIO line is configured.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { BinaryValue, Direction, Edge, Gpio, Options } from 'onoff';
import { DoorpassError, ErrorCode } from '../core/errors.js';
import type { DoorSensor, Logger, RelayLine } from '../ports/io.js';

/** The part of onoff's Gpio that doorpass uses. */
export type GpioLike = Pick<Gpio, 'readSync' | 'writeSync' | 'watch' | 'unwatchAll' | 'unexport'>;
export type GpioFactory = (gpio: number, direction: Direction, edge?: Edge, options?: Options) => GpioLike;

export const SYSFS_GPIO = '/sys/class/gpio';

/** Loads onoff on first use; a machine without GPIO support fails here with a clear message. */
export function onoffFactory(): GpioFactory {
  let ctor: (new (gpio: number, direction: Direction, edge?: Edge, options?: Options) => Gpio) | undefined;
  return (gpio, direction, edge, options) => {
    if (ctor === undefined) {
      const require = createRequire(import.meta.url);
      ctor = (require('onoff') as { Gpio: typeof Gpio }).Gpio;
    }
    return new ctor(gpio, direction, edge, options);
  };
}

export type GpioLineSpec = number | { readonly chip: string; readonly offset: number };

/**
 * The sysfs number of a line: a number is used as it is; {chip, offset} is resolved from
 * /sys/class/gpio/gpiochipN/{label,base,ngpio} (Raspberry Pi kernels from 6.6 number lines from the chip's
 * base, e.g. 512 + BCM number on a Pi 4).
 */
export function resolveGpioLine(spec: GpioLineSpec, what: string, sysfs = SYSFS_GPIO): number {
  if (typeof spec === 'number') return spec;
  let entries: string[];
  try {
    entries = readdirSync(sysfs).filter((e) => e.startsWith('gpiochip'));
  } catch {
    throw new DoorpassError(
      ErrorCode.GpioUnavailable,
      `${what}: ${sysfs} does not exist: this kernel has no sysfs GPIO (CONFIG_GPIO_SYSFS)`,
    );
  }
  const labels: string[] = [];
  for (const e of entries) {
    const read = (f: string): string => readFileSync(path.join(sysfs, e, f), 'utf8').trim();
    let label: string;
    try {
      label = read('label');
    } catch {
      continue;
    }
    labels.push(label);
    if (label !== spec.chip) continue;
    const base = Number(read('base'));
    const ngpio = Number(read('ngpio'));
    if (spec.offset >= ngpio) {
      throw new DoorpassError(
        ErrorCode.GpioUnavailable,
        `${what}: line offset ${spec.offset} is beyond GPIO chip "${spec.chip}" (${ngpio} lines, 0-${ngpio - 1})`,
      );
    }
    return base + spec.offset;
  }
  throw new DoorpassError(
    ErrorCode.GpioUnavailable,
    `${what}: no GPIO chip labelled "${spec.chip}" (found: ${labels.length ? labels.join(', ') : 'none'})`,
  );
}

function openError(what: string, gpio: number, err: unknown): DoorpassError {
  const e = err as NodeJS.ErrnoException;
  const hint =
    e.code === 'EACCES'
      ? ' (is the doorpass user in the gpio group?)'
      : e.code === 'EBUSY'
        ? ' (the line is in use by another driver or process)'
        : e.code === 'EINVAL'
          ? ' (no such GPIO on this machine; on kernels >= 6.6 name it by chip and offset)'
          : '';
  return new DoorpassError(
    ErrorCode.GpioUnavailable,
    `${what}: cannot open GPIO ${gpio}: ${e.message}${hint}`,
    [],
    {
      cause: err,
    },
  );
}

/** A relay output on a GPIO line; active-low modules are handled by onoff's activeLow. */
export class GpioRelayLine implements RelayLine {
  private readonly gpio: GpioLike;

  constructor(factory: GpioFactory, number: number, activeLow: boolean, what: string) {
    try {
      // 'out' then an explicit 0: the relay is released before anything else can happen (fail-secure).
      this.gpio = factory(number, 'out', 'none', { activeLow });
      this.gpio.writeSync(0);
    } catch (err) {
      throw openError(what, number, err);
    }
  }

  set(energised: boolean): void {
    this.gpio.writeSync(energised ? 1 : 0);
  }

  close(): void {
    this.gpio.writeSync(0);
    this.gpio.unexport();
  }
}

/** A door contact or exit button on a GPIO line, debounced by onoff; reports the level at start too. */
export class GpioSensor implements DoorSensor {
  private readonly gpio: GpioLike;
  private last: BinaryValue | undefined;

  constructor(
    factory: GpioFactory,
    number: number,
    activeLow: boolean,
    debounceMs: number,
    readonly name: string,
    private readonly log: Logger,
  ) {
    try {
      this.gpio = factory(number, 'in', 'both', { activeLow, debounceTimeout: debounceMs });
    } catch (err) {
      throw openError(name, number, err);
    }
  }

  start(onChange: (active: boolean) => void): void {
    try {
      this.last = this.gpio.readSync();
      onChange(this.last === 1);
    } catch (err) {
      this.log.warn({ sensor: this.name, err: (err as Error).message }, 'cannot read GPIO input');
    }
    this.gpio.watch((err, value) => {
      if (err) {
        this.log.warn({ sensor: this.name, err: err.message }, 'GPIO watch error');
        return;
      }
      if (value === this.last) return;
      this.last = value;
      onChange(value === 1);
    });
  }

  stop(): void {
    this.gpio.unwatchAll();
    this.gpio.unexport();
  }
}
