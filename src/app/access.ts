/**
 * The access pipeline's core step: credential -> decision -> (use count + event) in one transaction.
 * The relay is told to open only after this returns a committed grant.
 */
import type { UntrustedClock } from '../core/clock-trust.js';
import { decide, type CredentialType, type Decision, type DenyReason } from '../core/decide.js';
import type { AccessEvent } from '../core/events.js';
import type { Zone } from '../core/zone.js';
import { credentialValueProblem, normalizeCredential } from '../protocol/pass.js';
import type { CredentialHasher, CredentialMatch, PassStore } from '../ports/store.js';
import { UlidFactory } from './ids.js';
import type { StorageGuard } from './storage.js';

export interface AccessAttempt {
  readonly type: CredentialType;
  readonly value: string;
  readonly door: string;
  /** Epoch ms of the attempt. */
  readonly now: number;
  /** Input name for the journal (e.g. "console", "cli"). */
  readonly source?: string;
}

export interface AccessOutcome {
  readonly decision: Decision;
  /** The journalled event, or undefined on a dry run. */
  readonly event: AccessEvent | undefined;
}

export class AccessControl {
  constructor(
    private readonly store: PassStore,
    private readonly hasher: CredentialHasher,
    private readonly zone: Zone,
    private readonly deviceId: string,
    /** Shared with the Journal so every event id from this process sorts in order. */
    private readonly ids: UlidFactory = new UlidFactory(),
  ) {}

  /**
   * The daemon's clock guard: returns the untrusted-clock policy while the wall clock is untrusted, undefined
   * while it is trusted. Unset (one-shot commands): the clock is taken as trusted.
   */
  clockTrust: (() => UntrustedClock | undefined) | undefined;

  /** Decides without counting a use or writing an event (`check --dry-run`). */
  evaluate(attempt: AccessAttempt): Decision {
    return this.decideNow(attempt);
  }

  private decideNow(attempt: AccessAttempt): Decision {
    return this.lookup(attempt).decision;
  }

  /** The decision, and the cache row it was made from (the storage guard's policy looks at its limits). */
  private lookup(attempt: AccessAttempt): { decision: Decision; match: CredentialMatch | undefined } {
    // Refused before hashing: such a value could only match by a hash collision (U+FFFD, card 0).
    if (credentialValueProblem(attempt.type, attempt.value) !== undefined)
      return { decision: { granted: false, reason: 'malformed_credential', passId: null }, match: undefined };
    const hash = this.hasher.hash(attempt.type, normalizeCredential(attempt.type, attempt.value));
    const match = this.store.findCredential(hash, this.deviceId);
    // Uses granted while the journal could not be written are held by the guard until they are.
    const held = match === undefined ? 0 : (this.storage?.heldUses(match.rule.id) ?? 0);
    const decision = decide({
      pass: match?.rule,
      usage:
        match === undefined
          ? { own: 0, others: 0 }
          : { own: match.usage.own + held, others: match.usage.others },
      group: match?.group,
      door: attempt.door,
      now: attempt.now,
      zone: this.zone,
      clock: this.clockTrust?.(),
    });
    return { decision, match };
  }

  /**
   * The daemon's storage guard (app/storage.ts): while the journal cannot be written, attempts are decided
   * from the cache under storage.writeFailurePolicy and their events buffered. Unset (one-shot commands): a
   * write failure throws.
   */
  storage: StorageGuard | undefined;

  /** Decides, and for a grant counts one use on this device, journalling the event in the same transaction. */
  attempt(attempt: AccessAttempt): AccessOutcome {
    const guard = this.storage;
    if (guard !== undefined && !guard.ready()) return this.degraded(attempt, guard);
    try {
      return this.store.atomically(() => {
        const decision = this.decideNow(attempt);
        if (decision.granted) this.store.countUse(decision.passId, this.deviceId);
        const event = this.eventFor(attempt, decision);
        this.store.appendEvent(event);
        return { decision, event };
        // Writes only the journal: it must never wait for a writer of the cache (a snapshot, an import).
      }, 'journal');
    } catch (err) {
      if (guard === undefined || !guard.failed(err)) throw err;
      return this.degraded(attempt, guard);
    }
  }

  private degraded(attempt: AccessAttempt, guard: StorageGuard): AccessOutcome {
    const { decision, match } = this.lookup(attempt);
    const limited = match?.rule.maxUses !== undefined || match?.rule.maxUsesPerDevice !== undefined;
    return guard.decideDegraded(decision, limited, (d) => this.eventFor(attempt, d));
  }

  /** Journals a denial decided before any lookup (e.g. locked_out); the credential is not looked at. */
  recordDenial(attempt: AccessAttempt, reason: DenyReason): AccessOutcome {
    const decision: Decision = { granted: false, reason, passId: null };
    const event = this.eventFor(attempt, decision);
    if (this.storage !== undefined) this.storage.append(event);
    else this.store.appendEvent(event);
    return { decision, event };
  }

  private eventFor(attempt: AccessAttempt, decision: Decision): AccessEvent {
    return {
      id: this.ids.next(attempt.now),
      at: attempt.now,
      type: decision.granted ? 'access.granted' : 'access.denied',
      device: this.deviceId,
      door: attempt.door,
      credentialType: attempt.type,
      passId: decision.passId,
      reason: decision.reason,
      ...(decision.granted && decision.floors !== undefined && { floors: decision.floors }),
      ...(attempt.source !== undefined && { source: attempt.source }),
    };
  }
}
