/**
 * OSDP reader (PD) simulator for tests: one or several peripheral devices on a multi-drop bus, played on
 * one end of a pty with the real `serialport` package. Written from SIA OSDP v2.2 independently of
 * src/protocol/osdp (it imports nothing from src/), so the control panel and the simulator check each other.
 *
 * ```ts
 * const pty = await ptyPair();                                   // test/helpers/pty.ts
 * const bus = await OsdpBusSim.open(pty.device, 9600, [{ address: 1, scbk: KEY }, { address: 2 }]);
 * const r1 = bus.reader(1);
 * r1.presentCard('0110…');        // 26-bit etc.: queued; the next POLL gets osdp_RAW (format 0, bits MSB first)
 * r1.pressKeys('1234#');          // next POLL gets osdp_KEYPAD ('*' → 0x7F, '#' → 0x0D, digits ASCII)
 * r1.setTamper(true); r1.setPower(false); r1.setInput(0, true);  // queue LSTATR / ISTATR on change
 * await r1.waitFor((r) => r.led.color === 'green', 2000);
 * await r1.waitForCommand(Cmd.BUZ);                             // resolves with the ReceivedCommand
 * await bus.close();
 * ```
 *
 * Per reader (SimReader):
 * - options: `address` 0–126; `scbk` (default SCBK-D); `installMode` (accepts SCBK-D handshakes; default:
 *   true when no scbk is given); `secure` (secure channel capability, default true); `checksumOnly` (CRC
 *   packets are ignored, replies use the 8-bit checksum); `requireSecure` (everything but ID, CAP, CHLNG,
 *   SCRYPT is NAKed 0x06 until the secure channel is up); `inputs`/`outputs` counts (4/2); `uid` (cUID).
 * - state: `led` (LED 0 of reader 0: permanent / temporary settings with color names off, red, green, amber,
 *   blue, magenta, cyan, white; `color` = what it shows now; timers are recorded, not run), `ledState(n)`,
 *   `buzzer` (tone 'off' | 'default' | code, on/off times ×100 ms, count, `sounding`), `outputs`
 *   (boolean[]), `text`, `received` (every command: code, name, seq, secure, data decrypted, repeat),
 *   `replies`, `secureEstablished`, `scbk`, `address`, `baudRate`.
 * - faults: `silent` (no replies, nothing recorded: an unplugged reader), `refuseSecureChannel` (CHLNG → NAK
 *   0x05), `nakOnBadCheck` (default true: bad CRC/checksum addressed to us → NAK 0x01; false → ignored),
 *   `busyReplies` (answer the next N commands with osdp_BUSY), `replyDelayMs`, `nakNext(code)`,
 *   `corruptNextReplyCrc()`, `wrongSequenceOnNextReply()`, `dropNextReply()` (the reply is still the one a
 *   retransmission with the same sequence number gets), `restart()` (power cycle: session, queue, LEDs,
 *   outputs forgotten; SCBK, address and baud kept).
 * - events (EventEmitter): 'command' (ReceivedCommand), 'reply' (SentReply), 'secure' (session up),
 *   'secureLost' (reason), 'comset' ({address, baudRate}), 'keyset' (new SCBK), 'badPacket' (reason).
 *
 * Behaviour choices where the spec leaves room (see the report of the helper that wrote this):
 * - sequence: 0 resets the session and the secure channel; the same number as the last one resends the
 *   identical last reply bytes (a card is reported once); anything but the next number (1→2→3→1) gets NAK
 *   0x04 and ends the secure channel; a fresh or restarted PD accepts only 0.
 * - bad check characters on a packet to our address → NAK 0x01 in the clear (libosdp does the same), which
 *   also ends a secure session (a NAK cannot be MACed against a command that was never read); with
 *   nakOnBadCheck false the packet is ignored and the session kept. The sequence state does not move, so
 *   the CP's retransmission is processed as new. A bad MAC → NAK 0x01 and the session ends; a plain
 *   command during a session → NAK 0x06 and the session ends; SCS_15/17 without a session → NAK 0x06.
 * - replies to a secure command: SCS_16 when the reply has no data, SCS_18 (encrypted) otherwise.
 * - KEYSET: ACKed inside the session, then the new SCBK is stored, install mode ends and the session ends
 *   (the CP must run CHLNG again with the new key), as libosdp PDs do.
 * - COMSET: osdp_COM carries the new address and baud; the switch happens after the reply is written. The
 *   new speed is recorded in bus.baudRate (and 'comset' is emitted); the pty itself is reprogrammed only
 *   with the bus option applyBaudToPort (serialport's update() flushes unread bytes both ways).
 * - osdp_BUSY is sent in the clear with sequence number 0 and does not count as the last reply.
 * - a reply repeats the 0xFF mark byte when the command had one; broadcast (0x7F) replies carry the PD's
 *   own address | 0x80.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { SerialPort } from 'serialport';
import {
  SCBK_DEFAULT,
  clientCryptogram,
  computeMac,
  decryptData,
  encryptData,
  initialRmac,
  serverCryptogram,
  sessionKeys,
  type SessionKeys,
} from './crypto.js';
import {
  BROADCAST,
  Cmd,
  Deframer,
  MARK,
  MAX_PACKET,
  Nak,
  Reply,
  Scs,
  buildPacket,
  commandName,
  parsePacket,
  replyName,
  type RawPacket,
} from './packet.js';

export { Cmd, Reply, Nak, Scs, SCBK_DEFAULT };

export type LedColor =
  'off' | 'red' | 'green' | 'amber' | 'blue' | 'magenta' | 'cyan' | 'white' | `color${number}`;
const COLORS: readonly LedColor[] = ['off', 'red', 'green', 'amber', 'blue', 'magenta', 'cyan', 'white'];
/** With requireSecure, the commands a PD still answers before the secure channel is up. */
const ALLOWED_IN_CLEAR = new Set<number>([Cmd.ID, Cmd.CAP, Cmd.CHLNG, Cmd.SCRYPT]);
const colorName = (c: number): LedColor => COLORS[c] ?? `color${c}`;

