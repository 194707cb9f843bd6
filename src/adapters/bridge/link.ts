/**
 * The serial link to the bridge microcontroller (docs/serial-protocol.md): opens the port with the real
 * serialport binding, deframes what arrives, numbers and sends host commands, matches ACKs and retries,
 * watches heartbeats, and reopens the port with backoff whenever it goes away. It never throws into the
 * daemon: every problem is a status change, a counter and a log line.
 */
import { SerialPort } from 'serialport';
import {
  Deframer,
  encodeFrame,
  nextSeq,
  PROTOCOL_VERSION,
  type BridgeMessage,
  type BridgeToHostMessage,
  type DiscardReason,
  type HostToBridgeMessage,
} from '../../protocol/bridge.js';
import type { Clock, Logger, Timer } from '../../ports/io.js';

export interface BridgeLinkOptions {
  readonly path: string;
  readonly baudRate: number;
  /** No frame at all for this long: the bridge is offline (3 missed heartbeats). */
  readonly heartbeatTimeoutMs?: number;
  /** A command not ACKed within this time is sent again (same seq), up to `retries` times. */
  readonly ackTimeoutMs?: number;
  readonly retries?: number;
  /** An idle host PINGs this often (the bridge's host-silence rule is 5 s). */
  readonly keepaliveMs?: number;
  readonly reconnectMinMs?: number;
  readonly reconnectMaxMs?: number;
}

export interface BridgeCounters {
  framesIn: number;
  framesOut: number;
  retries: number;
  /** Commands given up on after all retries. */
  unacked: number;
  discarded: Partial<Record<DiscardReason, number>>;
  reconnects: number;
}

interface Pending {
  readonly frame: Uint8Array;
  readonly message: HostToBridgeMessage;
  attempts: number;
  timer: Timer | undefined;
}

export class BridgeLink {
  readonly counters: BridgeCounters = {
    framesIn: 0,
    framesOut: 0,
    retries: 0,
    unacked: 0,
    discarded: {},
    reconnects: 0,
  };
  private port: SerialPort | undefined;
  private deframer = new Deframer({ direction: 'bridge->host' });
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly messageListeners: ((m: BridgeToHostMessage) => void)[] = [];
  private readonly statusListeners: ((online: boolean, detail: string) => void)[] = [];
  private online = false;
  private heartbeatTimer: Timer | undefined;
  private keepaliveTimer: Timer | undefined;
  private reopenTimer: Timer | undefined;
  private backoffMs: number;
  private stopped = true;
  private firmware: string | undefined;
  private lastFrameAt: number | null = null;
  private lastSentAt = 0;
  private readonly keepaliveMs: number;
  private readonly heartbeatTimeoutMs: number;
  private readonly ackTimeoutMs: number;
  private readonly retries: number;
  private readonly reconnectMinMs: number;
  private readonly reconnectMaxMs: number;

  constructor(
    private readonly options: BridgeLinkOptions,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    this.heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? 3000;
    this.ackTimeoutMs = options.ackTimeoutMs ?? 250;
    this.retries = options.retries ?? 3;
    this.keepaliveMs = options.keepaliveMs ?? 1000;
    this.reconnectMinMs = options.reconnectMinMs ?? 500;
    this.reconnectMaxMs = options.reconnectMaxMs ?? 10_000;
    this.backoffMs = this.reconnectMinMs;
  }

  get path(): string {
    return this.options.path;
  }

  get isOnline(): boolean {
    return this.online;
  }

  get firmwareVersion(): string | undefined {
    return this.firmware;
  }

  get lastSeenAt(): number | null {
    return this.lastFrameAt;
  }

  onMessage(listener: (m: BridgeToHostMessage) => void): void {
    this.messageListeners.push(listener);
  }

  /** Called with (online, why) whenever the link goes up (first frame after open) or down. */
  onStatus(listener: (online: boolean, detail: string) => void): void {
    this.statusListeners.push(listener);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.open();
  }

