/**
 * The access pipeline's core step: credential -> decision -> (use count + event) in one transaction.
 * The relay is told to open only after this returns a committed grant.
 */
import { decide, type CredentialType, type Decision, type DenyReason } from '../core/decide.js';
import type { AccessEvent } from '../core/events.js';
import type { Zone } from '../core/zone.js';
import { normalizeCredential } from '../protocol/pass.js';
import type { CredentialHasher, PassStore } from '../ports/store.js';
import { UlidFactory } from './ids.js';

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

  /** Decides without counting a use or writing an event (`check --dry-run`). */
  evaluate(attempt: AccessAttempt): Decision {
    return this.decideNow(attempt);
  }

  private decideNow(attempt: AccessAttempt): Decision {
    const hash = this.hasher.hash(attempt.type, normalizeCredential(attempt.type, attempt.value));
    const match = this.store.findCredential(hash, this.deviceId);
    return decide({
      pass: match?.rule,
      usage: match?.usage ?? { own: 0, others: 0 },
      group: match?.group,
      door: attempt.door,
      now: attempt.now,
      zone: this.zone,
    });
  }

  /** Decides, and for a grant counts one use on this device, journalling the event in the same transaction. */
  attempt(attempt: AccessAttempt): AccessOutcome {
    return this.store.atomically(() => {
      const decision = this.decideNow(attempt);
      if (decision.granted) this.store.countUse(decision.passId, this.deviceId);
      const event = this.eventFor(attempt, decision);
      this.store.appendEvent(event);
      return { decision, event };
    });
  }

  /** Journals a denial decided before any lookup (e.g. locked_out); the credential is not looked at. */
  recordDenial(attempt: AccessAttempt, reason: DenyReason): AccessOutcome {
    const decision: Decision = { granted: false, reason, passId: null };
    const event = this.eventFor(attempt, decision);
    this.store.appendEvent(event);
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
