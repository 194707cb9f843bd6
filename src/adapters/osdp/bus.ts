/**
 * An OSDP control panel on one RS-485 line (docs/osdp.md): owns the serial port, polls the readers on it in
 * turn (one command on the wire at a time: the bus is half duplex), matches replies by address and sequence
 * number, retransmits on a 200 ms timeout with the same sequence number, declares a reader silent for 8 s
 * offline and brings it back with sequence 0, runs the secure-channel handshake (CHLNG → CCRYPT → SCRYPT →
 * RMAC_I) and the one-time KEYSET over SCBK-D when the config asks for it. It never throws into the daemon:
 * every problem is a reader status, a counter and a log line.
 */
import { randomBytes } from 'node:crypto';
import { SerialPort } from 'serialport';
import {
  CMD,
  decodeReply,
  encodeIdRequest,
  encodeKeyset,
  NAK,
  nakText,
  REPLY,
  CAP_FUNCTION,
  type PdId,
  type Reply,
} from '../../protocol/osdp/messages.js';
import {
  buildPacket,
  nextSqn,
  PacketParser,
  SCS,
  type DiscardReason,
  type OsdpPacket,
} from '../../protocol/osdp/packet.js';
import { CpSecureSession, SCB_KEY, SCBK_D, type Aes128 } from '../../protocol/osdp/secure.js';
import type { Clock, Logger, Timer } from '../../ports/io.js';
import { nodeAes } from './aes.js';

export interface OsdpReaderOptions {
  readonly address: number;
  /** Secure channel required (default in the config). false: plain mode, CRC only. */
  readonly secure: boolean;
  /** The reader's secure channel base key (required when secure). */
  readonly scbk?: Uint8Array;
  /** Install `scbk` with KEYSET over SCBK-D, once, if the reader is still in install mode. */
  readonly installKey?: boolean;
}

/** Where the one-time KEYSET is remembered, so it is never repeated (the daemon keeps it in the database). */
export interface KeyInstallRecord {
  installed(address: number): boolean;
  record(address: number): void;
}

export interface OsdpBusOptions {
  readonly path: string;
  readonly baudRate: number;
  readonly readers: readonly OsdpReaderOptions[];
  /** A reply not received within this time: the command is sent again, same sequence number. */
  readonly replyTimeoutMs?: number;
  /** A reader that has not answered for this long is offline (and restarted with sequence 0). */
  readonly offlineMs?: number;
  /** An idle online reader is polled this often. */
  readonly pollIntervalMs?: number;
  /** An offline reader is tried this often (so a dead reader does not slow the others down). */
  readonly offlineRetryMs?: number;
  /** After a refused or failed secure channel, the handshake is tried again after this long. */
  readonly handshakeRetryMs?: number;
  readonly reconnectMinMs?: number;
  readonly reconnectMaxMs?: number;
  readonly keyRecord?: KeyInstallRecord;
  readonly aes?: Aes128;
  readonly random?: (n: number) => Uint8Array;
  /** Called with each matched reply's round trip (ms from the last transmission), for the bench. */
  readonly onRoundTrip?: (address: number, ms: number) => void;
}

export type ReaderEvent =
  | { readonly kind: 'online'; readonly online: boolean; readonly detail: string }
  | { readonly kind: 'reply'; readonly reply: Reply };

export interface OsdpCounters {
  packetsIn: number;
  packetsOut: number;
  retransmits: number;
  timeouts: number;
  naks: number;
  busy: number;
  /** Replies that matched no outstanding command (wrong address or sequence, or late). */
  unexpected: number;
  discarded: Partial<Record<DiscardReason, number>>;
  reconnects: number;
}

type Step = 'id' | 'cap' | 'chlng' | 'scrypt' | 'keyset' | 'lstat' | 'istat' | 'ostat' | 'online' | 'refused';

interface Outgoing {
  readonly code: number;
  readonly data: Uint8Array;
}

interface Inflight {
  readonly bytes: Uint8Array;
  readonly sqn: number;
  readonly step: Step;
  readonly command: Outgoing;
  readonly sealed: boolean;
  attempts: number;
}