  /**
   * Sends a command; a command that cannot be sent now (port closed) is dropped and logged: replaying a
   * door pulse or a beep later, when nobody is there, would be wrong.
   */
  send(message: HostToBridgeMessage): boolean {
    const port = this.port;
    if (port === undefined || !port.isOpen) {
      this.log.debug({ bridge: this.path, command: message.type }, 'bridge not connected; command dropped');
      return false;
    }
    const seq = this.seq;
    this.seq = nextSeq(seq);
    const frame = encodeFrame(seq, message);
    const old = this.pending.get(seq);
    if (old) old.timer?.cancel(); // 256 commands in flight: the oldest slot is reused
    const entry: Pending = { frame, message, attempts: 1, timer: undefined };
    this.pending.set(seq, entry);
    this.write(frame);
    this.armRetry(seq, entry);
    return true;
  }

  private armRetry(seq: number, entry: Pending): void {
    entry.timer = this.clock.after(this.ackTimeoutMs, () => {
      if (this.pending.get(seq) !== entry) return;
      if (entry.attempts > this.retries) {
        this.pending.delete(seq);
        this.counters.unacked++;
        this.log.warn(
          { bridge: this.path, command: entry.message.type, seq },
          'bridge did not acknowledge a command',
        );
        return;
      }
      entry.attempts++;
      this.counters.retries++;
      this.write(entry.frame);
      this.armRetry(seq, entry);
    });
  }

