/**
 * The access pipeline: the only orchestrator. Inputs hand it credentials; it decides (committing the use and
 * the event), then carries out the effects: the door's relay pulses, one log line per decision.
 * A failure to decide (e.g. the database is unavailable) denies: fail-secure.
 */
import type { Decision, DenyReason } from '../core/decide.js';
import type { Clock, Logger, PresentedCredential } from '../ports/io.js';
import type { AccessControl } from './access.js';
import type { DoorController } from './door-controller.js';

/** How a credential shows up in logs: its type and length, never its value. */
export function redact(type: string, value: string): string {
  return `${type}(${value.length} chars)`;
}

export interface RecentDecision {
  readonly at: number;
  readonly door: string;
  readonly source: string;
  readonly credentialType: string;
  readonly granted: boolean;
  readonly reason: string | null;
  readonly passId: string | null;
}

export class AccessPipeline {
  private decisions = 0;
  private readonly recentDecisions: RecentDecision[] = [];

  constructor(
    private readonly access: AccessControl,
    private readonly doors: ReadonlyMap<string, DoorController>,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  get decisionCount(): number {
    return this.decisions;
  }

  /** The last 10 decisions, newest last (for status). */
  get recent(): readonly RecentDecision[] {
    return this.recentDecisions;
  }

  handle(credential: PresentedCredential): Decision {
    const now = this.clock.now();
    let decision: Decision;
    try {
      decision = this.access.attempt({ ...credential, now }).decision;
    } catch (err) {
      this.log.error(
        {
          err,
          door: credential.door,
          source: credential.source,
          credential: redact(credential.type, credential.value),
        },
        'access decision failed; denying',
      );
      decision = { granted: false, reason: 'store_unavailable', passId: null };
    }
    this.note(credential, decision, now);
    // The use and the event are committed: only now is the door told to open.
    if (decision.granted) this.doors.get(credential.door)?.grant();
    return decision;
  }

  /** A denial decided before any lookup (locked_out); journalled like any other decision. */
  deny(credential: PresentedCredential, reason: DenyReason): Decision {
    const now = this.clock.now();
    let decision: Decision = { granted: false, reason, passId: null };
    try {
      decision = this.access.recordDenial({ ...credential, now }, reason).decision;
    } catch (err) {
      this.log.error({ err, door: credential.door, source: credential.source }, 'could not journal denial');
    }
    this.note(credential, decision, now);
    return decision;
  }

  /** Called after every decision journalled (the uploader wakes on it). */
  onDecision: (() => void) | undefined;

  private note(credential: PresentedCredential, decision: Decision, now: number): void {
    this.decisions++;
    this.onDecision?.();
    const entry: RecentDecision = {
      at: now,
      door: credential.door,
      source: credential.source,
      credentialType: credential.type,
      granted: decision.granted,
      reason: decision.reason,
      passId: decision.passId,
    };
    this.recentDecisions.push(entry);
    if (this.recentDecisions.length > 10) this.recentDecisions.shift();
    const { at: _at, ...fields } = entry;
    this.log.info(fields, decision.granted ? 'access granted' : 'access denied');
  }
}
