/**
 * The access decision: a pure function of a pass (as stored), its use counts, its access group, the door and
 * the instant. One reason per denial, checked in a fixed order (docs/pass-format.md, "Decision rules").
 */
import { isNonExpiring, type UntrustedClock } from './clock-trust.js';
import { scheduleAdmits, type Schedule } from './schedule.js';
import type { Zone } from './zone.js';

export type CredentialType = 'pin' | 'qr' | 'card';
export const CREDENTIAL_TYPES: readonly CredentialType[] = ['pin', 'qr', 'card'];

export type DenyReason =
  | 'unknown_credential'
  | 'revoked'
  | 'not_yet_valid'
  | 'expired'
  | 'door_not_allowed'
  | 'outside_schedule'
  | 'device_use_limit'
  | 'use_limit'
  /** The wall clock is not trusted and the policy does not admit this pass without it (clock-trust.ts). */
  | 'clock_untrusted'
  /**
   * Not from decide(): the presented value can be no credential (a lone UTF-16 surrogate, an empty card
   * number; protocol/pass.ts credentialValueProblem). A guess like unknown_credential, never looked up.
   */
  | 'malformed_credential'
  /** Not from decide(): the input is locked out after repeated failures. */
  | 'locked_out'
  /** Not from decide(): the pipeline could not read or record (fail-secure). */
  | 'store_unavailable';

/** What decide() needs of a pass: the compiled, credential-free rule the store keeps beside the document. */
export interface PassRule {
  readonly id: string;
  readonly revoked: boolean;
  /** Epoch ms, inclusive. */
  readonly validFrom: number;
  /** Epoch ms, exclusive. */
  readonly validUntil: number;
  readonly doors: readonly string[] | '*';
  readonly floors?: readonly number[];
  /** The repeat window (daily / weekly); absent for repeat mode "never". */
  readonly repeat?: Schedule;
  readonly accessGroup?: string;
  readonly maxUses?: number;
  readonly maxUsesPerDevice?: number;
}

/** Use counts of one pass: this device's own, and the sum over every other device (a grow-only counter). */
export interface Usage {
  readonly own: number;
  readonly others: number;
}

export interface DecisionInput {
  /** The pass the credential belongs to, or undefined when no pass holds it. */
  readonly pass: PassRule | undefined;
  readonly usage: Usage;
  /**
   * The schedule of the pass's access group: undefined when the pass names none, null when it names a group
   * this device does not know (fail-secure: outside_schedule).
   */
  readonly group: Schedule | null | undefined;
  readonly door: string;
  readonly now: number;
  readonly zone: Zone;
  /**
   * Present only while the wall clock is untrusted: `now` is then not used. Under 'deny' every pass is denied
   * clock_untrusted; under 'allow-non-expiring' a pass that isNonExpiring() at the floor skips the time checks
   * (validity, repeat, access group) and any other is denied clock_untrusted.
   */
  readonly clock?: UntrustedClock;
}

export type Decision =
  | {
      readonly granted: true;
      readonly reason: null;
      readonly passId: string;
      readonly floors?: readonly number[];
    }
  | { readonly granted: false; readonly reason: DenyReason; readonly passId: string | null };

function deny(reason: DenyReason, passId: string | null): Decision {
  return { granted: false, reason, passId };
}

export function decide(input: DecisionInput): Decision {
  const { pass, usage, now } = input;
  if (pass === undefined) return deny('unknown_credential', null);
  const id = pass.id;
  if (pass.revoked) return deny('revoked', id);
  const clock = input.clock;
  if (clock !== undefined) {
    if (clock.policy === 'deny' || !isNonExpiring(pass, clock.floor, clock.nonExpiringMinMs))
      return deny('clock_untrusted', id);
  } else {
    if (now < pass.validFrom) return deny('not_yet_valid', id);
    if (now >= pass.validUntil) return deny('expired', id);
  }
  if (pass.doors !== '*' && !pass.doors.includes(input.door)) return deny('door_not_allowed', id);
  // Unreachable with an untrusted clock: a non-expiring pass has no repeat window and no access group.
  if (pass.repeat !== undefined && !scheduleAdmits(pass.repeat, input.zone, now))
    return deny('outside_schedule', id);
  if (pass.accessGroup !== undefined) {
    if (input.group == null || !scheduleAdmits(input.group, input.zone, now))
      return deny('outside_schedule', id);
  }
  if (pass.maxUsesPerDevice !== undefined && usage.own >= pass.maxUsesPerDevice)
    return deny('device_use_limit', id);
  if (pass.maxUses !== undefined && usage.own + usage.others >= pass.maxUses) return deny('use_limit', id);
  return pass.floors === undefined
    ? { granted: true, reason: null, passId: id }
    : { granted: true, reason: null, passId: id, floors: pass.floors };
}
