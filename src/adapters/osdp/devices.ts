/**
 * What the daemon attaches to an OSDP bus, per reader: the credential input (RAW card bits through the same
 * Wiegand decoder as the serial bridge, FMT card numbers, KEYPAD keys into the same PIN entry machine),
 * feedback (LED, buzzer), the reader's outputs as a door relay and its inputs as door sensors, and its
 * tamper / power reports.
 */
import {
  CMD,
  encodeBuz,
  encodeLed,
  encodeOut,
  LED_COLOR,
  OUT_CONTROL,
  type LedColor,
} from '../../protocol/osdp/messages.js';
import { decodeWiegand, type CardMapping, type WiegandFormat } from '../../protocol/wiegand.js';
import type { CredentialSource, DoorSensor, FeedbackSignal, InputHandler, Relay } from '../../ports/io.js';
import type { OsdpBus, ReaderEvent } from './bus.js';

export interface OsdpReaderInputOptions {
  readonly wiegand: { readonly format: WiegandFormat | 'auto'; readonly mapping: CardMapping };
  /** How long the LED shows green / red / amber after a decision. */
  readonly ledMs?: number;
}

/** A change the reader reported about itself (LSTATR): for the journal. */
export interface ReaderCondition {
  readonly kind: 'tamper' | 'power';
  /** tamper: the case is open; power: the reader reports a power failure. */
  readonly active: boolean;
}

export class OsdpReaderInput implements CredentialSource {
  readonly name: string;
  private handler: InputHandler | undefined;
  private tamper: boolean | undefined;
  private power: boolean | undefined;
  private readonly conditionListeners: ((c: ReaderCondition) => void)[] = [];
  private started = false;

  constructor(
    private readonly bus: OsdpBus,
    readonly address: number,
    private readonly options: OsdpReaderInputOptions,
  ) {
    this.name = `osdp:${bus.path}:${address}`;
    bus.onReader(address, (e) => this.onEvent(e));
  }

  /** Tamper and power changes (the first report after start-up counts when it is abnormal). */
  onCondition(listener: (c: ReaderCondition) => void): void {
    this.conditionListeners.push(listener);
  }

  start(handler: InputHandler): void {
    this.handler = handler;
    if (this.started) return;
    this.started = true;
    this.bus.start();
  }

  private onEvent(e: ReaderEvent): void {
    const h = this.handler;
    if (e.kind === 'online') {
      h?.online(e.online, e.detail);
      return;
    }
    const reply = e.reply;
    switch (reply.kind) {
      case 'raw': {
        if (h === undefined) return;
        const r = decodeWiegand(reply.bitCount, reply.data, this.options.wiegand);
        if (r.kind === 'card') h.credential('card', r.value);
        else if (r.kind === 'key') h.key(r.key);
        else h.readError(`osdp card ${reply.bitCount}-bit ${r.reason}: ${r.message}`, 'card');
        return;
      }
      case 'fmt': {
        if (h === undefined) return;
        const text = reply.text.trim();
        if (/^[0-9]{1,20}$/.test(text)) h.credential('card', text);
        else
          h.readError(`osdp formatted card data of ${text.length} characters is not a card number`, 'card');
        return;
      }
      case 'keypad':
        for (const k of reply.keys) h?.key(k);
        return;
      case 'lstatr':
        this.condition('tamper', reply.tamper, this.tamper);
        this.tamper = reply.tamper;
        this.condition('power', reply.power, this.power);
        this.power = reply.power;
        return;
      default:
        return; // input / output levels go to OsdpSensor; nothing else is for the input
    }
  }

  private condition(kind: ReaderCondition['kind'], active: boolean, before: boolean | undefined): void {
    if (before === active || (before === undefined && !active)) return;
    for (const l of this.conditionListeners) l({ kind, active });
  }

  feedback(signal: FeedbackSignal): void {
    const ledMs = this.options.ledMs ?? 2000;
    const led = (color: LedColor): void => {
      this.bus.send(this.address, CMD.LED, encodeLed({ temporary: { color, ms: ledMs } }));
    };
    const beep = (onMs: number, offMs = 0, count = 1): void => {
      this.bus.send(this.address, CMD.BUZ, encodeBuz({ on: true, onMs, offMs, count }));
    };
    switch (signal) {
      case 'accept':
        led(LED_COLOR.green);
        beep(100);
        break;
      case 'deny':
        led(LED_COLOR.red);
        beep(1000);
        break;
      case 'locked_out':
        led(LED_COLOR.amber);
        beep(1000);
        break;
      case 'click':
        beep(100);
        break;
      case 'alarm':
        this.bus.send(
          this.address,
          CMD.LED,
          encodeLed({ temporary: { color: LED_COLOR.red, ms: 600_000, flashMs: 500 } }),
        );
        beep(500, 500, 0);
        break;
      case 'alarm_off':
        this.bus.send(this.address, CMD.BUZ, encodeBuz({ on: false }));
        this.bus.send(this.address, CMD.LED, encodeLed({ temporary: { color: LED_COLOR.black, ms: 100 } }));
        break;
    }
  }

  stop(): Promise<void> {
    if (!this.started) return Promise.resolve();
    this.started = false;
    this.handler = undefined;
    return this.bus.stop();
  }
}

/**
 * A reader output driving the door strike: a timed "temporary on" (osdp_OUT control 5), so the reader ends
 * the pulse itself even if the panel dies; release = permanent off, timer aborted.
 */
export class OsdpRelay implements Relay {
  constructor(
    private readonly bus: OsdpBus,
    readonly address: number,
    readonly output: number,
  ) {}

  pulse(ms: number): void {
    this.bus.send(
      this.address,
      CMD.OUT,
      encodeOut([{ output: this.output, control: OUT_CONTROL.temporaryOnTimed, ms: Math.max(100, ms) }]),
    );
  }

  release(): void {
    this.bus.send(
      this.address,
      CMD.OUT,
      encodeOut([{ output: this.output, control: OUT_CONTROL.offAbortTimed }]),
    );
  }

  close(): void {
    this.release();
  }
}

/** A door contact or exit button wired to a reader input (ISTATR: on start-up and on every change). */
export class OsdpSensor implements DoorSensor {
  readonly name: string;
  private listener: ((active: boolean) => void) | undefined;
  private level: boolean | undefined;

  constructor(
    bus: OsdpBus,
    address: number,
    private readonly input: number,
    private readonly activeLow: boolean,
  ) {
    this.name = `osdp:${bus.path}:${address}:input${input}`;
    bus.onReader(address, (e) => {
      if (e.kind !== 'reply' || e.reply.kind !== 'istatr') return;
      const raw = e.reply.inputs[this.input];
      if (raw === undefined) return;
      const active = raw !== this.activeLow;
      if (active === this.level) return;
      this.level = active;
      this.listener?.(active);
    });
  }

  start(onChange: (active: boolean) => void): void {
    this.listener = onChange;
  }

  stop(): void {
    this.listener = undefined;
  }
}