export interface SimLedSettings {
  /** Last control code received for this half (temporary: 0 NOP, 1 cancel, 2 set; permanent: 0 NOP, 1 set). */
  controlCode: number;
  onColor: LedColor;
  offColor: LedColor;
  /** Units of 100 ms. */
  onTime: number;
  offTime: number;
}

export interface SimLedState {
  reader: number;
  led: number;
  permanent: SimLedSettings;
  temporary: SimLedSettings & { active: boolean; /** units of 100 ms */ timer: number };
  /** What the LED shows now: the temporary on-color while a temporary setting is active, else the permanent on-color. */
  color: LedColor;
}

export interface SimBuzzerState {
  reader: number;
  /** 0 no tone, 1 off, 2 default tone. */
  toneCode: number;
  tone: 'off' | 'default' | number;
  onTime: number;
  offTime: number;
  /** 0 = repeat until told otherwise. */
  count: number;
  sounding: boolean;
}

export interface SimOutputCommand {
  output: number;
  controlCode: number;
  timer: number;
}

export interface ReceivedCommand {
  code: number;
  name: string;
  seq: number;
  /** Came with SCS_15/SCS_17 under an established session. */
  secure: boolean;
  /** DATA, decrypted when it was encrypted. */
  data: Buffer;
  /** A retransmission (same sequence number): answered with the previous reply. */
  repeat: boolean;
  broadcast: boolean;
}

export interface SentReply {
  code: number;
  name: string;
  seq: number;
  secure: boolean;
  /** DATA before encryption. */
  data: Buffer;
  /** Set by the fault controls: 'dropped' | 'corrupt-crc' | 'wrong-seq'. */
  fault?: string;
  /** The previous reply sent again for a retransmitted command. */
  repeat?: boolean;
}

export interface SimReaderOptions {
  address: number;
  /** The PD's secure channel base key (default SCBK-D). */
  scbk?: Buffer;
  /** Accepts the secure channel (default true); false: CHLNG and any security block are NAKed 0x05. */
  secure?: boolean;
  /** Accepts handshakes with SCBK-D (key selector 0). Default: true when no scbk is given. */
  installMode?: boolean;
  /** Speaks only the 8-bit checksum: CRC packets are ignored. */
  checksumOnly?: boolean;
  /** Commands other than ID, CAP, CHLNG, SCRYPT are NAKed 0x06 until the secure channel is up. */
  requireSecure?: boolean;
  inputs?: number;
  outputs?: number;
  /** 8-byte client UID reported in osdp_CCRYPT. */
  uid?: Buffer;
  vendorCode?: [number, number, number];
  serialNumber?: number;
}

interface QueuedReply {
  code: number;
  data: Buffer;
}

interface SecureState {
  phase: 'none' | 'challenged' | 'established';
  useDefaultKey: boolean;
  rndA: Buffer;
  rndB: Buffer;
  keys: SessionKeys | undefined;
  /** Last command MAC (16 bytes) and last reply MAC (16 bytes). */
  cmac: Buffer;
  rmac: Buffer;
}

const freshSecure = (): SecureState => ({
  phase: 'none',
  useDefaultKey: false,
  rndA: Buffer.alloc(8),
  rndB: Buffer.alloc(8),
  keys: undefined,
  cmac: Buffer.alloc(16),
  rmac: Buffer.alloc(16),
});

const offLed = (reader: number, led: number): SimLedState => ({
  reader,
  led,
  permanent: { controlCode: 0, onColor: 'off', offColor: 'off', onTime: 0, offTime: 0 },
  temporary: {
    controlCode: 0,
    onColor: 'off',
    offColor: 'off',
    onTime: 0,
    offTime: 0,
    active: false,
    timer: 0,
  },
  color: 'off',
});

const offBuzzer = (): SimBuzzerState => ({
  reader: 0,
  toneCode: 1,
  tone: 'off',
  onTime: 0,
  offTime: 0,
  count: 0,
  sounding: false,
});

interface ReplyPlan {
  code: number;
  data: Buffer;
  /** Handshake replies carry their own security block and no MAC. */
  scb?: { type: number; data: Buffer };
  /** Runs right after the reply is handed to the port. */
  after?: () => void;
  /** Runs once the reply has been written out (a baud change must not garble it). */
  afterDrain?: () => void;
}

export class SimReader extends EventEmitter {
  /** No replies and nothing recorded: the reader is unplugged. */
  silent = false;
  refuseSecureChannel = false;
  nakOnBadCheck = true;
  /** Answer the next N commands with osdp_BUSY. */
  busyReplies = 0;
  replyDelayMs = 0;