interface ReaderState {
  readonly cfg: OsdpReaderOptions;
  step: Step;
  seq: number;
  useCrc: boolean;
  session: CpSecureSession | undefined;
  /** Which key the next CHLNG uses. */
  keyMode: 'default' | 'own';
  triedDefault: boolean;
  triedOwn: boolean;
  queue: Outgoing[];
  inflight: Inflight | undefined;
  lastHeard: number;
  lastSent: number;
  reachable: boolean;
  /** What was last reported: undefined before the first report. */
  reported: boolean | undefined;
  retryAt: number;
  nakRetries: number;
  pdid: PdId | undefined;
  listeners: ((e: ReaderEvent) => void)[];
}

const INIT_AFTER: Partial<Record<Step, Step>> = { lstat: 'istat', istat: 'ostat', ostat: 'online' };
const MAX_QUEUE = 16;

export class OsdpBus {
  readonly counters: OsdpCounters = {
    packetsIn: 0,
    packetsOut: 0,
    retransmits: 0,
    timeouts: 0,
    naks: 0,
    busy: 0,
    unexpected: 0,
    discarded: {},
    reconnects: 0,
  };
  private port: SerialPort | undefined;
  private parser = new PacketParser();
  private readonly readers: ReaderState[];
  private next = 0;
  private waiting: { reader: ReaderState; timer: Timer } | undefined;
  private pumpTimer: Timer | undefined;
  private reopenTimer: Timer | undefined;
  private stopped = true;
  private users = 0;
  private backoffMs: number;
  private readonly replyTimeoutMs: number;
  private readonly offlineMs: number;
  private readonly pollIntervalMs: number;
  private readonly offlineRetryMs: number;
  private readonly handshakeRetryMs: number;
  private readonly aes: Aes128;
  private readonly random: (n: number) => Uint8Array;
  private drainWaiters: (() => void)[] = [];
  /** The server cryptogram computed from CCRYPT, sent in SCRYPT. */
  private readonly pendingScrypt = new WeakMap<ReaderState, Uint8Array>();

  constructor(
    private readonly options: OsdpBusOptions,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    this.replyTimeoutMs = options.replyTimeoutMs ?? 200;
    this.offlineMs = options.offlineMs ?? 8000;
    this.pollIntervalMs = options.pollIntervalMs ?? 20;
    this.offlineRetryMs = options.offlineRetryMs ?? 1000;
    this.handshakeRetryMs = options.handshakeRetryMs ?? 5000;
    this.backoffMs = options.reconnectMinMs ?? 500;
    this.aes = options.aes ?? nodeAes;
    this.random = options.random ?? ((n) => new Uint8Array(randomBytes(n)));
    this.readers = options.readers.map((cfg) => ({
      cfg,
      step: 'id',
      seq: 0,
      useCrc: true,
      session: undefined,
      keyMode: 'own',
      triedDefault: false,
      triedOwn: false,
      queue: [],
      inflight: undefined,
      lastHeard: 0,
      lastSent: -Infinity,
      reachable: true,
      reported: undefined,
      retryAt: 0,
      nakRetries: 0,
      pdid: undefined,
      listeners: [],
    }));
  }

  get path(): string {
    return this.options.path;
  }

  onReader(address: number, listener: (e: ReaderEvent) => void): void {
    this.reader(address)?.listeners.push(listener);
  }

  isOnline(address: number): boolean {
    return this.reader(address)?.step === 'online';
  }

  isSecure(address: number): boolean {
    return this.reader(address)?.session?.established === true;
  }

  identity(address: number): PdId | undefined {
    return this.reader(address)?.pdid;
  }

  private reader(address: number): ReaderState | undefined {
    return this.readers.find((r) => r.cfg.address === address);
  }

  /** Starts the bus for one more user (each reader input on it); the first one opens the port. */
  start(): void {
    this.users++;
    if (!this.stopped) return;
    this.stopped = false;
    const now = this.clock.monotonic();
    for (const r of this.readers) this.restart(r, now);
    this.open();
  }

