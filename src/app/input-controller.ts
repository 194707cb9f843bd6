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
  forgive,
  guessesLeft,
  isLockedOut,
  LOCKOUT_FACTORS,
  NO_TYPOS,
  OPEN_LOCKOUT,
  OPEN_LOCKOUTS,
  recordGuess,
  recordOutcome,
  refundGuess,
  TYPO_WINDOW_MS,
  typoStep,
  type TypoMemory,
  type FactorLockouts,
  type LockoutConfig,
  type LockoutFactor,
  type LockoutRule,
  type LockoutState,
} from '../core/lockout.js';
import type { Clock, CredentialSource, InputHandler, Logger, Timer } from '../ports/io.js';
import type { Journal } from './journal.js';
import type { AccessPipeline } from './pipeline.js';

/** One factor's lockout as the status shows it. */
export interface FactorLockoutStatus {
  readonly lockedOut: boolean;
  /** What is left of the lockout in force, in ms (0 when not locked). */
  readonly lockedForMs: number;
  /** Guesses left in the budget before the factor locks (each one forgiven after lockout.forgiveMs). */
  readonly guessesLeft: number;
}

export interface InputStatus {
  readonly name: string;
  readonly door: string;
  readonly online: boolean;
  readonly lastSeenAt: number | null;
  /** True when any factor of the input is locked out. */
  readonly lockedOut: boolean;
  /** Per factor: keypad PINs, cards and QR codes lock independently. */
  readonly lockouts: Readonly<Record<LockoutFactor, FactorLockoutStatus>>;
  readonly readErrors: number;
}

/** Where an input keeps its lockout across restarts (the journal database's meta table). */
export interface LockoutPersistence {
  load(key: string): string | undefined;
  save(key: string, value: string): void;
}

/**
 * One factor's lockout as saved: what is left of it, not monotonic instants (the monotonic clock restarts
 * with the process). Time spent while the daemon was down does not count: a restart (or a power cut) can
 * only make a lockout longer, and spent guesses are forgiven no sooner, never end or reset it.
 * v1 (before lockouts were per factor) was one state per input under `lockout.{source}.{door}`, with
 * `consecutive` for the guesses spent; restoreLockout() reads both.
 */
interface SavedLockout {
  readonly v: 2;
  readonly remainingMs: number;
  readonly level: number;
  readonly spent: number;
  /** How long the oldest spent guess has been waiting for its forgiveness. */
  readonly forgiveElapsedMs: number;
}

/** Reads a saved state (v1 or v2); throws on unreadable text, the caller logs it. */
export function restoreLockout(text: string | undefined, now: number, config: LockoutConfig): LockoutState {
  if (text === undefined) return OPEN_LOCKOUT;
  const saved = JSON.parse(text) as Partial<SavedLockout> & { consecutive?: unknown };
  if (typeof saved !== 'object' || saved === null || Array.isArray(saved)) return OPEN_LOCKOUT;
  const num = (x: unknown, max: number): number =>
    typeof x === 'number' && Number.isFinite(x) ? Math.min(Math.max(0, Math.floor(x)), max) : 0;
  const remainingMs = num(saved.remainingMs, config.maxLockMs);
  const level = num(saved.level, 64);
  // v1 called the spent guesses `consecutive` (reset by a grant then, kept now: the same count).
  const spent = num(saved.spent ?? saved.consecutive, config.maxConsecutive);
  const elapsed = num(saved.forgiveElapsedMs, Math.max(0, config.forgiveMs - 1));
  if (remainingMs === 0 && level === 0 && spent === 0) return OPEN_LOCKOUT;
  return {
    failures: [],
    lockedUntil: remainingMs > 0 ? now + remainingMs : 0,
    level,
    // The quiet gap that forgets the escalation counts from the restart.
    lastFailureAt: now,
    spent,
    forgiveFrom: spent > 0 ? now - elapsed : null,
  };
}

/** The stricter of two states: a migration or a merge must never shorten a lockout or forgive a guess. */
function stricter(a: LockoutState, b: LockoutState): LockoutState {
  if (a === OPEN_LOCKOUT) return b;
  if (b === OPEN_LOCKOUT) return a;
  const forgiveFrom =
    a.forgiveFrom === null
      ? b.forgiveFrom
      : b.forgiveFrom === null
        ? a.forgiveFrom
        : Math.max(a.forgiveFrom, b.forgiveFrom);
  return {
    failures: [],
    lockedUntil: Math.max(a.lockedUntil, b.lockedUntil),
    level: Math.max(a.level, b.level),
    lastFailureAt: Math.max(a.lastFailureAt ?? 0, b.lastFailureAt ?? 0),
    spent: Math.max(a.spent, b.spent),
    forgiveFrom,
  };
}