  readonly received: ReceivedCommand[] = [];
  readonly replies: SentReply[] = [];
  readonly ledCommands: SimLedState[] = [];
  readonly buzzerCommands: SimBuzzerState[] = [];
  readonly outputCommands: SimOutputCommand[] = [];
  /** Packets addressed to us whose check characters failed. */
  badPackets = 0;
  text = '';

  private addr: number;
  private key: Buffer;
  private install: boolean;
  private readonly secureCapable: boolean;
  private readonly checksumOnly: boolean;
  private readonly requireSecure: boolean;
  private readonly uid: Buffer;
  private readonly vendor: [number, number, number];
  private readonly serial: number;
  private readonly inputState: boolean[];
  private outputState: boolean[];
  private leds = new Map<string, SimLedState>();
  private buzz: SimBuzzerState = offBuzzer();
  private tamper = false;
  private powerOk = true;
  private queue: QueuedReply[] = [];
  private lastSeq = -1;
  private lastReply: Buffer | undefined;
  private lastReplyInfo: SentReply = { code: 0, name: '', seq: 0, secure: false, data: Buffer.alloc(0) };
  private sc: SecureState = freshSecure();
  private faultNext: { drop: boolean; crc: boolean; seq: boolean; nak: number | undefined } = {
    drop: false,
    crc: false,
    seq: false,
    nak: undefined,
  };

  constructor(
    private readonly bus: OsdpBusSim,
    o: SimReaderOptions,
  ) {
    super();
    if (!Number.isInteger(o.address) || o.address < 0 || o.address > 126) {
      throw new Error(`OSDP address must be 0..126, got ${o.address}`);
    }
    if (o.scbk !== undefined && o.scbk.length !== 16) throw new Error('scbk must be 16 bytes');
    this.addr = o.address;
    this.key = Buffer.from(o.scbk ?? SCBK_DEFAULT);
    this.install = o.installMode ?? o.scbk === undefined;
    this.secureCapable = o.secure ?? true;
    this.checksumOnly = o.checksumOnly ?? false;
    this.requireSecure = o.requireSecure ?? false;
    this.uid = Buffer.from(o.uid ?? Buffer.from([0xdb, 0x0a, 0x55, o.address, 0x01, 0x02, 0x03, 0x04]));
    this.vendor = o.vendorCode ?? [0xdb, 0x0a, 0x55];
    this.serial = o.serialNumber ?? 0x1000 + o.address;
    this.inputState = new Array<boolean>(o.inputs ?? 4).fill(false);
    this.outputState = new Array<boolean>(o.outputs ?? 2).fill(false);
  }

  // ---- state the tests read ------------------------------------------------------------------------

  get address(): number {
    return this.addr;
  }
  get scbk(): Buffer {
    return Buffer.from(this.key);
  }
  get installMode(): boolean {
    return this.install;
  }
  get secureEstablished(): boolean {
    return this.sc.phase === 'established';
  }
  get baudRate(): number {
    return this.bus.baudRate;
  }
  /** LED 0 of reader 0. */
  get led(): SimLedState {
    return this.ledState(0, 0);
  }
  ledState(led: number, reader = 0): SimLedState {
    return this.leds.get(`${reader}/${led}`) ?? offLed(reader, led);
  }
  get buzzer(): SimBuzzerState {
    return { ...this.buzz };
  }
  get outputs(): boolean[] {
    return [...this.outputState];
  }
  get inputs(): boolean[] {
    return [...this.inputState];
  }
  /** Replies queued for POLL, not yet sent. */
  get pendingReports(): number {
    return this.queue.length;
  }

  // ---- things that happen at the reader ------------------------------------------------------------

  /** A card: bits as '0'/'1' characters, reported as osdp_RAW (format 0 = raw, unspecified) on the next POLL. */
  presentCard(bits: string, opts: { reader?: number; format?: number } = {}): void {
    if (!/^[01]+$/.test(bits) || bits.length > 0xffff) throw new Error('card bits must be a string of 0/1');
    const bytes = Buffer.alloc(Math.ceil(bits.length / 8));
    for (let i = 0; i < bits.length; i++) if (bits[i] === '1') bytes[i >> 3]! |= 0x80 >> (i & 7);
    const head = Buffer.alloc(4);
    head[0] = opts.reader ?? 0;
    head[1] = opts.format ?? 0;
    head.writeUInt16LE(bits.length, 2);
    this.queue.push({ code: Reply.RAW, data: Buffer.concat([head, bytes]) });
  }

