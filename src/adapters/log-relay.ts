/** A relay line that only logs (development, and the example config's simulated door). */
import type { Logger, RelayLine } from '../ports/io.js';

export class LogRelayLine implements RelayLine {
  private state: boolean | undefined;
  constructor(
    private readonly door: string,
    private readonly log: Logger,
  ) {}
  set(energised: boolean): void {
    if (energised === this.state) return;
    this.state = energised;
    this.log.info(
      { door: this.door, relay: energised ? 'energised' : 'released' },
      energised ? 'door unlocked' : 'door locked',
    );
  }
  close(): void {}
}
