/** The daemon's edges: where credentials come from, what opens the door, time, and the log. */
import type { CredentialType } from '../core/decide.js';

/** A credential as an input delivers it, before any decision. */
export interface PresentedCredential {
  readonly type: CredentialType;
  readonly value: string;
  readonly door: string;
  /** Input name, for the journal and the log. */
  readonly source: string;
}

/** What an input reports; the app turns it into decisions (keypad entry, lockout, feedback). */
export interface InputHandler {
  /** One keypad key: `0`-`9`, `*` or `#`. */
  key(key: string): void;
  /** A complete credential: a card number, QR text, or a PIN from an input that collects PINs itself. */
  credential(type: CredentialType, value: string): void;
  /**
   * A read that produced no credential (e.g. a Wiegand parity error). Never contains credential bits.
   * `factor`: the read was a garbled credential of that kind (it counts as a guess toward that factor's
   * lockout); omitted for device trouble that says nothing about what was presented.
   */
  readError(detail: string, factor?: CredentialType): void;
  /** The input's device came or went (a serial port unplugged, a HID reader re-plugged). */
  online(online: boolean, detail?: string): void;
}

/** Feedback an input can give the person in front of it (LED, beeper). */
export type FeedbackSignal = 'accept' | 'deny' | 'click' | 'locked_out' | 'alarm' | 'alarm_off';

export interface CredentialSource {
  /** Unique name, e.g. "console", "bridge:/dev/ttyACM0", "hid:keypad:1234:5678". */
  readonly name: string;
  start(handler: InputHandler): void;
  /** Gives feedback at the input; inputs without LED or beeper ignore it. Never throws. */
  feedback(signal: FeedbackSignal): void;
  stop(): Promise<void>;
}

/** A door relay (strike or maglock): pulse to unlock; release at once on shutdown. */
export interface Relay {
  pulse(ms: number): void;
  release(): void;
  close(): void;
}

/** A plain on/off output line (GPIO, or the log in development); RelayPulse times it. */
export interface RelayLine {
  set(energised: boolean): void;
  close(): void;
}

/** A door contact or exit button: reports its debounced level, true = active (door open / pressed). */
export interface DoorSensor {
  readonly name: string;
  start(onChange: (active: boolean) => void): void;
  stop(): void;
}

export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Wall-clock epoch ms (decisions, journal). */
  now(): number;
  /** Monotonic ms (lockouts, timeouts): never jumps when the wall clock is set. */
  monotonic(): number;
  after(ms: number, fn: () => void): Timer;
}

/** The subset of pino's interface the app uses, so tests can pass a recording logger. */
export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}
