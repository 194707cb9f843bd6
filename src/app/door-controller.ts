/**
 * Runs one door's state machine: executes its effects (relay pulses, events, alarm) and its wake-ups.
 */
import { doorStep, INITIAL_DOOR, type DoorInput, type DoorState, type DoorTiming } from '../core/door.js';
import type { Clock, Logger, Relay, Timer } from '../ports/io.js';
import type { Journal } from './journal.js';

export class DoorController {
  private state: DoorState = INITIAL_DOOR;
  private wake: Timer | undefined;
  private alarmListeners: ((on: boolean) => void)[] = [];

  constructor(
    readonly id: string,
    private readonly relay: Relay,
    readonly timing: DoorTiming,
    private readonly clock: Clock,
    private readonly journal: Journal,
    private readonly log: Logger,
  ) {}

  get snapshot(): DoorState {
    return this.state;
  }

  /** Called with the alarm state when it changes (inputs sound it: bridge beeper). */
  onAlarm(listener: (on: boolean) => void): void {
    this.alarmListeners.push(listener);
  }

  grant(): void {
    this.run({ kind: 'grant', now: this.clock.monotonic() });
  }

  /** A remote unlock from the cloud: pulses like a grant and journals door.remote_unlock. */
  remoteUnlock(): void {
    this.journal.append({ type: 'door.remote_unlock', door: this.id });
    this.run({ kind: 'grant', now: this.clock.monotonic() });
  }

  exit(): void {
    this.run({ kind: 'exit', now: this.clock.monotonic() });
  }

  contact(open: boolean): void {
    this.run({ kind: 'contact', open, now: this.clock.monotonic() });
  }

  private run(input: DoorInput): void {
    const step = doorStep(this.state, input, this.timing);
    this.state = step.state;
    for (const effect of step.effects) {
      switch (effect.kind) {
        case 'pulse':
          this.relay.pulse(effect.ms);
          break;
        case 'event':
          this.journal.append({
            type: effect.type,
            door: this.id,
            ...(effect.openMs !== undefined && { openMs: Math.round(effect.openMs) }),
          });
          if (effect.type === 'door.forced' || effect.type === 'door.held_open') {
            this.log.warn({ door: this.id, event: effect.type }, effect.type);
          } else this.log.info({ door: this.id, event: effect.type }, effect.type);
          break;
        case 'alarm':
          for (const l of this.alarmListeners) l(effect.on);
          break;
        case 'wake': {
          this.wake?.cancel();
          const delay = Math.max(0, effect.at - this.clock.monotonic());
          this.wake = this.clock.after(delay, () => {
            this.wake = undefined;
            this.run({ kind: 'tick', now: this.clock.monotonic() });
          });
          break;
        }
      }
    }
  }

  /** Releases the relay at once (crash path); the controller stays usable. */
  release(): void {
    this.relay.release();
  }

  close(): void {
    this.wake?.cancel();
    this.relay.close();
  }
}
