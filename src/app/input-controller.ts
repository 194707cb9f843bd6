/**
 * One input between its device and the access pipeline: keypad entry, lockout after repeated failures,
 * feedback to the person at the door, and the input's own events (read errors, lockouts, online/offline).
 */
import type { CredentialType, Decision } from '../core/decide.js';
import {
  EMPTY_KEYPAD,
  keypadDeadline,
  keypadStep,
  type KeypadConfig,
  type KeypadState,
} from '../core/keypad.js';
import {
  isLockedOut,
  OPEN_LOCKOUT,
  recordFailure,
  recordSuccess,
  type LockoutConfig,
  type LockoutState,
} from '../core/lockout.js';
import type { Clock, CredentialSource, InputHandler, Logger, Timer } from '../ports/io.js';
import type { Journal } from './journal.js';
import type { AccessPipeline } from './pipeline.js';

export interface InputStatus {
  readonly name: string;
  readonly door: string;
  readonly online: boolean;
  readonly lastSeenAt: number | null;
  readonly lockedOut: boolean;
  readonly readErrors: number;
}

export class InputController implements InputHandler {
  private keypad: KeypadState = EMPTY_KEYPAD;
  private keypadTimer: Timer | undefined;
  private lockout: LockoutState = OPEN_LOCKOUT;
  private isOnline = true;
  private lastSeenAt: number | null = null;
  private readErrors = 0;

  constructor(
    readonly source: CredentialSource,
    readonly door: string,
    private readonly pipeline: AccessPipeline,
    private readonly journal: Journal,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly keypadConfig: KeypadConfig,
    private readonly lockoutConfig: LockoutConfig,
  ) {}

  status(): InputStatus {
    return {
      name: this.source.name,
      door: this.door,
      online: this.isOnline,
      lastSeenAt: this.lastSeenAt,
      lockedOut: isLockedOut(this.lockout, this.clock.monotonic()),
      readErrors: this.readErrors,
    };
  }

  key(key: string): void {
    this.lastSeenAt = this.clock.now();
    this.stepKeypad({ kind: 'key', key, now: this.clock.monotonic() });
  }

  private stepKeypad(input: Parameters<typeof keypadStep>[1]): void {
    const step = keypadStep(this.keypad, input, this.keypadConfig);
    this.keypad = step.state;
    for (const e of step.effects) {
      if (e.kind === 'click') this.source.feedback('click');
      else if (e.kind === 'submit') this.credential('pin', e.pin);
      else if (e.kind === 'rejected') {
        // Longer than any PIN: a failed attempt like a wrong PIN (so it counts towards the lockout).
        this.log.info({ source: this.source.name, door: this.door }, 'keypad entry too long; rejected');
        this.fail();
        this.source.feedback('deny');
      }
    }
    this.keypadTimer?.cancel();
    this.keypadTimer = undefined;
    const deadline = keypadDeadline(this.keypad, this.keypadConfig);
    if (deadline !== null) {
      this.keypadTimer = this.clock.after(Math.max(0, deadline - this.clock.monotonic()), () => {
        this.keypadTimer = undefined;
        this.stepKeypad({ kind: 'tick', now: this.clock.monotonic() });
      });
    }
  }

  credential(type: CredentialType, value: string): Decision {
    this.lastSeenAt = this.clock.now();
    const presented = { type, value, door: this.door, source: this.source.name };
    if (isLockedOut(this.lockout, this.clock.monotonic())) {
      const decision = this.pipeline.deny(presented, 'locked_out');
      this.source.feedback('locked_out');
      return decision;
    }
    const decision = this.pipeline.handle(presented);
    if (decision.granted) {
      this.lockout = recordSuccess(this.lockout);
      this.source.feedback('accept');
    } else {
      // A database failure is not the person's fault: it does not count towards a lockout.
      if (decision.reason !== 'store_unavailable') this.fail();
      this.source.feedback('deny');
    }
    return decision;
  }

  private fail(): void {
    const r = recordFailure(this.lockout, this.clock.monotonic(), this.lockoutConfig);
    this.lockout = r.state;
    if (r.lockedForMs !== null) {
      this.log.warn(
        { source: this.source.name, door: this.door, lockedForMs: r.lockedForMs },
        'input locked out',
      );
      this.journal.append({
        type: 'input.locked_out',
        source: this.source.name,
        door: this.door,
        lockedForMs: r.lockedForMs,
        detail: `${this.lockoutConfig.maxFailures} failed attempts; locked for ${Math.round(r.lockedForMs / 1000)} s`,
      });
    }
  }

  readError(detail: string): void {
    this.lastSeenAt = this.clock.now();
    this.readErrors++;
    this.log.info({ source: this.source.name, door: this.door, detail }, 'read error');
    this.journal.append({ type: 'input.read_error', source: this.source.name, door: this.door, detail });
    this.source.feedback('deny');
  }

  online(online: boolean, detail?: string): void {
    if (online === this.isOnline) return;
    this.isOnline = online;
    if (online) this.lastSeenAt = this.clock.now();
    const fields = { source: this.source.name, door: this.door, detail };
    if (online) this.log.info(fields, 'input online');
    else this.log.warn(fields, 'input offline');
    this.journal.append({
      type: online ? 'input.online' : 'input.offline',
      source: this.source.name,
      door: this.door,
      ...(detail !== undefined && { detail }),
    });
  }

  stop(): Promise<void> {
    this.keypadTimer?.cancel();
    this.keypadTimer = undefined;
    return this.source.stop();
  }
}