export class InputController implements InputHandler {
  private keypad: KeypadState = EMPTY_KEYPAD;
  private keypadTimer: Timer | undefined;
  private lockouts: FactorLockouts = OPEN_LOCKOUTS;
  /** Factors whose saved state still holds a lockout (saved again, as over, at their next entry). */
  private readonly savedLocked = new Set<LockoutFactor>();
  /** The last wrong PIN (in memory only, for TYPO_WINDOW_MS) and forgiven typos per pass. */
  private typos: TypoMemory = NO_TYPOS;
  private typoTimer: Timer | undefined;
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
      const now = clock.monotonic();
      // Before lockouts were per factor, one state per input was saved under the input's key: it still
      // applies, to every factor (a wrong PIN then locked the card reader too; an upgrade must not shorten
      // that lockout nor forgive the guesses behind it).
      let legacy: LockoutState = OPEN_LOCKOUT;
      let hadLegacy = false;
      try {
        const text = persistence.load(this.legacyKey);
        legacy = restoreLockout(text, now, lockoutConfig);
        hadLegacy = text !== undefined && legacy !== OPEN_LOCKOUT;
      } catch (err) {
        log.error({ err, source: source.name, door }, 'could not restore the lockout state');
      }
      const restored: Record<LockoutFactor, LockoutState> = { ...OPEN_LOCKOUTS };
      for (const factor of LOCKOUT_FACTORS) {
        let own: LockoutState = OPEN_LOCKOUT;
        try {
          own = restoreLockout(persistence.load(this.lockoutKey(factor)), now, lockoutConfig);
        } catch (err) {
          // Unreadable saved state: start at the first level rather than refuse to serve the door.
          log.error({ err, source: source.name, door, factor }, 'could not restore the lockout state');
        }
        restored[factor] = stricter(own, legacy);
        if (restored[factor].lockedUntil > 0) this.savedLocked.add(factor);
        if (isLockedOut(restored[factor], now))
          log.warn(
            { source: source.name, door, factor, lockedForMs: restored[factor].lockedUntil - now },
            'input still locked out from before the restart',
          );
      }
      this.lockouts = restored;
      if (hadLegacy) {
        // Migrate: each factor's key first, then neutralise the old key (a crash in between re-applies the
        // old state at the next start: longer, never shorter).
        for (const factor of LOCKOUT_FACTORS) this.saveLockout(factor);
        this.saveRaw(this.legacyKey, JSON.stringify({ v: 1, remainingMs: 0, level: 0, consecutive: 0 }));
      }
    }
  }

  /** The key of the state saved before lockouts were per factor (read, then neutralised, on upgrade). */
  private get legacyKey(): string {
    return `lockout.${this.source.name}.${this.door}`;
  }

  /**
   * `lockout.{source}.{door}/{factor}`: a door id may contain dots but never a slash, so no per-factor key
   * can equal an old per-input key (whose end, after its last slash if any, always holds `.{door}`).
   */
  private lockoutKey(factor: LockoutFactor): string {
    return `lockout.${this.source.name}.${this.door}/${factor}`;
  }

  private saveRaw(key: string, value: string): void {
    if (this.persistence === undefined) return;
    try {
      this.persistence.save(key, value);
    } catch (err) {
      this.log.error({ err, source: this.source.name, door: this.door }, 'could not save the lockout state');
    }
  }

  private saveLockout(factor: LockoutFactor): void {
    if (this.persistence === undefined) return;
    const now = this.clock.monotonic();
    const st = forgive(this.lockouts[factor], now, this.lockoutConfig);
    const saved: SavedLockout = {
      v: 2,
      remainingMs: Math.max(0, st.lockedUntil - now),
      level: st.level,
      spent: st.spent,
      forgiveElapsedMs: st.forgiveFrom === null ? 0 : now - st.forgiveFrom,
    };
    this.saveRaw(this.lockoutKey(factor), JSON.stringify(saved));
    if (saved.remainingMs > 0) this.savedLocked.add(factor);
    else this.savedLocked.delete(factor);
  }

  /**
   * A lockout that ended is saved as over at the factor's next entry: otherwise a crash long after it
   * would serve it again in full (longer is safe, but a restart should not re-lock a served lockout).
   */
  private noteServed(factor: LockoutFactor): void {
    if (this.savedLocked.has(factor) && !isLockedOut(this.lockouts[factor], this.clock.monotonic()))
      this.saveLockout(factor);
  }

  status(): InputStatus {
    const now = this.clock.monotonic();
    const lockouts = Object.fromEntries(
      LOCKOUT_FACTORS.map((f) => {
        const st = this.lockouts[f];
        return [
          f,
          {
            lockedOut: isLockedOut(st, now),
            lockedForMs: Math.max(0, st.lockedUntil - now),
            guessesLeft: guessesLeft(st, now, this.lockoutConfig),
          },
        ];
      }),
    ) as Record<LockoutFactor, FactorLockoutStatus>;
    return {
      name: this.source.name,
      door: this.door,
      online: this.isOnline,
      lastSeenAt: this.lastSeenAt,
      lockedOut: LOCKOUT_FACTORS.some((f) => lockouts[f].lockedOut),
      lockouts,
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
        // Longer than any PIN: a malformed entry is a guess like a wrong PIN (it counts towards the lockout).
        this.log.info({ source: this.source.name, door: this.door }, 'keypad entry too long; rejected');
        const locked = isLockedOut(this.lockouts.pin, this.clock.monotonic());
        this.malformed('pin');
        this.source.feedback(locked ? 'locked_out' : 'deny');
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
    this.noteServed(type);
    // Only this factor's lockout applies: five wrong PINs never keep a resident's card out.
    if (isLockedOut(this.lockouts[type], this.clock.monotonic())) {
      const decision = this.pipeline.deny(presented, 'locked_out');
      this.source.feedback('locked_out');
      return decision;
    }
    const decision = this.pipeline.handle(presented);
    // A grant changes nothing (it must not buy guesses: lockout.ts); only guesses count (countsAsGuess).
    const now = this.clock.monotonic();
    const r = recordOutcome(this.lockouts, type, decision, now, this.lockoutConfig);
    this.applyLockout(type, r.lockouts[type], r.lockedForMs, r.rule);
    if (type === 'pin') {
      // A typo corrected at once gives its budget guess back (lockout.ts, typoStep: bounded per pass).
      const t = typoStep(this.typos, decision, value, now, this.lockoutConfig);
      this.typos = t.memory;
      if (t.refund) this.applyLockout('pin', refundGuess(this.lockouts.pin), null, undefined);
      // The wrong PIN is kept no longer than it can serve (memory only; it is never saved or logged).
      this.typoTimer?.cancel();
      this.typoTimer =
        this.typos.last === null
          ? undefined
          : this.clock.after(TYPO_WINDOW_MS, () => {
              this.typoTimer = undefined;
              this.typos = { ...this.typos, last: null };
            });
    }
    this.source.feedback(decision.granted ? 'accept' : 'deny');
    return decision;
  }

  /** A malformed entry of `factor`: a guess (recorded on that factor only). */
  private malformed(factor: LockoutFactor): void {
    this.noteServed(factor);
    // A malformed entry is never a typo that a following grant could forgive.
    if (factor === 'pin') this.typos = { ...this.typos, last: null };
    const r = recordGuess(this.lockouts[factor], this.clock.monotonic(), this.lockoutConfig);
    this.applyLockout(factor, r.state, r.lockedForMs, r.rule);
  }

  /** Keeps one factor's new lockout state; saves, logs and journals what changed. */
  private applyLockout(
    factor: LockoutFactor,
    state: LockoutState,
    lockedForMs: number | null,
    rule: LockoutRule | undefined,
  ): void {
    if (state === this.lockouts[factor]) return;
    this.lockouts = { ...this.lockouts, [factor]: state };
    this.saveLockout(factor);
    if (lockedForMs !== null) {
      const { maxFailures, windowMs, maxConsecutive } = this.lockoutConfig;
      const why =
        rule === 'budget'
          ? `${maxConsecutive} guesses not yet forgiven`
          : `${maxFailures} guesses within ${Math.round(windowMs / 1000)} s`;
      this.log.warn(
        { source: this.source.name, door: this.door, factor, lockedForMs, rule },
        'input locked out',
      );
      this.journal.append({
        type: 'input.locked_out',
        source: this.source.name,
        door: this.door,
        factor,
        lockedForMs,
        detail: `${factor}: ${why}; locked for ${Math.round(lockedForMs / 1000)} s`,
      });
    }
  }

  /**
   * A read that produced no credential. With `factor` it was a garbled credential of that factor (a Wiegand
   * parity error, a non-numeric card token): a guess like a wrong card. Without it (a camera decoder error)
   * it counts toward nothing.
   */
  readError(detail: string, factor?: LockoutFactor): void {
    this.lastSeenAt = this.clock.now();
    this.readErrors++;
    this.log.info({ source: this.source.name, door: this.door, detail }, 'read error');
    this.journal.append({ type: 'input.read_error', source: this.source.name, door: this.door, detail });
    if (factor !== undefined) {
      const locked = isLockedOut(this.lockouts[factor], this.clock.monotonic());
      this.malformed(factor);
      this.source.feedback(locked ? 'locked_out' : 'deny');
    } else this.source.feedback('deny');
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
    // Save what is left of each lockout and budget (a crash keeps what was saved at the last guess: longer).
    for (const factor of LOCKOUT_FACTORS)
      if (this.lockouts[factor] !== OPEN_LOCKOUT) this.saveLockout(factor);
    this.keypadTimer?.cancel();
    this.keypadTimer = undefined;
    this.typoTimer?.cancel();
    this.typoTimer = undefined;
    this.typos = NO_TYPOS;
    return this.source.stop();
  }
}
