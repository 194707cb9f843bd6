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

/** Where an input keeps its lockout across restarts (the journal database's meta table). */
export interface LockoutPersistence {
  load(key: string): string | undefined;
  save(key: string, value: string): void;
}

/**
 * The lockout as saved: what is left of it, not monotonic instants (the monotonic clock restarts with the
 * process). Time spent while the daemon was down does not count: a restart (or a power cut) can only make a
 * lockout longer, never end or reset it.
 */
interface SavedLockout {
  readonly v: 1;
  readonly remainingMs: number;
  readonly level: number;
  readonly consecutive: number;
}

function restoreLockout(text: string | undefined, now: number, config: LockoutConfig): LockoutState {
  if (text === undefined) return OPEN_LOCKOUT;
  const saved = JSON.parse(text) as Partial<SavedLockout>;
  const num = (x: unknown, max: number): number =>
    typeof x === 'number' && Number.isFinite(x) ? Math.min(Math.max(0, Math.floor(x)), max) : 0;
  const remainingMs = num(saved.remainingMs, config.maxLockMs);
  const level = num(saved.level, 64);
  const consecutive = num(saved.consecutive, config.maxConsecutive);
  if (remainingMs === 0 && level === 0 && consecutive === 0) return OPEN_LOCKOUT;
  return {
    failures: [],
    lockedUntil: remainingMs > 0 ? now + remainingMs : 0,
    level,
    // The quiet gap that forgives the escalation level counts from the restart.
    lastFailureAt: now,
    consecutive,
  };
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
    private readonly persistence?: LockoutPersistence,
  ) {
    if (persistence !== undefined) {
      try {
        this.lockout = restoreLockout(persistence.load(this.lockoutKey), clock.monotonic(), lockoutConfig);
        if (isLockedOut(this.lockout, clock.monotonic()))
          log.warn(
            { source: source.name, door, lockedForMs: this.lockout.lockedUntil - clock.monotonic() },
            'input still locked out from before the restart',
          );
      } catch (err) {
        // Unreadable saved state: start at the first level rather than refuse to serve the door.
        log.error({ err, source: source.name, door }, 'could not restore the lockout state');
      }
    }
  }

  private get lockoutKey(): string {
    return `lockout.${this.source.name}.${this.door}`;
  }

  private saveLockout(): void {
    if (this.persistence === undefined) return;
    const now = this.clock.monotonic();
    const saved: SavedLockout = {
      v: 1,
      remainingMs: Math.max(0, this.lockout.lockedUntil - now),
      level: this.lockout.level,
      consecutive: this.lockout.consecutive,
    };
    try {
      this.persistence.save(this.lockoutKey, JSON.stringify(saved));
    } catch (err) {
      this.log.error({ err, source: this.source.name, door: this.door }, 'could not save the lockout state');
    }
  }

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
      const before = this.lockout;
      this.lockout = recordSuccess(this.lockout);
      if (this.lockout !== before) this.saveLockout();
      this.source.feedback('accept');
    } else {
      // A database failure or an untrusted clock is not the person's fault: neither counts towards a lockout
      // (clock_untrusted is only ever given for a credential that matched a pass).
      if (decision.reason !== 'store_unavailable' && decision.reason !== 'clock_untrusted') this.fail();
      this.source.feedback('deny');
    }
    return decision;
  }

  private fail(): void {
    const r = recordFailure(this.lockout, this.clock.monotonic(), this.lockoutConfig);
    this.lockout = r.state;
    this.saveLockout();
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
    // Save what is left of a lockout in force (a crash keeps the one saved when it started: longer).
    if (isLockedOut(this.lockout, this.clock.monotonic())) this.saveLockout();
    this.keypadTimer?.cancel();
    this.keypadTimer = undefined;
    return this.source.stop();
  }
}
