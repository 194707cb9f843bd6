/**
 * Runs the clock-trust machine (core/clock-trust.ts) for the daemon: gathers the floor's evidence at start
 * (the persisted high-water mark, the newest journalled event, the build time), asks the time-sync service
 * every 30 s, observes both clocks at every decision, persists the floor (at most every minute, at once when
 * the clock becomes trusted, and at shutdown), journals `device.clock_untrusted` / `device.clock_trusted`,
 * and tells decide() the policy while the clock is untrusted.
 */
import {
  clockTrustStep,
  DEFAULT_CLOCK_TRUST,
  INITIAL_CLOCK_TRUST,
  type ClockTrustInput,
  type ClockTrustState,
  type ClockUntrustedReason,
  type UntrustedClock,
  type UntrustedClockPolicy,
} from '../core/clock-trust.js';
import type { Clock, Logger, Timer } from '../ports/io.js';
import type { PassStore } from '../ports/store.js';
import type { Journal } from './journal.js';

/** The persisted high-water mark of trusted wall time (epoch ms, decimal). */
export const CLOCK_FLOOR_KEY = 'clock.floor';

/** Whether the system clock is NTP-synchronised: true / false, or null when it cannot tell. Never rejects. */
export interface NtpStatusSource {
  check(): Promise<boolean | null>;
}

export interface ClockGuardOptions {
  readonly policy: UntrustedClockPolicy;
  readonly nonExpiringMinDays: number;
  /** Weak evidence: when this code was built or installed (null or absent: unknown). */
  readonly buildTime?: number | null;
  readonly ntp?: NtpStatusSource;
  readonly ntpCheckMs?: number;
  readonly markIntervalMs?: number;
  readonly toleranceMs?: number;
}

export interface ClockStatus {
  readonly trusted: boolean;
  readonly reason: ClockUntrustedReason | null;
  /** The trusted floor (UTC, ISO-8601), or null when none is known. */
  readonly floor: string | null;
  readonly ntpSynchronized: boolean | null;
  readonly policy: UntrustedClockPolicy;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function describeUntrusted(state: ClockTrustState, wall: number): string {
  switch (state.reason) {
    case 'jumped-backwards':
      return `jumped-backwards: the wall clock moved back to ${iso(wall)}; trusted again at ${iso(state.floor)} or on NTP synchronisation`;
    case 'before-last-seen':
      return `before-last-seen: the wall clock ${iso(wall)} is before ${iso(state.floor)}, a time already seen`;
    default:
      return 'no-time-source: NTP is not synchronised and no earlier time is known';
  }
}

export class ClockGuard {
  private state: ClockTrustState = INITIAL_CLOCK_TRUST;
  /** The trust last announced (journalled / logged); null before start. */
  private announced: { trusted: boolean; reason: ClockUntrustedReason | null } | null = null;
  private savedFloor: number | null = null;
  private ntpTimer: Timer | undefined;
  private markTimer: Timer | undefined;
  private stopped = false;
  private readonly config;

  constructor(
    private readonly store: PassStore,
    private readonly journal: Journal,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly options: ClockGuardOptions,
  ) {
    this.config = { toleranceMs: options.toleranceMs ?? DEFAULT_CLOCK_TRUST.toleranceMs };
  }

  /** Gathers the evidence, decides, and starts the periodic NTP check and mark. */
  start(): void {
    const saved = Number(this.store.getMeta(CLOCK_FLOOR_KEY) ?? 'NaN');
    if (Number.isFinite(saved) && saved > 0) {
      this.savedFloor = saved;
      this.step({ kind: 'evidence', at: saved });
      // Events are evidence only if the clock was trusted once: an event journalled while there was no
      // floor at all carries an untrusted time (any later untrusted event is below the mark anyway).
      const newest = this.store.listEvents(1)[0]?.at;
      if (newest !== undefined) this.step({ kind: 'evidence', at: newest });
    }
    if (this.options.buildTime != null) this.step({ kind: 'evidence', at: this.options.buildTime });
    this.observe();
    this.checkNtp();
    this.scheduleMark();
  }

