/**
 * USB HID readers with node-hid: keypads, RFID readers and QR scanners that act as boot keyboards. The device
 * is chosen by vendor/product id or path; when it is unplugged the input reports offline and polls for it
 * to come back. node-hid sits behind a two-function backend so tests can pass objects shaped like its HID.
 */
import { realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { EventEmitter } from 'node:events';
import type * as NodeHidModule from 'node-hid';
import { BootKeyboardDecoder, TokenAssembler } from '../protocol/hid-keyboard.js';

type NodeHid = typeof NodeHidModule;
import type { Clock, CredentialSource, FeedbackSignal, InputHandler, Logger, Timer } from '../ports/io.js';

/** The part of node-hid's HID object doorpass uses. */
export interface HidDeviceLike extends Pick<EventEmitter, 'on' | 'removeAllListeners'> {
  close(): void;
}

export interface HidDeviceInfo {
  readonly vendorId: number;
  readonly productId: number;
  readonly path?: string | undefined;
}

export interface HidBackend {
  devices(): HidDeviceInfo[];
  open(path: string): HidDeviceLike;
}

/** node-hid, loaded on first use (it needs libusb / hidraw, which only HID configs require). */
export function nodeHidBackend(): HidBackend {
  let mod: NodeHid | undefined;
  const hid = (): NodeHid => (mod ??= createRequire(import.meta.url)('node-hid') as NodeHid);
  return { devices: () => hid().devices(), open: (p) => new (hid().HID)(p) };
}

export interface HidInputOptions {
  readonly role: 'keypad' | 'card' | 'scanner';
  readonly vendorId?: number;
  readonly productId?: number;
  readonly path?: string;
  readonly reportId: boolean;
  readonly pollMs?: number;
}

const hex4 = (n: number | undefined): string => (n ?? 0).toString(16).padStart(4, '0');

export class HidInput implements CredentialSource {
  readonly name: string;
  private handler: InputHandler | undefined;
  private device: HidDeviceLike | undefined;
  private decoder: BootKeyboardDecoder;
  private readonly tokens = new TokenAssembler({ maxLength: 2048 });
  private pollTimer: Timer | undefined;
  private stopped = true;
  private reported: 'never' | 'online' | 'offline' = 'never';

  constructor(
    private readonly options: HidInputOptions,
    private readonly backend: HidBackend,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    this.name = `hid:${options.role}:${options.path ?? `${hex4(options.vendorId)}:${hex4(options.productId)}`}`;
    this.decoder = new BootKeyboardDecoder({ reportId: options.reportId });
  }

  start(handler: InputHandler): void {
    this.handler = handler;
    this.stopped = false;
    this.tryOpen();
  }

  /** Keyboard-mode readers have no LED or beeper doorpass can drive. */
  feedback(_signal: FeedbackSignal): void {}

  private find(): string | undefined {
    const { path, vendorId, productId } = this.options;
    const list = this.backend.devices();
    if (path !== undefined) {
      // A udev symlink (/dev/doorpass-hid-0) names the same device as node-hid's /dev/hidrawN.
      let real = path;
      try {
        real = realpathSync(path);
      } catch {
        // not there (yet): compare as written
      }
      return list.find((d) => d.path === path || d.path === real)?.path;
    }
    return list.find((d) => d.vendorId === vendorId && d.productId === productId && d.path !== undefined)
      ?.path;
  }

  private tryOpen(): void {
    if (this.stopped) return;
    let devicePath: string | undefined;
    try {
      devicePath = this.find();
      if (devicePath !== undefined) {
        const dev = this.backend.open(devicePath);
        this.device = dev;
        this.decoder = new BootKeyboardDecoder({ reportId: this.options.reportId });
        this.tokens.reset();
        dev.on('data', (data: Buffer) => this.onReport(data));
        dev.on('error', (err: Error) => this.lost(`device error: ${err.message}`));
        this.report(true, `opened ${devicePath}`);
        return;
      }
      this.report(false, 'device not connected');
    } catch (err) {
      this.report(false, `cannot open ${devicePath ?? 'device'}: ${(err as Error).message}`);
    }
    this.pollTimer = this.clock.after(this.options.pollMs ?? 2000, () => {
      this.pollTimer = undefined;
      this.tryOpen();
    });
  }

  private closeDevice(): void {
    const dev = this.device;
    this.device = undefined;
    if (dev) {
      dev.removeAllListeners();
      try {
        dev.close();
      } catch {
        // already gone
      }
    }
  }

  private lost(why: string): void {
    this.closeDevice();
    this.report(false, why);
    if (!this.stopped && this.pollTimer === undefined) {
      this.pollTimer = this.clock.after(this.options.pollMs ?? 2000, () => {
        this.pollTimer = undefined;
        this.tryOpen();
      });
    }
  }

  private report(online: boolean, detail: string): void {
    const state = online ? 'online' : 'offline';
    if (this.reported === state) return;
    this.reported = state;
    this.log.debug({ input: this.name, detail }, `hid ${state}`);
    this.handler?.online(online, detail);
  }

  private onReport(data: Buffer): void {
    const h = this.handler;
    if (h === undefined) return;
    for (const ev of this.decoder.push(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))) {
      if (this.options.role === 'keypad') {
        if (ev.kind === 'enter') h.key('#');
        else if (ev.kind === 'char' && /^[0-9*#]$/.test(ev.char)) h.key(ev.char);
        continue;
      }
      const r = this.tokens.push(ev);
      if (r === undefined) continue;
      if ('overflow' in r) {
        h.readError('hid token longer than 2048 characters', this.options.role === 'scanner' ? 'qr' : 'card');
        continue;
      }
      if (this.options.role === 'scanner') h.credential('qr', r.token);
      else if (/^\d{1,40}$/.test(r.token)) h.credential('card', r.token);
      else h.readError(`card reader sent a non-numeric token (${r.token.length} characters)`, 'card');
    }
  }

  stop(): Promise<void> {
    this.stopped = true;
    this.pollTimer?.cancel();
    this.pollTimer = undefined;
    this.closeDevice();
    return Promise.resolve();
  }
}