  private write(frame: Uint8Array): void {
    const port = this.port;
    if (port === undefined || !port.isOpen) return;
    this.counters.framesOut++;
    this.lastSentAt = this.clock.monotonic();
    port.write(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength), (err) => {
      if (err) this.log.warn({ bridge: this.path, err: err.message }, 'serial write failed');
    });
  }

  private open(): void {
    if (this.stopped) return;
    const port = new SerialPort({
      path: this.options.path,
      baudRate: this.options.baudRate,
      autoOpen: false,
    });
    this.port = port;
    port.on('data', (chunk: Buffer) => this.receive(chunk));
    port.on('error', (err: Error) =>
      this.log.warn({ bridge: this.path, err: err.message }, 'serial port error'),
    );
    port.on('close', () => this.lost('port closed'));
    port.open((err) => {
      if (err) {
        this.port = undefined;
        this.setOnline(false, `cannot open ${this.path}: ${err.message}`);
        this.scheduleReopen();
        return;
      }
      this.backoffMs = this.reconnectMinMs;
      this.deframer = new Deframer({ direction: 'bridge->host' });
      // A leading 0x00 ends whatever half frame the bridge holds from before (docs/serial-protocol.md).
      port.write(Buffer.from([0]));
      this.log.info({ bridge: this.path }, 'serial port open; waiting for the bridge');
      this.armHeartbeat();
      this.send({ type: 'ping' });
      this.armKeepalive();
    });
  }

  private lost(why: string): void {
    if (this.port === undefined) return;
    this.port = undefined;
    for (const p of this.pending.values()) p.timer?.cancel();
    this.pending.clear();
    this.heartbeatTimer?.cancel();
    this.heartbeatTimer = undefined;
    this.keepaliveTimer?.cancel();
    this.keepaliveTimer = undefined;
    this.setOnline(false, why);
    this.scheduleReopen();
  }

  private scheduleReopen(): void {
    if (this.stopped || this.reopenTimer !== undefined) return;
    // Exponential backoff with jitter, so a flapping USB port does not spin the CPU.
    const delay = Math.round(this.backoffMs * (0.75 + Math.random() * 0.5));
    this.backoffMs = Math.min(this.backoffMs * 2, this.reconnectMaxMs);
    this.reopenTimer = this.clock.after(delay, () => {
      this.reopenTimer = undefined;
      this.counters.reconnects++;
      this.open();
    });
  }

  /**
   * The bridge turns its relays off and shows amber when the host has been silent for 5 s
   * (docs/firmware-bridge.md): an idle host PINGs every second so a healthy link never looks dead.
   */
  private armKeepalive(): void {
    this.keepaliveTimer?.cancel();
    this.keepaliveTimer = undefined;
    if (this.stopped || this.port === undefined) return;
    this.keepaliveTimer = this.clock.after(this.keepaliveMs, () => {
      this.keepaliveTimer = undefined;
      if (this.port === undefined || this.stopped) return;
      if (this.clock.monotonic() - this.lastSentAt >= this.keepaliveMs) this.send({ type: 'ping' });
      this.armKeepalive();
    });
  }

  private armHeartbeat(): void {
    this.heartbeatTimer?.cancel();
    this.heartbeatTimer = undefined;
    if (this.stopped) return;
    this.heartbeatTimer = this.clock.after(this.heartbeatTimeoutMs, () => {
      this.heartbeatTimer = undefined;
      this.setOnline(false, `no frame from the bridge for ${this.heartbeatTimeoutMs} ms`);
      // Keep pinging: a bridge that comes back answers with an ACK.
      this.send({ type: 'ping' });
      this.armHeartbeat();
    });
  }

  private receive(chunk: Buffer): void {
    for (const r of this.deframer.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))) {
      if (r.kind === 'discarded') {
        this.counters.discarded[r.reason] = (this.counters.discarded[r.reason] ?? 0) + 1;
        this.log.debug({ bridge: this.path, reason: r.reason, length: r.length }, 'bridge frame discarded');
        continue;
      }
      this.counters.framesIn++;
      this.lastFrameAt = this.clock.now();
      this.armHeartbeat();
      this.handle(r.message);
    }
  }

  private handle(message: BridgeMessage): void {
    switch (message.type) {
      case 'ack': {
        const p = this.pending.get(message.seq);
        if (p) {
          p.timer?.cancel();
          this.pending.delete(message.seq);
        }
        this.setOnline(true, 'acknowledged');
        return;
      }
      case 'hello':
        this.firmware = message.firmware;
        if (message.protocol !== PROTOCOL_VERSION) {
          this.log.error(
            { bridge: this.path, protocol: message.protocol, expected: PROTOCOL_VERSION },
            'bridge speaks another protocol version; its frames may be misread',
          );
        } else this.log.info({ bridge: this.path, firmware: message.firmware }, 'bridge said hello');
        this.setOnline(true, `firmware ${message.firmware}`);
        break;
      case 'heartbeat':
        this.setOnline(true, 'heartbeat');
        return;
      default:
        this.setOnline(true, 'frame');
    }
    if (
      message.type === 'relay' ||
      message.type === 'led' ||
      message.type === 'beep' ||
      message.type === 'ping'
    )
      return;
    for (const l of this.messageListeners) l(message);
  }

  private setOnline(online: boolean, detail: string): void {
    if (online === this.online) return;
    this.online = online;
    if (online) this.log.info({ bridge: this.path, detail }, 'bridge online');
    else this.log.warn({ bridge: this.path, detail }, 'bridge offline');
    for (const l of this.statusListeners) l(online, detail);
  }

  stop(): Promise<void> {
    this.stopped = true;
    this.reopenTimer?.cancel();
    this.reopenTimer = undefined;
    this.heartbeatTimer?.cancel();
    this.heartbeatTimer = undefined;
    this.keepaliveTimer?.cancel();
    this.keepaliveTimer = undefined;
    for (const p of this.pending.values()) p.timer?.cancel();
    this.pending.clear();
    const port = this.port;
    this.port = undefined;
    if (port === undefined || !port.isOpen) return Promise.resolve();
    port.removeAllListeners('data'); // nothing more is read; a late frame must not re-arm the heartbeat
    return new Promise((resolve) => {
      // Let queued writes (e.g. the relay release) reach the bridge before closing.
      port.drain(() => port.close(() => resolve()));
    });
  }
}