  /** What decide() needs: undefined while the clock is trusted. Observes both clocks. */
  untrusted(): UntrustedClock | undefined {
    this.observe();
    return this.state.trusted
      ? undefined
      : {
          policy: this.options.policy,
          floor: this.state.floor,
          nonExpiringMinMs: this.options.nonExpiringMinDays * 86_400_000,
        };
  }

  /**
   * Trusted evidence from outside: a verified cloud message's `issuedAt` proves the real time is at least that
   * (issue 7 left this open). Raises the floor (never lowers it), re-judges the clock at once — a clock behind
   * the evidence becomes untrusted ('before-last-seen') before the message acts — and persists the floor.
   * While NTP is synchronised the clock itself stays the reference (the floor follows it).
   */
  raiseFloor(at: number): void {
    if (this.stopped) return;
    this.step({ kind: 'evidence', at });
    this.observe();
    this.saveFloor();
  }

  status(): ClockStatus {
    this.observe();
    return {
      trusted: this.state.trusted,
      reason: this.state.reason,
      floor: iso(this.state.floor),
      ntpSynchronized: this.state.ntpSynchronized,
      policy: this.options.policy,
    };
  }

  /** Persists the floor and stops the timers. Idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.observe();
    this.stopped = true;
    this.ntpTimer?.cancel();
    this.markTimer?.cancel();
    this.saveFloor();
  }

  private step(input: ClockTrustInput): void {
    this.state = clockTrustStep(this.state, input, this.config);
  }

  private observe(): void {
    if (this.stopped) return;
    const wall = this.clock.now();
    this.step({ kind: 'observe', wall, mono: this.clock.monotonic() });
    const { trusted, reason } = this.state;
    const last = this.announced;
    if (last !== null && last.trusted === trusted && last.reason === reason) return;
    this.announced = { trusted, reason };
    if (trusted) {
      // A floor worth keeping: write it now rather than up to a minute later.
      this.saveFloor();
      const detail =
        this.state.ntpSynchronized === true ? 'NTP synchronised' : `not before ${iso(this.state.floor)}`;
      if (last === null) {
        this.log.info({ floor: iso(this.state.floor), detail }, 'clock trusted');
        return;
      }
      this.log.info({ floor: iso(this.state.floor), detail }, 'clock trusted again');
      this.journal.append({ type: 'device.clock_trusted', detail });
    } else {
      const detail = describeUntrusted(this.state, wall);
      this.log.warn(
        { reason, floor: iso(this.state.floor), policy: this.options.policy, detail },
        'clock untrusted: time-bound passes follow clock.untrustedPolicy',
      );
      this.journal.append({ type: 'device.clock_untrusted', detail });
    }
  }

  private checkNtp(): void {
    if (this.stopped) return;
    const ntp = this.options.ntp;
    if (ntp !== undefined) {
      ntp.check().then(
        (synchronized) => {
          if (this.stopped) return;
          this.step({ kind: 'ntp', synchronized });
          this.observe();
        },
        () => undefined, // a source that rejects anyway is "no news"
      );
    }
    this.ntpTimer = this.clock.after(this.options.ntpCheckMs ?? 30_000, () => this.checkNtp());
  }

  private scheduleMark(): void {
    this.markTimer = this.clock.after(this.options.markIntervalMs ?? 60_000, () => {
      this.observe();
      this.saveFloor();
      if (!this.stopped) this.scheduleMark();
    });
  }

  private saveFloor(): void {
    const floor = this.state.floor;
    if (floor === null || floor === this.savedFloor) return;
    try {
      this.store.setMeta(CLOCK_FLOOR_KEY, String(floor));
      this.savedFloor = floor;
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not record the clock floor');
    }
  }
}
