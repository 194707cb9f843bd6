/**
 * The journal for door and input events (access events are written by AccessControl, inside the decision's
 * transaction). Writing never throws into the caller: a journal failure is logged, the door keeps working.
 */
import type { DeviceEvent, DoorEvent, InputEvent, JournalEvent } from '../core/events.js';
import type { Clock, Logger } from '../ports/io.js';
import type { PassStore } from '../ports/store.js';
import { UlidFactory } from './ids.js';
import type { StorageGuard } from './storage.js';

type Draft<E> = E extends JournalEvent ? Omit<E, 'id' | 'at' | 'device'> : never;

export class Journal {
  /** Shared by every writer so ids from this process sort in the order events happened. */
  readonly ids = new UlidFactory();
  private failures = 0;

  constructor(
    private readonly store: PassStore,
    readonly deviceId: string,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /** Called after every event written here or by AccessControl (the uploader wakes on it). */
  onAppend: (() => void) | undefined;

  get writeFailures(): number {
    return this.failures;
  }

  /** The daemon's storage guard: while the journal cannot be written, events wait in its buffer. */
  storage: StorageGuard | undefined;

  append(draft: Draft<DoorEvent> | Draft<InputEvent> | Draft<DeviceEvent>): JournalEvent | undefined {
    const at = this.clock.now();
    const event = { ...draft, id: this.ids.next(at), at, device: this.deviceId } as JournalEvent;
    try {
      if (this.storage !== undefined) this.storage.append(event);
      else this.store.appendEvent(event);
      this.onAppend?.();
      return event;
    } catch (err) {
      this.failures++;
      this.log.error({ err, event: event.type }, 'could not journal event');
      return undefined;
    }
  }
}
