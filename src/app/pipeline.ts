/**
 * The access pipeline: the only orchestrator. Inputs hand it credentials; it decides (committing the use and
 * the event), then carries out the effects: pulse the door's relay, log one line per decision.
 * A failure to decide (e.g. the database is unavailable) denies: fail-secure.
 */
import type { Decision } from '../core/decide.js';
import type { Clock, Logger, PresentedCredential } from '../ports/io.js';
import type { AccessControl } from './access.js';
import type { RelayPulse } from './relay.js';

/** How a credential shows up in logs: its type and length, never its value. */
export function redact(type: string, value: string): string {
  return `${type}(${value.length} chars)`;
}

export class AccessPipeline {
  private decisions = 0;

  constructor(
    private readonly access: AccessControl,
    private readonly relays: ReadonlyMap<string, RelayPulse>,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  get decisionCount(): number {
    return this.decisions;
  }

  handle(credential: PresentedCredential): Decision {
    const now = this.clock.now();
    let decision: Decision;
    try {
      decision = this.access.attempt({ ...credential, now }).decision;
    } catch (e) {
      this.log.error(
        {
          err: e,
          door: credential.door,
          source: credential.source,
          credential: redact(credential.type, credential.value),
        },
        'access decision failed; denying',
      );
      return { granted: false, reason: 'store_unavailable', passId: null };
    }
    this.decisions++;
    this.log.info(
      {
        door: credential.door,
        source: credential.source,
        credentialType: credential.type,
        granted: decision.granted,
        reason: decision.reason,
        passId: decision.passId,
      },
      decision.granted ? 'access granted' : 'access denied',
    );
    if (decision.granted) this.relays.get(credential.door)?.pulse();
    return decision;
  }
}
