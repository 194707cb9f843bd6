/**
 * Who and when a cloud message is for (docs/mqtt.md, "Binding"; contract `doorpass/v1` minor 1), as pure
 * functions: the signature says the cloud wrote a payload, these say whether this device may act on it now.
 *
 * - `device` (snapshot parts, commands): a signed message for another device, copied to this device's topic,
 *   is refused ('wrong_device'), whatever `requireBinding` says.
 * - `issuedAt` (every message): a message issued more than `maxAgeMs` before the newest `issuedAt` this
 *   device already accepted is refused ('stale'): a rogue client replaying a months-old signed snapshot to a
 *   rebuilt panel cannot roll it back. Snapshot parts and commands must also be recent by the device's own
 *   clock when that clock is trusted (a snapshot answers a sync request, so it is fresh; a brand-new panel has
 *   nothing accepted yet to compare with). Deltas are not judged by the clock: a panel offline for days
 *   legitimately receives the deltas the broker queued meanwhile, in order.
 * - A message without the fields is refused ('missing_binding') when binding is required, accepted otherwise
 *   (a cloud still speaking minor 0).
 *
 * A cloud clock running ahead cannot freeze a device: with a trusted clock, an `issuedAt` counts as at most
 * `FUTURE_TOLERANCE_MS` after it, both when it is compared with and when it becomes the newest.
 */

export type BindingRefusal = 'wrong_device' | 'missing_binding' | 'stale';

/** The three kinds of cloud -> device message. */
export type BoundMessageKind = 'delta' | 'snapshot' | 'command';

export interface BindingContext {
  /** This device's id (`device.id`). */
  readonly device: string;
  /** `cloud.requireBinding`: refuse messages without the fields. */
  readonly requireBinding: boolean;
  /** `cloud.maxMessageAgeHours` in ms. */
  readonly maxAgeMs: number;
  /** The newest `issuedAt` accepted (epoch ms), or null when none. */
  readonly newest: number | null;
  /** The wall clock when it is trusted (epoch ms), or null while it is not. */
  readonly trustedNow: number | null;
}

export type BindingVerdict =
  | { readonly ok: true; readonly issuedAt: number | null }
  | { readonly ok: false; readonly reason: BindingRefusal; readonly detail: string };

/** How far ahead of a trusted clock an `issuedAt` is believed (cloud and device clocks differ a little). */
export const FUTURE_TOLERANCE_MS = 5 * 60_000;

/**
 * An accepted `issuedAt` raises the clock floor to this much before it: cloud and device clocks differ by
 * seconds, and a floor a few seconds ahead would flip a healthy clock to untrusted at every message. A clock
 * behind by more than this (hours, days: the clock that honours expired passes) becomes untrusted.
 */
export const CLOCK_EVIDENCE_SLACK_MS = 60_000;

const iso = (ms: number): string => new Date(ms).toISOString();
const hours = (ms: number): string => `${Math.round((ms / 3_600_000) * 100) / 100} h`;

/** The instant an `issuedAt` stands for, capped at a trusted clock plus the tolerance. */
export function believed(at: number, trustedNow: number | null): number {
  return trustedNow === null ? at : Math.min(at, trustedNow + FUTURE_TOLERANCE_MS);
}

/** Judges one schema-valid message. `issuedAt` is already known to be an ISO-8601 instant when present. */
export function judgeBinding(
  message: { readonly device?: string | undefined; readonly issuedAt?: string | undefined },
  kind: BoundMessageKind,
  ctx: BindingContext,
): BindingVerdict {
  if (kind !== 'delta') {
    if (message.device !== undefined && message.device !== ctx.device)
      return {
        ok: false,
        reason: 'wrong_device',
        detail: `the message is for device ${JSON.stringify(message.device)}, this is ${JSON.stringify(ctx.device)}`,
      };
    if (message.device === undefined && ctx.requireBinding)
      return {
        ok: false,
        reason: 'missing_binding',
        detail: 'no "device" (cloud.requireBinding is true)',
      };
  }
  if (message.issuedAt === undefined)
    return ctx.requireBinding
      ? { ok: false, reason: 'missing_binding', detail: 'no "issuedAt" (cloud.requireBinding is true)' }
      : { ok: true, issuedAt: null };
  const at = Date.parse(message.issuedAt);
  if (!Number.isFinite(at))
    return {
      ok: false,
      reason: 'missing_binding',
      detail: `"issuedAt" ${message.issuedAt} is not an instant`,
    };
  if (ctx.newest !== null) {
    const newest = believed(ctx.newest, ctx.trustedNow);
    if (at < newest - ctx.maxAgeMs)
      return {
        ok: false,
        reason: 'stale',
        detail: `issued ${iso(at)}, more than ${hours(ctx.maxAgeMs)} before ${iso(newest)}, the newest already accepted`,
      };
  }
  if (kind !== 'delta' && ctx.trustedNow !== null && at < ctx.trustedNow - ctx.maxAgeMs)
    return {
      ok: false,
      reason: 'stale',
      detail: `issued ${iso(at)}, more than ${hours(ctx.maxAgeMs)} before the trusted clock ${iso(ctx.trustedNow)}`,
    };
  return { ok: true, issuedAt: at };
}

/**
 * The newest `issuedAt` after accepting one issued at `at`: it only grows, except that a trusted clock caps an
 * absurd future value (one recorded while the clock was untrusted) back to that clock plus the tolerance.
 */
export function nextNewest(newest: number | null, at: number, trustedNow: number | null): number {
  const b = believed(at, trustedNow);
  return newest === null ? b : Math.max(believed(newest, trustedNow), b);
}