  /** Keys '0'-'9', '*', '#': one osdp_KEYPAD reply ('*' = 0x7F, '#' = 0x0D). */
  pressKeys(keys: string, reader = 0): void {
    if (!/^[0-9*#]+$/.test(keys)) throw new Error(`unsupported keys: ${keys}`);
    const codes = [...keys].map((k) => (k === '*' ? 0x7f : k === '#' ? 0x0d : k.charCodeAt(0)));
    for (let i = 0; i < codes.length; i += 255) {
      const part = codes.slice(i, i + 255);
      this.queue.push({ code: Reply.KEYPAD, data: Buffer.from([reader, part.length, ...part]) });
    }
  }

  setTamper(on: boolean): void {
    if (this.tamper === on) return;
    this.tamper = on;
    this.queue.push({ code: Reply.LSTATR, data: this.lstatr() });
  }

  setPower(ok: boolean): void {
    if (this.powerOk === ok) return;
    this.powerOk = ok;
    this.queue.push({ code: Reply.LSTATR, data: this.lstatr() });
  }

  setInput(n: number, active: boolean): void {
    if (n < 0 || n >= this.inputState.length) throw new Error(`no input ${n}`);
    if (this.inputState[n] === active) return;
    this.inputState[n] = active;
    this.queue.push({ code: Reply.ISTATR, data: this.istatr() });
  }

  /** Power cycle: forgets the session, the sequence, queued reports, LED/buzzer/outputs. Keeps SCBK, address, baud. */
  restart(): void {
    const wasSecure = this.secureEstablished;
    this.lastSeq = -1;
    this.lastReply = undefined;
    this.sc = freshSecure();
    this.queue = [];
    this.leds.clear();
    this.buzz = offBuzzer();
    this.outputState = this.outputState.map(() => false);
    this.busyReplies = 0;
    this.faultNext = { drop: false, crc: false, seq: false, nak: undefined };
    if (wasSecure) this.emit('secureLost', 'restart');
  }

  corruptNextReplyCrc(): void {
    this.faultNext.crc = true;
  }
  wrongSequenceOnNextReply(): void {
    this.faultNext.seq = true;
  }
  dropNextReply(): void {
    this.faultNext.drop = true;
  }
  /** Answers the next (non-repeated) command with osdp_NAK(code) instead of processing it. */
  nakNext(code: number): void {
    this.faultNext.nak = code;
  }

  /** Resolves once predicate(reader) holds (checked now, on every command/reply, and every 20 ms). */
  waitFor(predicate: (r: SimReader) => boolean, timeoutMs = 5000): Promise<void> {
    if (predicate(this)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!predicate(this)) return;
        done();
        resolve();
      };
      const timer = setTimeout(() => {
        done();
        const last = this.received.slice(-8).map((c) => `${c.name}#${c.seq}`);
        reject(
          new Error(
            `osdp-sim reader ${this.addr}: condition not met within ${timeoutMs} ms; last commands: ${last.join(' ')}`,
          ),
        );
      }, timeoutMs);
      const tick = setInterval(check, 20);
      const done = (): void => {
        clearTimeout(timer);
        clearInterval(tick);
        this.off('command', check);
        this.off('reply', check);
      };
      this.on('command', check);
      this.on('reply', check);
    });
  }

  /** Resolves with the first command (received from now on, or since index `since`) matching code or predicate. */
  async waitForCommand(
    match: number | ((c: ReceivedCommand) => boolean),
    timeoutMs = 5000,
    since = this.received.length,
  ): Promise<ReceivedCommand> {
    const pred = typeof match === 'number' ? (c: ReceivedCommand) => c.code === match : match;
    let hit: ReceivedCommand | undefined;
    await this.waitFor(() => (hit = this.received.slice(since).find(pred)) !== undefined, timeoutMs);
    return hit!;
  }

  // ---- the protocol --------------------------------------------------------------------------------

  /** @internal Called by the bus for each packet addressed to this reader (or broadcast). */
  handle(pkt: RawPacket): void {
    if (this.silent) return;
    if (this.checksumOnly && pkt.crc) return; // cannot read CRC packets at all
    const broadcast = (pkt.addr & 0x7f) === BROADCAST;
    if (!pkt.checkOk) {
      if (pkt.resync || broadcast) return;
      this.badPackets++;
      this.emit('badPacket', 'check character');
      if (!this.nakOnBadCheck) return;
      this.endSession('bad check character');
      this.sendNow(pkt, { code: Reply.NAK, data: Buffer.from([Nak.CHECK_CHARACTER]) }, false);
      return;
    }
    const p = parsePacket(pkt);
    if (!p) {
      this.emit('badPacket', 'inner lengths');
      this.sendNow(pkt, { code: Reply.NAK, data: Buffer.from([Nak.COMMAND_LENGTH]) }, false);
      return;
    }
    const scbType = p.scb?.type;
    const secureCmd = scbType === Scs.S15 || scbType === Scs.S17;
    const record = (data: Buffer, repeat: boolean): void => {
      const c: ReceivedCommand = {
        code: p.code,
        name: commandName(p.code),
        seq: pkt.seq,
        secure: secureCmd,
        data,
        repeat,
        broadcast,
      };
      this.received.push(c);
      this.emit('command', c);
    };

    // Sequence numbers (v2.2 5.9): 0 restarts, a repeat gets the same reply again, else next expected.
    if (pkt.seq === 0) {
      this.endSession('sequence 0');
      this.lastSeq = -1;
      this.lastReply = undefined;
    } else if (pkt.seq === this.lastSeq && this.lastReply) {
      record(p.data, true);
      this.transmit(this.lastReply, { ...this.lastReplyInfo, repeat: true });
      return;
    } else if (pkt.seq !== (this.lastSeq < 0 ? 0 : (this.lastSeq % 3) + 1)) {
      record(p.data, false);
      this.endSession('sequence error');
      this.sendNow(pkt, { code: Reply.NAK, data: Buffer.from([Nak.SEQUENCE]) }, false);
      return;
    }

    if (this.busyReplies > 0) {
      this.busyReplies--;
      record(p.data, false);
      const { bytes } = buildPacket({
        addr: this.addr | 0x80,
        seq: 0,
        crc: pkt.crc && !this.checksumOnly,
        code: Reply.BUSY,
      });
      this.transmit(this.withMark(pkt, bytes), {
        code: Reply.BUSY,
        name: 'osdp_BUSY',
        seq: 0,
        secure: false,
        data: Buffer.alloc(0),
      });
      return;
    }

    // Security block.
    let data = p.data;
    const nak = (reason: number, endSession?: string): void => {
      if (endSession) this.endSession(endSession);
      this.respond(pkt, { code: Reply.NAK, data: Buffer.from([reason]) }, false);
    };
    if (p.scb) {
      if (!this.secureCapable) {
        record(data, false);
        return nak(Nak.SECURITY_BLOCK_UNSUPPORTED);
      }
      if (secureCmd) {
        if (this.sc.phase !== 'established' || !this.sc.keys || !p.mac) {
          record(data, false);
          return nak(Nak.SECURITY_CONDITIONS);
        }
        const mac = computeMac(this.sc.keys, this.sc.rmac, pkt.bytes.subarray(0, p.macOffset));
        if (!mac.subarray(0, 4).equals(p.mac)) {
          record(data, false);
          return nak(Nak.CHECK_CHARACTER, 'bad MAC');
        }
        this.sc.cmac = mac;
        if (scbType === Scs.S17) {
          const plain = decryptData(this.sc.keys.sEnc, this.sc.rmac, data);
          if (!plain) {
            record(data, false);
            return nak(Nak.SECURITY_CONDITIONS, 'undecryptable data');
          }
          data = plain;
        }
      } else if (scbType !== Scs.S11 && scbType !== Scs.S13) {
        record(data, false);
        return nak(Nak.SECURITY_BLOCK_UNSUPPORTED);
      }
    } else if (this.sc.phase === 'established') {
      record(data, false);
      return nak(Nak.SECURITY_CONDITIONS, 'plain command during a session');
    }
    record(data, false);

    if (this.faultNext.nak !== undefined) {
      const code = this.faultNext.nak;
      this.faultNext.nak = undefined;
      return this.respond(pkt, { code: Reply.NAK, data: Buffer.from([code]) }, secureCmd);
    }
    if (this.requireSecure && this.sc.phase !== 'established' && !ALLOWED_IN_CLEAR.has(p.code)) {
      return nak(Nak.SECURITY_CONDITIONS);
    }
    const plan = this.execute(p.code, data, p.scb);
    this.respond(pkt, plan, secureCmd);
  }

  private execute(code: number, data: Buffer, scb: { type: number; data: Buffer } | undefined): ReplyPlan {
    const ack: ReplyPlan = { code: Reply.ACK, data: Buffer.alloc(0) };
    const nak = (reason: number): ReplyPlan => ({ code: Reply.NAK, data: Buffer.from([reason]) });
    const lenIs = (n: number): boolean => data.length === n;
    switch (code) {
      case Cmd.POLL: {
        if (!lenIs(0)) return nak(Nak.COMMAND_LENGTH);
        const next = this.queue.shift();
        return next ? { code: next.code, data: next.data } : ack;
      }
      case Cmd.ID:
        if (!lenIs(1)) return nak(Nak.COMMAND_LENGTH);
        return { code: Reply.PDID, data: this.pdid() };
      case Cmd.CAP:
        if (!lenIs(1)) return nak(Nak.COMMAND_LENGTH);
        return { code: Reply.PDCAP, data: this.pdcap() };
      case Cmd.LSTAT:
        return lenIs(0) ? { code: Reply.LSTATR, data: this.lstatr() } : nak(Nak.COMMAND_LENGTH);
      case Cmd.ISTAT:
        return lenIs(0) ? { code: Reply.ISTATR, data: this.istatr() } : nak(Nak.COMMAND_LENGTH);
      case Cmd.OSTAT:
        return lenIs(0)
          ? { code: Reply.OSTATR, data: Buffer.from(this.outputState.map((o) => (o ? 1 : 0))) }
          : nak(Nak.COMMAND_LENGTH);
      case Cmd.RSTAT:
        return lenIs(0) ? { code: Reply.RSTATR, data: Buffer.from([0]) } : nak(Nak.COMMAND_LENGTH);
      case Cmd.OUT:
        return this.out(data) ?? ack;
      case Cmd.LED:
        return this.ledCmd(data) ?? ack;
      case Cmd.BUZ:
        return this.buzCmd(data) ?? ack;
      case Cmd.TEXT: {
        const n = data[5];
        if (data.length < 6 || n === undefined || data.length !== 6 + n) return nak(Nak.COMMAND_LENGTH);
        this.text = data.subarray(6).toString('latin1');
        return ack;
      }
      case Cmd.ACURXSIZE:
      case Cmd.KEEPACTIVE:
        return lenIs(2) ? ack : nak(Nak.COMMAND_LENGTH);
      case Cmd.COMSET: {
        if (!lenIs(5)) return nak(Nak.COMMAND_LENGTH);
        const address = data[0] ?? 0;
        const baudRate = data.readUInt32LE(1);
        if (address > 126 || ![9600, 19200, 38400, 57600, 115200, 230400].includes(baudRate)) {
          return nak(Nak.UNABLE_TO_PROCESS);
        }
        return {
          code: Reply.COM,
          data: Buffer.from(data),
          after: () => {
            this.addr = address;
            this.emit('comset', { address, baudRate });
          },
          afterDrain: () => this.bus.changeBaud(baudRate),
        };
      }
      case Cmd.KEYSET: {
        if (!lenIs(18)) return nak(Nak.COMMAND_LENGTH);
        if (this.sc.phase !== 'established') return nak(Nak.SECURITY_CONDITIONS);
        if (data[0] !== 1 || data[1] !== 16) return nak(Nak.UNABLE_TO_PROCESS);
        const newKey = Buffer.from(data.subarray(2, 18));
        return {
          ...ack,
          after: () => {
            this.key = newKey;
            this.install = false;
            this.emit('keyset', Buffer.from(newKey));
            this.endSession('new SCBK');
          },
        };
      }
      case Cmd.CHLNG:
        return this.challenge(data, scb);
      case Cmd.SCRYPT:
        return this.scrypt(data, scb);
      default:
        return nak(Nak.UNKNOWN_COMMAND);
    }
  }

  private challenge(rndA: Buffer, scb: { type: number; data: Buffer } | undefined): ReplyPlan {
    const nak = (reason: number): ReplyPlan => ({ code: Reply.NAK, data: Buffer.from([reason]) });
    if (rndA.length !== 8) return nak(Nak.COMMAND_LENGTH);
    if (!this.secureCapable || this.refuseSecureChannel) return nak(Nak.SECURITY_BLOCK_UNSUPPORTED);
    if (scb?.type !== Scs.S11) return nak(Nak.SECURITY_CONDITIONS);
    const useDefault = scb.data[0] === 0;
    if (useDefault && !this.install) return nak(Nak.SECURITY_CONDITIONS);
    this.endSession('new challenge');
    const rndB = randomBytes(8);
    const keys = sessionKeys(useDefault ? SCBK_DEFAULT : this.key, rndA);
    this.sc = {
      ...freshSecure(),
      phase: 'challenged',
      useDefaultKey: useDefault,
      rndA: Buffer.from(rndA),
      rndB,
      keys,
    };
    return {
      code: Reply.CCRYPT,
      data: Buffer.concat([this.uid, rndB, clientCryptogram(keys.sEnc, rndA, rndB)]),
      scb: { type: Scs.S12, data: Buffer.from([useDefault ? 0 : 1]) },
    };
  }

  private scrypt(cryptogram: Buffer, scb: { type: number; data: Buffer } | undefined): ReplyPlan {
    const nak = (reason: number): ReplyPlan => ({ code: Reply.NAK, data: Buffer.from([reason]) });
    if (cryptogram.length !== 16) return nak(Nak.COMMAND_LENGTH);
    if (scb?.type !== Scs.S13 || this.sc.phase !== 'challenged' || !this.sc.keys) {
      return nak(Nak.SECURITY_CONDITIONS);
    }
    const keys = this.sc.keys;
    const ok = serverCryptogram(keys.sEnc, this.sc.rndA, this.sc.rndB).equals(cryptogram);
    const rmac = initialRmac(keys, cryptogram);
    const plan: ReplyPlan = {
      code: Reply.RMAC_I,
      data: rmac,
      scb: { type: Scs.S14, data: Buffer.from([ok ? 0x01 : 0xff]) },
    };
    if (ok) {
      this.sc.phase = 'established';
      this.sc.rmac = rmac;
      plan.after = () => this.emit('secure');
    } else {
      this.sc = freshSecure();
    }
    return plan;
  }

  private out(data: Buffer): ReplyPlan | undefined {
    if (data.length === 0 || data.length % 4 !== 0)
      return { code: Reply.NAK, data: Buffer.from([Nak.COMMAND_LENGTH]) };
    for (let i = 0; i < data.length; i += 4) {
      const output = data[i] ?? 0;
      const controlCode = data[i + 1] ?? 0;
      const timer = data.readUInt16LE(i + 2);
      if (output >= this.outputState.length)
        return { code: Reply.NAK, data: Buffer.from([Nak.UNABLE_TO_PROCESS]) };
      this.outputCommands.push({ output, controlCode, timer });
      // 1/3 permanent off, 2/4 permanent on, 5 temporary on, 6 temporary off (timers are not run).
      if (controlCode === 1 || controlCode === 3 || controlCode === 6) this.outputState[output] = false;
      if (controlCode === 2 || controlCode === 4 || controlCode === 5) this.outputState[output] = true;
    }
    return undefined;
  }

  private ledCmd(data: Buffer): ReplyPlan | undefined {
    if (data.length === 0 || data.length % 14 !== 0)
      return { code: Reply.NAK, data: Buffer.from([Nak.COMMAND_LENGTH]) };
    for (let i = 0; i < data.length; i += 14) {
      const r = data.subarray(i, i + 14);
      const reader = r[0] ?? 0;
      const led = r[1] ?? 0;
      const prev = this.ledState(led, reader);
      const s: SimLedState = structuredClone(prev);
      const tcc = r[2] ?? 0;
      s.temporary.controlCode = tcc;
      if (tcc === 1) s.temporary.active = false;
      if (tcc === 2) {
        s.temporary = {
          controlCode: tcc,
          onTime: r[3] ?? 0,
          offTime: r[4] ?? 0,
          onColor: colorName(r[5] ?? 0),
          offColor: colorName(r[6] ?? 0),
          timer: r.readUInt16LE(7),
          active: true,
        };
      }
      const pcc = r[9] ?? 0;
      s.permanent.controlCode = pcc;
      if (pcc === 1) {
        s.permanent = {
          controlCode: pcc,
          onTime: r[10] ?? 0,
          offTime: r[11] ?? 0,
          onColor: colorName(r[12] ?? 0),
          offColor: colorName(r[13] ?? 0),
        };
      }
      s.color = s.temporary.active ? s.temporary.onColor : s.permanent.onColor;
      this.leds.set(`${reader}/${led}`, s);
      this.ledCommands.push(structuredClone(s));
    }
    return undefined;
  }

  private buzCmd(data: Buffer): ReplyPlan | undefined {
    if (data.length === 0 || data.length % 5 !== 0)
      return { code: Reply.NAK, data: Buffer.from([Nak.COMMAND_LENGTH]) };
    for (let i = 0; i < data.length; i += 5) {
      const toneCode = data[i + 1] ?? 0;
      this.buzz = {
        reader: data[i] ?? 0,
        toneCode,
        tone: toneCode <= 1 ? 'off' : toneCode === 2 ? 'default' : toneCode,
        onTime: data[i + 2] ?? 0,
        offTime: data[i + 3] ?? 0,
        count: data[i + 4] ?? 0,
        sounding: toneCode >= 2 && (data[i + 2] ?? 0) > 0,
      };
      this.buzzerCommands.push({ ...this.buzz });
    }
    return undefined;
  }

  private lstatr(): Buffer {
    return Buffer.from([this.tamper ? 1 : 0, this.powerOk ? 0 : 1]);
  }
  private istatr(): Buffer {
    return Buffer.from(this.inputState.map((i) => (i ? 1 : 0)));
  }
  private pdid(): Buffer {
    const b = Buffer.alloc(12);
    b[0] = this.vendor[0];
    b[1] = this.vendor[1];
    b[2] = this.vendor[2];
    b[3] = 1; // model
    b[4] = 1; // version
    b.writeUInt32LE(this.serial >>> 0, 5);
    b[9] = 2; // firmware major, minor, build
    b[10] = 2;
    b[11] = 0;
    return b;
  }
  private pdcap(): Buffer {
    const caps: [number, number, number][] = [
      [1, 1, this.inputState.length], // contact status monitoring
      [2, 1, this.outputState.length], // output control
      [3, 1, 0], // card data format: binary
      [4, 1, 2], // reader LED control: 2 LEDs
      [5, 1, 1], // audible output
      [6, 0, 0], // text output: none
      [8, this.checksumOnly ? 0 : 1, 0], // check character: CRC-16 supported
      [9, this.secureCapable ? 1 : 0, this.install ? 1 : 0], // communication security: AES-128, SCBK-D
      [10, MAX_PACKET & 0xff, MAX_PACKET >> 8], // receive buffer size
      [11, MAX_PACKET & 0xff, MAX_PACKET >> 8], // largest combined message
      [16, 2, 0], // OSDP version: v2.2
    ];
    return Buffer.from(caps.flat());
  }

  private endSession(reason: string): void {
    const was = this.sc.phase === 'established';
    this.sc = freshSecure();
    if (was) this.emit('secureLost', reason);
  }

  private withMark(pkt: RawPacket, bytes: Buffer): Buffer {
    return pkt.marked ? Buffer.concat([Buffer.from([MARK]), bytes]) : bytes;
  }

  /** Sends a reply that is not remembered as the last reply (NAKs for packets that were not accepted). */
  private sendNow(pkt: RawPacket, plan: ReplyPlan, secure: boolean): void {
    const { bytes } = this.build(pkt, plan, secure, pkt.seq);
    this.transmit(this.withMark(pkt, bytes), this.info(pkt.seq, plan, secure));
  }

  /** Builds, remembers (for retransmissions), applies the fault controls and sends a reply. */
  private respond(pkt: RawPacket, plan: ReplyPlan, secureCmd: boolean): void {
    const secure = secureCmd && this.sc.phase === 'established' && plan.scb === undefined;
    const wrongSeqBytes = this.faultNext.seq
      ? this.build(pkt, plan, secure, (pkt.seq % 3) + 1).bytes
      : undefined;
    const { bytes, mac } = this.build(pkt, plan, secure, pkt.seq);
    if (secure && mac) this.sc.rmac = mac;
    const wire = this.withMark(pkt, bytes);
    this.lastSeq = pkt.seq;
    this.lastReply = wire;
    const info = this.info(pkt.seq, plan, secure);
    this.lastReplyInfo = { ...info };
    let out: Buffer | undefined = wire;
    if (this.faultNext.drop) {
      this.faultNext.drop = false;
      out = undefined;
      info.fault = 'dropped';
    } else if (this.faultNext.crc) {
      this.faultNext.crc = false;
      out = Buffer.from(wire);
      out[out.length - 1]! ^= 0xff;
      info.fault = 'corrupt-crc';
    } else if (wrongSeqBytes) {
      this.faultNext.seq = false;
      out = this.withMark(pkt, wrongSeqBytes);
      info.fault = 'wrong-seq';
    }
    plan.after?.();
    this.transmit(out, info, plan.afterDrain);
  }

  private build(
    pkt: RawPacket,
    plan: ReplyPlan,
    secure: boolean,
    seq: number,
  ): { bytes: Buffer; mac: Buffer | undefined } {
    const crc = pkt.crc && !this.checksumOnly;
    const addr = this.addr | 0x80;
    if (plan.scb) return buildPacket({ addr, seq, crc, scb: plan.scb, code: plan.code, data: plan.data });
    if (!secure || !this.sc.keys) return buildPacket({ addr, seq, crc, code: plan.code, data: plan.data });
    const keys = this.sc.keys;
    const cmac = this.sc.cmac;
    const hasData = plan.data.length > 0;
    return buildPacket({
      addr,
      seq,
      crc,
      scb: { type: hasData ? Scs.S18 : Scs.S16 },
      code: plan.code,
      data: hasData ? encryptData(keys.sEnc, cmac, plan.data) : undefined,
      mac: (m) => computeMac(keys, cmac, m),
    });
  }

  private info(seq: number, plan: ReplyPlan, secure: boolean): SentReply {
    return { code: plan.code, name: replyName(plan.code), seq, secure, data: plan.data };
  }

  private transmit(bytes: Buffer | undefined, info: SentReply, after?: () => void): void {
    const go = (): void => {
      if (bytes) this.bus.write(bytes);
      this.replies.push(info);
      this.emit('reply', info);
      if (after) this.bus.afterDrain(after);
    };
    if (this.replyDelayMs > 0) setTimeout(go, this.replyDelayMs);
    else go();
  }
}

