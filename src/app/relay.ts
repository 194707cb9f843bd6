/**
 * A door's relay pulse: energise for pulseMs; a second grant during a pulse extends it; release on close.
 * Time comes from the injected Clock so tests never sleep.
 */
import type { Clock, RelayDriver, Timer } from '../ports/io.js';

export class RelayPulse {
  private timer: Timer | undefined;

  constructor(
    private readonly driver: RelayDriver,
    private readonly clock: Clock,
    readonly pulseMs: number,
  ) {
    // Fail-secure on start: whatever a previous run left, the relay starts released.
    this.driver.set(false);
  }

  get energised(): boolean {
    return this.timer !== undefined;
  }

  pulse(ms = this.pulseMs): void {
    if (this.timer === undefined) this.driver.set(true);
    else this.timer.cancel();
    this.timer = this.clock.after(ms, () => {
      this.timer = undefined;
      this.driver.set(false);
    });
  }

  /** Releases the relay at once and frees the driver (shutdown). */
  close(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.driver.set(false);
    this.driver.close();
  }
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  after: (ms, fn) => {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
};
