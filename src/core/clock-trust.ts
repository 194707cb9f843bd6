/**
 * Whether the wall clock can be trusted for time-bound decisions, as a pure state machine over observations
 * of (wall now, monotonic now), the NTP synchronisation status and a **floor**: an instant the real time is
 * known to be at or after (the newest wall time seen while trusted, persisted across restarts; the newest
 * journalled event; the build time). A Raspberry Pi without a real-time clock boots with a clock in the past
 * (1970, or the last time fake-hwclock saved), so until the clock is trusted, time-bound decisions follow
 * the configured policy instead (decide.ts).
 *
 * - NTP synchronised: trusted, and the floor follows the clock (down too: NTP corrects a floor a clock
 *   running ahead once left).
 * - Otherwise trusted when the wall clock is not earlier than the floor (less a small tolerance).
 * - No floor at all and no NTP: untrusted, 'no-time-source'.
 * - Wall earlier than the floor: untrusted, 'before-last-seen' ...
 * - ... or 'jumped-backwards' when, while running, the wall clock moved back relative to the monotonic clock
 *   by more than the tolerance: the floor is raised to where the wall clock should have been, so the clock
 *   is trusted again only once it catches up with that (or NTP synchronises).
 *
 * A forward jump is not trouble (an NTP step after boot looks like that); the floor simply follows it.
 */

export type ClockUntrustedReason = 'no-time-source' | 'before-last-seen' | 'jumped-backwards';

/** What time-bound decisions do while the clock is untrusted (config `clock.untrustedPolicy`). */
export type UntrustedClockPolicy = 'deny' | 'allow-non-expiring';

export interface ClockTrustConfig {
  /** Backwards movement (and distance below the floor) tolerated without distrust, in ms. */
  readonly toleranceMs: number;
}

export const DEFAULT_CLOCK_TRUST: ClockTrustConfig = { toleranceMs: 2000 };

export interface ClockTrustState {
  readonly trusted: boolean;
  /** Why not, when untrusted; null when trusted. */
  readonly reason: ClockUntrustedReason | null;
  /** Epoch ms the real time is known to be at or after; null when nothing is known. */
  readonly floor: number | null;
  /** The last NTP report: true / false, or null when no time-sync service could be asked. */
  readonly ntpSynchronized: boolean | null;
  /** The last observation, to see the wall clock move relative to the monotonic one. */
  readonly anchor: { readonly wall: number; readonly mono: number } | null;
  /** A backwards jump was seen and the clock has not caught up (nor NTP synchronised) since. */
  readonly jumped: boolean;
}

export const INITIAL_CLOCK_TRUST: ClockTrustState = {
  trusted: false,
  reason: 'no-time-source',
  floor: null,
  ntpSynchronized: null,
  anchor: null,
  jumped: false,
};

export type ClockTrustInput =
  /** Read both clocks (at every decision, on a timer, for status). */
  | { readonly kind: 'observe'; readonly wall: number; readonly mono: number }
  /** Trusted evidence of the time (persisted mark, journal, build time, ...): raises the floor, never lowers it. */
  | { readonly kind: 'evidence'; readonly at: number }
  /** The time-sync service's report (null: could not be asked). Takes effect at the next observation. */
  | { readonly kind: 'ntp'; readonly synchronized: boolean | null };

function evaluate(
  state: ClockTrustState,
  wall: number,
  mono: number,
  config: ClockTrustConfig,
): ClockTrustState {
  const anchor = { wall, mono };
  if (state.ntpSynchronized === true)
    return { ...state, trusted: true, reason: null, floor: wall, anchor, jumped: false };
  let floor = state.floor;
  let jumped = state.jumped;
  if (state.anchor !== null) {
    const expected = state.anchor.wall + (mono - state.anchor.mono);
    if (wall < expected - config.toleranceMs) {
      jumped = true;
      // Only a trusted clock's reading says where the time really is.
      if (state.trusted) floor = Math.max(floor ?? expected, expected);
    }
  }
  if (floor === null)
    return { ...state, trusted: false, reason: 'no-time-source', floor, anchor, jumped: false };
  if (wall < floor - config.toleranceMs) {
    return {
      ...state,
      trusted: false,
      reason: jumped ? 'jumped-backwards' : 'before-last-seen',
      floor,
      anchor,
      jumped,
    };
  }
  return { ...state, trusted: true, reason: null, floor: Math.max(floor, wall), anchor, jumped: false };
}

export function clockTrustStep(
  state: ClockTrustState,
  input: ClockTrustInput,
  config: ClockTrustConfig = DEFAULT_CLOCK_TRUST,
): ClockTrustState {
  switch (input.kind) {
    case 'observe':
      return evaluate(state, input.wall, input.mono, config);
    case 'evidence':
      return Number.isFinite(input.at) && (state.floor === null || input.at > state.floor)
        ? { ...state, floor: input.at }
        : state;
    case 'ntp':
      return input.synchronized === state.ntpSynchronized
        ? state
        : { ...state, ntpSynchronized: input.synchronized };
  }
}

/** What decide() is told while the clock is untrusted (absent while it is trusted). */
export interface UntrustedClock {
  readonly policy: UntrustedClockPolicy;
  /** The trusted floor (epoch ms), or null when none is known. */
  readonly floor: number | null;
  /** `clock.nonExpiringMinDays` in ms. */
  readonly nonExpiringMinMs: number;
}

/**
 * A pass that "does not expire" for the untrusted-clock policy: one whose answer cannot depend on the
 * missing time. No repeat window and no access group (both need the time of day), already valid at the
 * floor, and valid for at least `nonExpiringMinMs` beyond it — a long-term resident or staff key that cannot
 * plausibly have expired while the clock was lost. Without a floor no pass qualifies.
 */
export function isNonExpiring(
  pass: {
    readonly validFrom: number;
    readonly validUntil: number;
    readonly repeat?: unknown;
    readonly accessGroup?: string;
  },
  floor: number | null,
  nonExpiringMinMs: number,
): boolean {
  return (
    floor !== null &&
    pass.repeat === undefined &&
    pass.accessGroup === undefined &&
    pass.validFrom <= floor &&
    pass.validUntil - floor >= nonExpiringMinMs
  );
}