  /**
   * Queues a command for a reader (LED, BUZ, OUT, COMSET). Dropped when the reader is not online: replaying a
   * beep or a door pulse later, when nobody is there, would be wrong.
   */
  send(address: number, code: number, data: Uint8Array): boolean {
    const r = this.reader(address);
    if (r === undefined || r.step !== 'online' || this.stopped) {
      this.log.debug({ osdp: this.path, address, code }, 'OSDP reader not online; command dropped');
      return false;
    }
    if (r.queue.length >= MAX_QUEUE) r.queue.shift();
    r.queue.push({ code, data });
    this.pump();
    return true;
  }

  // ---- the port -----------------------------------------------------------------------------------

  private open(): void {
    if (this.stopped) return;
    const port = new SerialPort({ path: this.path, baudRate: this.options.baudRate, autoOpen: false });
    this.port = port;
    port.on('data', (chunk: Buffer) => this.receive(chunk));
    port.on('error', (err: Error) =>
      this.log.warn({ osdp: this.path, err: err.message }, 'serial port error'),
    );
    port.on('close', () => this.lost('port closed'));
    port.open((err) => {
      if (err) {
        this.port = undefined;
        this.allOffline(`cannot open ${this.path}: ${err.message}`);
        this.scheduleReopen();
        return;
      }
      this.backoffMs = this.options.reconnectMinMs ?? 500;
      this.parser = new PacketParser();
      this.log.info({ osdp: this.path, baudRate: this.options.baudRate }, 'OSDP bus open');
      const now = this.clock.monotonic();
      for (const r of this.readers) r.lastHeard = now;
      this.pump();
    });
  }

  private lost(why: string): void {
    if (this.port === undefined) return;
    this.port = undefined;
    this.cancelWaiting();
    this.allOffline(why);
    this.scheduleReopen();
  }

  private allOffline(why: string): void {
    const now = this.clock.monotonic();
    for (const r of this.readers) {
      this.restart(r, now);
      r.reachable = false;
      this.report(r, false, why);
    }
  }

  private scheduleReopen(): void {
    if (this.stopped || this.reopenTimer !== undefined) return;
    const delay = Math.round(this.backoffMs * (0.75 + Math.random() * 0.5));
    this.backoffMs = Math.min(this.backoffMs * 2, this.options.reconnectMaxMs ?? 10_000);
    this.reopenTimer = this.clock.after(delay, () => {
      this.reopenTimer = undefined;
      this.counters.reconnects++;
      this.open();
    });
  }

