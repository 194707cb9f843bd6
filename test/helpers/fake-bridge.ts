/**
 * Plays the bridge microcontroller on the device end of a pty pair: sends frames as the firmware would,
 * decodes the host's commands and ACKs them.
 */
import { SerialPort } from 'serialport';
import {
  Deframer,
  encodeFrame,
  nextSeq,
  type BridgeMessage,
  type HostToBridgeMessage,
} from '../../src/protocol/bridge.js';

export class FakeBridge {
  readonly received: HostToBridgeMessage[] = [];
  private seq = 0;
  private readonly deframer = new Deframer({ direction: 'host->bridge' });
  private heartbeat: NodeJS.Timeout | undefined;
  private waiters: {
    pred: (m: HostToBridgeMessage) => boolean;
    resolve: (m: HostToBridgeMessage) => void;
  }[] = [];
  autoAck = true;

  readonly errors: Error[] = [];

  private constructor(readonly port: SerialPort) {
    // A write racing a close or an unplug fails with EBADF/EIO: recorded, never an uncaught exception.
    port.on('error', (err: Error) => this.errors.push(err));
    port.on('data', (chunk: Buffer) => {
      for (const r of this.deframer.push(new Uint8Array(chunk))) {
        if (r.kind !== 'frame') continue;
        const m = r.message as HostToBridgeMessage;
        if (this.autoAck) this.send({ type: 'ack', seq: r.seq });
        this.received.push(m);
        for (const w of [...this.waiters]) {
          if (w.pred(m)) {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            w.resolve(m);
          }
        }
      }
    });
  }

  static async open(path: string): Promise<FakeBridge> {
    const port = new SerialPort({ path, baudRate: 115200, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
    return new FakeBridge(port);
  }

  /** Boots: a lead-in 0x00, HELLO, then a heartbeat every second. */
  boot(firmware = 'fake-1.0'): void {
    this.raw([0]);
    this.send({ type: 'hello', protocol: 1, firmware });
    this.heartbeat = setInterval(() => this.send({ type: 'heartbeat', uptimeMs: 1000 }), 1000);
  }

  send(message: BridgeMessage): void {
    if (!this.port.isOpen) return;
    this.port.write(Buffer.from(encodeFrame(this.seq, message)));
    this.seq = nextSeq(this.seq);
  }

  raw(bytes: ArrayLike<number>): void {
    if (!this.port.isOpen) return;
    this.port.write(Buffer.from(Array.from(bytes)));
  }

  typeKeys(keys: string): void {
    for (const k of keys) this.send({ type: 'key', key: k as '0' });
  }

  /** Resolves with the next received command matching pred (or one already received after `since`). */
  next(
    pred: (m: HostToBridgeMessage) => boolean,
    timeoutMs = 5000,
    since = this.received.length,
  ): Promise<HostToBridgeMessage> {
    const hit = this.received.slice(since).find(pred);
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `no matching host command within ${timeoutMs} ms; got ${JSON.stringify(this.received.slice(since))}`,
            ),
          ),
        timeoutMs,
      );
      this.waiters.push({
        pred,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
    });
  }

  close(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    return new Promise((resolve) => {
      if (!this.port.isOpen) return resolve();
      this.port.close(() => resolve());
    });
  }
}
