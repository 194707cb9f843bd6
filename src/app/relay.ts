/**
 * A relay pulse over a plain output line: energise for the pulse; a second grant during a pulse extends it;
 * release on close. Time comes from the injected Clock so tests never sleep.
 */
import { performance } from 'node:perf_hooks';
import type { Clock, Relay, RelayLine, Timer } from '../ports/io.js';

export class RelayPulse implements Relay {
  private timer: Timer | undefined;
  private until = 0;

  constructor(
    private readonly line: RelayLine,
    private readonly clock: Clock,
  ) {
    // Fail-secure on start: whatever a previous run left, the relay starts released.
    this.line.set(false);
  }

  get energised(): boolean {
    return this.timer !== undefined;
  }

  pulse(ms: number): void {
    const until = this.clock.monotonic() + ms;
    if (this.timer !== undefined && until <= this.until) return; // already unlocked for longer
    if (this.timer === undefined) this.line.set(true);
    else this.timer.cancel();
    this.until = until;
    this.timer = this.clock.after(ms, () => {
      this.timer = undefined;
      this.line.set(false);
    });
  }

  release(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.line.set(false);
  }

  /** Releases the relay at once and frees the line (shutdown). */
  close(): void {
    this.release();
    this.line.close();
  }
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  after: (ms, fn) => {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
};
