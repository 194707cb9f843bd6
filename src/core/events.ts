/**
 * Events the door journals (and a later issue uploads). They never carry a credential value: the type of
 * credential, the pass and the reason say what happened without saying what was typed or shown.
 */
import type { CredentialType, DenyReason } from './decide.js';

export interface AccessEvent {
  /** Unique, sortable (ULID): the cloud dedupes by it. */
  readonly id: string;
  /** Epoch ms. */
  readonly at: number;
  readonly type: 'access.granted' | 'access.denied';
  readonly device: string;
  readonly door: string;
  readonly credentialType: CredentialType;
  readonly passId: string | null;
  readonly reason: DenyReason | null;
  readonly floors?: readonly number[];
  /** The input the credential came from (e.g. "console", "cli"). */
  readonly source?: string;
}

/** The JSON form of an event (what `events list --json` prints and the outbox keeps). */
export function eventToJson(e: AccessEvent): Record<string, unknown> {
  return {
    id: e.id,
    at: new Date(e.at).toISOString(),
    type: e.type,
    device: e.device,
    door: e.door,
    credentialType: e.credentialType,
    passId: e.passId,
    reason: e.reason,
    ...(e.floors !== undefined && { floors: e.floors }),
    ...(e.source !== undefined && { source: e.source }),
  };
}