export interface OsdpBusOptions {
  /** Inter-character timeout after which a partial packet is given up (default 50 ms; the spec's is 20). */
  interCharTimeoutMs?: number;
  /**
   * After COMSET, also reprogram the port's speed (default false: the new rate is only recorded in
   * baudRate, because on a pty the speed means nothing and the reprogramming flushes unread bytes).
   */
  applyBaudToPort?: boolean;
}

/** One serial line (a pty end) with any number of simulated PDs on it. */
export class OsdpBusSim {
  private readonly readers: SimReader[] = [];
  private readonly deframer = new Deframer();
  private staleTimer: NodeJS.Timeout | undefined;
  private baud: number;
  private closed = false;
  /** Write/serial errors (a write racing close): recorded, never thrown. */
  readonly errors: Error[] = [];

  private constructor(
    private readonly port: SerialPort,
    baudRate: number,
    private readonly opts: OsdpBusOptions,
  ) {
    this.baud = baudRate;
    port.on('error', (err: Error) => this.errors.push(err));
    port.on('data', (chunk: Buffer) => this.onData(chunk));
  }

  static async open(
    path: string,
    baudRate: number,
    readers: SimReaderOptions[],
    options: OsdpBusOptions = {},
  ): Promise<OsdpBusSim> {
    const seen = new Set<number>();
    for (const r of readers) {
      if (seen.has(r.address)) throw new Error(`duplicate OSDP address ${r.address}`);
      seen.add(r.address);
    }
    const port = new SerialPort({ path, baudRate, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
    const bus = new OsdpBusSim(port, baudRate, options);
    for (const o of readers) bus.readers.push(new SimReader(bus, o));
    return bus;
  }

  get baudRate(): number {
    return this.baud;
  }

  /** Bytes thrown away while looking for a packet start. */
  get garbageBytes(): number {
    return this.deframer.skipped;
  }

  reader(address: number): SimReader {
    const r = this.readers.find((x) => x.address === address);
    if (!r) throw new Error(`no simulated OSDP reader at address ${address}`);
    return r;
  }

  get all(): readonly SimReader[] {
    return this.readers;
  }

  /** @internal */
  write(bytes: Buffer): void {
    if (this.closed || !this.port.isOpen) return;
    this.port.write(bytes);
  }

  /** @internal Runs fn once everything written so far has left. */
  afterDrain(fn: () => void): void {
    if (this.closed || !this.port.isOpen) return fn();
    this.port.drain(() => fn());
  }

  /**
   * @internal COMSET: the whole line changes speed. Recorded only, unless applyBaudToPort: serialport's
   * update() flushes both directions (tcflush TCIOFLUSH), which on a pty throws away the COM reply still
   * waiting for socat to read it, and a pty has no speed anyway.
   */
  changeBaud(baudRate: number): void {
    this.baud = baudRate;
    if (!this.opts.applyBaudToPort || this.closed || !this.port.isOpen) return;
    setTimeout(() => {
      if (this.closed || !this.port.isOpen) return;
      this.port.update({ baudRate }, (err) => {
        if (err) this.errors.push(err);
      });
    }, 20);
  }

  private onData(chunk: Buffer): void {
    this.dispatch(this.deframer.push(chunk));
    this.armStaleTimer();
  }

  private armStaleTimer(): void {
    if (this.staleTimer) clearTimeout(this.staleTimer);
    this.staleTimer = undefined;
    if (this.deframer.pending === 0 || this.closed) return;
    this.staleTimer = setTimeout(() => {
      this.staleTimer = undefined;
      this.dispatch(this.deframer.flushStale());
      this.armStaleTimer();
    }, this.opts.interCharTimeoutMs ?? 50);
  }

  private dispatch(packets: RawPacket[]): void {
    for (const p of packets) {
      if (p.addr & 0x80) continue; // a reply from some other PD on the line
      const target = p.addr & 0x7f;
      for (const r of [...this.readers]) {
        if (target === r.address || (target === BROADCAST && p.checkOk)) r.handle(p);
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.staleTimer) clearTimeout(this.staleTimer);
    if (!this.port.isOpen) return;
    await new Promise<void>((resolve) => this.port.close(() => resolve()));
  }
}
