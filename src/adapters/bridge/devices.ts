/**
 * What the daemon attaches to a bridge link: the credential input (keypad keys, Wiegand cards and keypad
 * bursts, scanner text), feedback (LED, beeper), relay channels and door inputs.
 */
import { BEEP_PATTERN, LED_COLOUR, type BridgeToHostMessage } from '../../protocol/bridge.js';
import { decodeWiegand, type CardMapping, type WiegandFormat } from '../../protocol/wiegand.js';
import type { CredentialSource, DoorSensor, FeedbackSignal, InputHandler, Relay } from '../../ports/io.js';
import type { BridgeLink } from './link.js';

export interface BridgeInputOptions {
  readonly wiegand: { readonly format: WiegandFormat | 'auto'; readonly mapping: CardMapping };
  /** How long the LED shows green / red after a decision. */
  readonly ledMs?: number;
}

export class BridgeInput implements CredentialSource {
  readonly name: string;
  private handler: InputHandler | undefined;

  constructor(
    private readonly link: BridgeLink,
    private readonly options: BridgeInputOptions,
  ) {
    this.name = `bridge:${link.path}`;
    link.onMessage((m) => this.onMessage(m));
    link.onStatus((online, detail) => this.handler?.online(online, detail));
  }

  start(handler: InputHandler): void {
    this.handler = handler;
    this.link.start();
  }

  private onMessage(m: BridgeToHostMessage): void {
    const h = this.handler;
    if (h === undefined) return;
    switch (m.type) {
      case 'key':
        h.key(m.key);
        break;
      case 'scan':
        h.credential('qr', m.text);
        break;
      case 'wiegand': {
        const r = decodeWiegand(m.bitCount, m.data, this.options.wiegand);
        if (r.kind === 'card') h.credential('card', r.value);
        else if (r.kind === 'key') h.key(r.key);
        else h.readError(`wiegand ${m.bitCount}-bit ${r.reason}: ${r.message}`, 'card');
        break;
      }
      default:
        break; // input levels go to BridgeSensor; camera frames to the camera issue's reassembler
    }
  }

  feedback(signal: FeedbackSignal): void {
    const ledMs = this.options.ledMs ?? 2000;
    switch (signal) {
      case 'accept':
        this.link.send({ type: 'led', colour: LED_COLOUR.green, ms: ledMs });
        this.link.send({ type: 'beep', pattern: BEEP_PATTERN.accept });
        break;
      case 'deny':
        this.link.send({ type: 'led', colour: LED_COLOUR.red, ms: ledMs });
        this.link.send({ type: 'beep', pattern: BEEP_PATTERN.deny });
        break;
      case 'locked_out':
        this.link.send({ type: 'led', colour: LED_COLOUR.amber, ms: ledMs });
        this.link.send({ type: 'beep', pattern: BEEP_PATTERN.deny });
        break;
      case 'click':
        this.link.send({ type: 'beep', pattern: BEEP_PATTERN.keyClick });
        break;
      case 'alarm':
        this.link.send({ type: 'beep', pattern: BEEP_PATTERN.alarm });
        break;
      case 'alarm_off':
        break;
    }
  }

  stop(): Promise<void> {
    return this.link.stop();
  }
}

/** A relay channel on the bridge: the bridge times the pulse itself, so it ends even if the host dies. */
export class BridgeRelay implements Relay {
  constructor(
    private readonly link: BridgeLink,
    readonly channel: number,
  ) {}

  pulse(ms: number): void {
    this.link.send({ type: 'relay', channel: this.channel, ms: Math.min(ms, 0xffff) });
  }

  release(): void {
    this.link.send({ type: 'relay', channel: this.channel, ms: 0 });
  }

  close(): void {
    this.release();
  }
}

/** A door contact or exit button wired to a bridge input (INPUT frames; all levels are resent after HELLO). */
export class BridgeSensor implements DoorSensor {
  readonly name: string;
  private listener: ((active: boolean) => void) | undefined;

  constructor(
    link: BridgeLink,
    private readonly input: number,
    private readonly activeLow: boolean,
  ) {
    this.name = `bridge:${link.path}:input${input}`;
    link.onMessage((m) => {
      if (m.type === 'input' && m.input === this.input) this.listener?.((m.level === 1) !== this.activeLow);
    });
  }

  start(onChange: (active: boolean) => void): void {
    this.listener = onChange;
  }

  stop(): void {
    this.listener = undefined;
  }
}
