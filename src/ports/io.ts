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

export interface CredentialSource {
  readonly name: string;
  start(deliver: (credential: PresentedCredential) => void): void;
  stop(): Promise<void>;
}

/** A relay output: energise (door unlocked) or release. Drivers: log, gpio, bridge. */
export interface RelayDriver {
  set(energised: boolean): void;
  close(): void;
}

export interface Timer {
  cancel(): void;
}

export interface Clock {
  now(): number;
  after(ms: number, fn: () => void): Timer;
}

/** The subset of pino's interface the app uses, so tests can pass a recording logger. */
export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}