  private write(bytes: Uint8Array): void {
    const port = this.port;
    if (port === undefined || !port.isOpen) return;
    this.counters.packetsOut++;
    port.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), (err) => {
      if (err) this.log.warn({ osdp: this.path, err: err.message }, 'serial write failed');
    });
  }

  // ---- scheduling -----------------------------------------------------------------------------------

  private dueAt(r: ReaderState): number {
    if (r.step === 'refused') return r.retryAt;
    if (!r.reachable) return r.lastSent + this.offlineRetryMs;
    if (r.inflight !== undefined || r.step !== 'online' || r.queue.length > 0) return r.retryAt;
    return Math.max(r.retryAt, r.lastSent + this.pollIntervalMs);
  }

  private pump(): void {
    if (this.stopped && this.drainWaiters.length === 0) return;
    if (this.waiting !== undefined || this.port === undefined || !this.port.isOpen) return;
    this.pumpTimer?.cancel();
    this.pumpTimer = undefined;
    const now = this.clock.monotonic();
    let earliest = Infinity;
    for (let i = 0; i < this.readers.length; i++) {
      const idx = (this.next + i) % this.readers.length;
      const r = this.readers[idx];
      if (r === undefined) continue;
      if (this.stopped && r.queue.length === 0 && r.inflight === undefined) continue;
      const due = this.dueAt(r);
      if (due <= now) {
        this.next = (idx + 1) % this.readers.length;
        this.transmit(r, now);
        return;
      }
      earliest = Math.min(earliest, due);
    }
    if (this.stopped) {
      this.flushDrainWaiters();
      return;
    }
    if (earliest < Infinity) {
      this.pumpTimer = this.clock.after(Math.max(1, Math.ceil(earliest - now)), () => {
        this.pumpTimer = undefined;
        this.pump();
      });
    }
  }

  private transmit(r: ReaderState, now: number): void {
    if (r.step === 'refused') this.restart(r, now);
    let inflight = r.inflight;
    if (inflight === undefined) {
      inflight = this.build(r);
      r.inflight = inflight;
    } else this.counters.retransmits++;
    inflight.attempts++;
    r.lastSent = now;
    this.write(inflight.bytes);
    const timer = this.clock.after(this.replyTimeoutMs, () => this.timeout(r));
    this.waiting = { reader: r, timer };
  }

  private build(r: ReaderState): Inflight {
    const step = r.step;
    let command: Outgoing;
    switch (step) {
      case 'id':
        command = { code: CMD.ID, data: encodeIdRequest() };
        break;
      case 'cap':
        command = { code: CMD.CAP, data: encodeIdRequest() };
        break;
      case 'chlng': {
        const useDefault = r.keyMode === 'default';
        const key = useDefault ? SCBK_D : (r.cfg.scbk ?? SCBK_D);
        r.session = new CpSecureSession(
          this.aes,
          key,
          this.random(8),
          useDefault ? SCB_KEY.scbkD : SCB_KEY.scbk,
        );
        command = { code: CMD.CHLNG, data: r.session.rndA };
        break;
      }
      case 'scrypt':
        command = { code: CMD.SCRYPT, data: this.pendingScrypt.get(r) ?? new Uint8Array(16) };
        break;
      case 'keyset':
        command = { code: CMD.KEYSET, data: encodeKeyset(r.cfg.scbk ?? new Uint8Array(16)) };
        break;
      case 'lstat':
        command = { code: CMD.LSTAT, data: new Uint8Array(0) };
        break;
      case 'istat':
        command = { code: CMD.ISTAT, data: new Uint8Array(0) };
        break;
      case 'ostat':
        command = { code: CMD.OSTAT, data: new Uint8Array(0) };
        break;
      default:
        command = r.queue.shift() ?? { code: CMD.POLL, data: new Uint8Array(0) };
    }
    const sqn = r.seq;
    const fields = { address: r.cfg.address, sqn, crc: r.useCrc, code: command.code, data: command.data };
    const session = r.session;
    if (session?.established === true) {
      return { bytes: session.seal(fields), sqn, step, command, sealed: true, attempts: 0 };
    }
    const scb =
      step === 'chlng' && session !== undefined
        ? session.handshakeScb(SCS.chlng)
        : step === 'scrypt' && session !== undefined
          ? session.handshakeScb(SCS.scrypt)
          : null;
    return {
      bytes: buildPacket({ ...fields, reply: false, scb }),
      sqn,
      step,
      command,
      sealed: false,
      attempts: 0,
    };
  }

  private cancelWaiting(): void {
    this.waiting?.timer.cancel();
    this.waiting = undefined;
  }

  private timeout(r: ReaderState): void {
    if (this.waiting?.reader !== r) return;
    this.waiting = undefined;
    this.counters.timeouts++;
    for (const d of this.parser.flush()) if (d.kind === 'discarded') this.countDiscard(d.reason);
    const now = this.clock.monotonic();
    if (now - r.lastHeard >= this.offlineMs) {
      if (r.reachable || r.reported !== false) {
        this.log.warn({ osdp: this.path, address: r.cfg.address }, 'OSDP reader silent; offline');
      }
      this.restart(r, now);
      r.reachable = false;
      this.report(r, false, `no reply for ${Math.round(this.offlineMs / 1000)} s`);
    } else if (r.step === 'id' && r.seq === 0 && (r.inflight?.attempts ?? 0) >= 2) {
      // A reader that ignores CRC packets may speak only the checksum (§5.7): try the other one.
      r.useCrc = !r.useCrc;
      r.inflight = undefined;
    }
    this.pump();
  }

  /** Back to the start: sequence 0, no session, ID → CAP → handshake → status → online. */
  private restart(r: ReaderState, now: number): void {
    r.step = 'id';
    r.seq = 0;
    r.session = undefined;
    r.inflight = undefined;
    r.retryAt = now;
    r.nakRetries = 0;
    r.triedDefault = false;
    r.triedOwn = false;
    r.keyMode =
      r.cfg.installKey === true && this.options.keyRecord?.installed(r.cfg.address) !== true
        ? 'default'
        : 'own';
    if (this.waiting?.reader === r) this.cancelWaiting();
  }

  // ---- replies --------------------------------------------------------------------------------------

  private countDiscard(reason: DiscardReason): void {
    this.counters.discarded[reason] = (this.counters.discarded[reason] ?? 0) + 1;
  }

  private receive(chunk: Buffer): void {
    for (const res of this.parser.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))) {
      if (res.kind === 'discarded') {
        this.countDiscard(res.reason);
        if (res.reason !== 'garbage')
          this.log.debug({ osdp: this.path, reason: res.reason }, 'OSDP bytes discarded');
        continue;
      }
      this.counters.packetsIn++;
      if (res.packet.reply) this.onPacket(res.packet);
    }
  }

  private onPacket(p: OsdpPacket): void {
    const w = this.waiting;
    const r = w?.reader;
    if (w === undefined || r === undefined || r.inflight === undefined || p.address !== r.cfg.address) {
      this.counters.unexpected++;
      return;
    }
    const now = this.clock.monotonic();
    if (p.code === REPLY.BUSY && p.scb === null) {
      // osdp_BUSY (§7.16) carries sequence 0: the same command goes again, same sequence, a little later.
      this.cancelWaiting();
      this.counters.busy++;
      r.lastHeard = now;
      r.retryAt = now + 50;
      this.pump();
      return;
    }
    if (p.sqn !== r.inflight.sqn) {
      this.counters.unexpected++;
      this.log.debug(
        { osdp: this.path, address: r.cfg.address, sqn: p.sqn, expected: r.inflight.sqn },
        'OSDP reply with another sequence number ignored',
      );
      return; // the timeout retransmits; the reader answers a repeat with its last reply
    }
    this.cancelWaiting();
    const inflight = r.inflight;
    r.inflight = undefined;
    this.options.onRoundTrip?.(r.cfg.address, now - r.lastSent);
    r.lastHeard = now;
    r.reachable = true;
    r.useCrc = p.crc;
    r.seq = nextSqn(inflight.sqn);
    let reply: Reply;
    if (inflight.sealed && r.session !== undefined) {
      if (p.scb === null && p.code === REPLY.NAK) {
        // A reader that lost the session (restart, bad MAC) answers in the clear.
        reply = decodeReply(p.code, p.data);
      } else {
        const opened = r.session.open(p);
        if (!opened.ok) {
          this.log.warn(
            { osdp: this.path, address: r.cfg.address, reason: opened.reason },
            'OSDP secure channel broken',
          );
          this.requeue(r, inflight);
          this.restart(r, now);
          this.pump();
          return;
        }
        reply = decodeReply(opened.code, opened.data);
      }
    } else {
      reply = decodeReply(p.code, p.data);
    }
    this.handle(r, inflight, reply, p, now);
    this.pump();
  }

  /** A queued command whose exchange failed goes back to the front of the queue. */
  private requeue(r: ReaderState, inflight: Inflight): void {
    if (inflight.step === 'online' && inflight.command.code !== CMD.POLL) r.queue.unshift(inflight.command);
  }

  private handle(r: ReaderState, inflight: Inflight, reply: Reply, p: OsdpPacket, now: number): void {
    const address = r.cfg.address;
    if (reply.kind === 'nak') {
      this.onNak(r, inflight, reply.error, now);
      return;
    }
    r.nakRetries = 0;
    if (reply.kind === 'malformed') {
      this.log.warn(
        { osdp: this.path, address, code: reply.code, detail: reply.message },
        'OSDP reply malformed',
      );
    }
    switch (inflight.step) {
      case 'id':
        if (reply.kind === 'pdid') {
          r.pdid = reply.id;
          this.log.info({ osdp: this.path, address, ...reply.id }, 'OSDP reader identified');
        }
        r.step = 'cap';
        return;
      case 'cap':
        if (reply.kind === 'pdcap') {
          const cc = reply.capabilities.find((c) => c.function === CAP_FUNCTION.checkCharacter);
          if (cc !== undefined && cc.compliance === 0) r.useCrc = false;
        }
        r.step = r.cfg.secure ? 'chlng' : 'lstat';
        return;
      case 'chlng': {
        const server =
          reply.kind === 'ccrypt' && p.scb?.[1] === SCS.ccrypt
            ? (r.session?.acceptCcrypt(reply.rndB, reply.cryptogram) ?? null)
            : null;
        if (server === null) {
          this.keyFailed(r, 'the reader answered the challenge with another key', now);
          return;
        }
        this.pendingScrypt.set(r, server);
        r.step = 'scrypt';
        return;
      }
      case 'scrypt': {
        const ok =
          reply.kind === 'rmac_i' &&
          p.scb?.[1] === SCS.rmacI &&
          p.scb[2] === 0x01 &&
          r.session?.acceptRmacI(reply.rmac) === true;
        if (!ok) {
          this.keyFailed(r, 'the reader did not accept our cryptogram', now);
          return;
        }
        const installing = r.keyMode === 'default';
        if (
          !installing &&
          r.cfg.installKey === true &&
          this.options.keyRecord?.installed(address) === false
        ) {
          // Its own key is already there (installed earlier, the record lost): never try SCBK-D again.
          this.options.keyRecord.record(address);
        }
        this.log.info(
          { osdp: this.path, address, key: installing ? 'SCBK-D' : 'SCBK' },
          'OSDP secure channel established',
        );
        r.step = installing ? 'keyset' : 'lstat';
        return;
      }
      case 'keyset':
        if (reply.kind === 'ack') {
          this.options.keyRecord?.record(address);
          this.log.warn(
            { osdp: this.path, address },
            'OSDP reader key installed with KEYSET over the default key SCBK-D (recorded; not repeated)',
          );
          r.keyMode = 'own';
          r.session = undefined;
          r.step = 'chlng';
        } else this.keyFailed(r, 'the reader did not accept KEYSET', now);
        return;
      case 'lstat':
      case 'istat':
      case 'ostat':
        this.deliver(r, reply);
        this.advance(r, INIT_AFTER[inflight.step] ?? 'online');
        return;
      default:
        this.deliver(r, reply);
    }
  }

  private deliver(r: ReaderState, reply: Reply): void {
    if (reply.kind === 'ack' || reply.kind === 'malformed') return;
    if (reply.kind === 'com') {
      this.log.info(
        { osdp: this.path, address: r.cfg.address, newAddress: reply.address, baudRate: reply.baudRate },
        'OSDP reader communication settings',
      );
      return;
    }
    for (const l of r.listeners) l({ kind: 'reply', reply });
  }

  private onNak(r: ReaderState, inflight: Inflight, error: number, now: number): void {
    this.counters.naks++;
    const address = r.cfg.address;
    const fields = {
      osdp: this.path,
      address,
      command: inflight.command.code,
      nak: error,
      why: nakText(error),
    };
    const handshake = inflight.step === 'chlng' || inflight.step === 'scrypt';
    if (error === NAK.sequenceNumber) {
      this.log.info(fields, 'OSDP reader lost the sequence (restarted?); starting over with sequence 0');
      this.requeue(r, inflight);
      this.restart(r, now);
      return;
    }
    if (handshake && error === NAK.securityBlock) {
      this.refuse(r, 'the reader refuses the secure channel', now);
      return;
    }
    if (handshake) {
      this.keyFailed(r, `the reader refused the challenge (${nakText(error)})`, now);
      return;
    }
    if (inflight.sealed || error === NAK.encryptionRequired || error === NAK.securityBlock) {
      if (!r.cfg.secure) {
        this.refuse(r, `the reader requires the secure channel (${nakText(error)}); set secure: true`, now);
        return;
      }
      // The reader ended the session (bad MAC, restart): start over with sequence 0, the command kept.
      this.log.warn(fields, 'OSDP secure channel ended by the reader; starting over');
      this.requeue(r, inflight);
      this.restart(r, now);
      return;
    }
    if (error === NAK.checkCharacter && r.nakRetries < 3) {
      // The reader could not read our packet, so it did not take its sequence number: the same one again.
      r.nakRetries++;
      this.log.debug(fields, 'OSDP reader got a corrupted command; sending it again');
      this.requeue(r, inflight);
      r.seq = inflight.sqn;
      return;
    }
    this.log.warn(fields, 'OSDP reader refused a command');
    r.nakRetries = 0;
    // A request the reader does not support during start-up: carry on without it.
    const after: Step | undefined =
      INIT_AFTER[inflight.step] ??
      (inflight.step === 'id'
        ? 'cap'
        : inflight.step === 'cap'
          ? r.cfg.secure
            ? 'chlng'
            : 'lstat'
          : undefined);
    if (after !== undefined) this.advance(r, after);
  }

  private advance(r: ReaderState, step: Step): void {
    r.step = step;
    if (step !== 'online') return;
    const secure = r.session?.established === true;
    this.log.info({ osdp: this.path, address: r.cfg.address, secure, crc: r.useCrc }, 'OSDP reader online');
    this.report(r, true, secure ? 'secure channel' : 'plain mode');
  }

  private keyFailed(r: ReaderState, why: string, now: number): void {
    if (r.keyMode === 'default') r.triedDefault = true;
    else r.triedOwn = true;
    r.session = undefined;
    if (r.keyMode === 'default' && !r.triedOwn) {
      // Not in install mode (any more): its own key may already be there.
      r.keyMode = 'own';
      r.step = 'chlng';
      return;
    }
    if (
      r.keyMode === 'own' &&
      r.cfg.installKey === true &&
      !r.triedDefault &&
      this.options.keyRecord?.installed(r.cfg.address) !== true
    ) {
      r.keyMode = 'default';
      r.step = 'chlng';
      return;
    }
    this.refuse(r, `secure channel failed: ${why} (wrong key?)`, now);
  }

  private refuse(r: ReaderState, why: string, now: number): void {
    if (r.reported !== false || r.step !== 'refused') {
      this.log.error({ osdp: this.path, address: r.cfg.address, why }, 'OSDP reader not usable');
    }
    r.step = 'refused';
    r.session = undefined;
    r.queue = [];
    r.retryAt = now + this.handshakeRetryMs;
    this.report(r, false, why);
  }

  private report(r: ReaderState, online: boolean, detail: string): void {
    if (r.reported === online) return;
    r.reported = online;
    if (!online) r.queue = [];
    for (const l of r.listeners) l({ kind: 'online', online, detail });
  }

  // ---- stopping -------------------------------------------------------------------------------------

  private flushDrainWaiters(): void {
    const w = this.drainWaiters;
    this.drainWaiters = [];
    for (const f of w) f();
  }

  /** One user fewer; the last one lets queued commands (a relay release) go out, then closes the port. */
  stop(): Promise<void> {
    if (this.users > 0) this.users--;
    if (this.users > 0 || this.stopped) return Promise.resolve();
    this.stopped = true;
    this.reopenTimer?.cancel();
    this.reopenTimer = undefined;
    this.pumpTimer?.cancel();
    this.pumpTimer = undefined;
    return new Promise<void>((resolve) => {
      const finish = (): void => {
        clearTimeout(guard);
        this.cancelWaiting();
        const port = this.port;
        this.port = undefined;
        if (port === undefined || !port.isOpen) {
          resolve();
          return;
        }
        port.removeAllListeners('data');
        port.removeAllListeners('close');
        port.drain(() => port.close(() => resolve()));
      };
      // Queued commands (relay release) get up to 500 ms to go out.
      const guard = setTimeout(() => {
        this.drainWaiters = [];
        finish();
      }, 500);
      const pending = this.readers.some((r) => r.queue.length > 0 && r.step === 'online');
      if (!pending) {
        finish();
        return;
      }
      for (const r of this.readers) if (r.step !== 'online') r.queue = [];
      this.drainWaiters.push(finish);
      if (this.waiting === undefined) this.pump();
    });
  }
}
