/**
 * Storage failures at run time (docs/reliability.md).
 *
 * - The journal cannot be written (disk full, read-only file system, I/O error): the door keeps deciding
 *   from the cache under `storage.writeFailurePolicy` (fail-secure by default: a use that cannot be
 *   recorded is not granted for a limited-use pass). Events wait in a bounded in-memory buffer and use
 *   counts in memory; a `device.storage_failed` alarm is the first of them. Writing is retried every
 *   `retryMs` and before every write; the first write that works writes the buffer, the counts and a
 *   `device.storage_recovered` event in one transaction, so they land once, in order.
 * - A file is corrupt (found at open, or by an error at run time): the store moves it aside and recreates
 *   it; here the incident is journalled as an alarm and, for the cache, a resync is asked of the cloud.
 */
import type { Decision } from '../core/decide.js';
import type { AccessEvent, DeviceEvent, JournalEvent } from '../core/events.js';
import type { Clock, Logger, Timer } from '../ports/io.js';
import type { PassStore, StoreIncident } from '../ports/store.js';
import type { UlidFactory } from './ids.js';

export type WriteFailurePolicy = 'deny-limited' | 'deny-all' | 'allow-all';

export interface StorageGuardOptions {
  readonly policy: WriteFailurePolicy;
  /** Events kept in memory while the journal cannot be written; beyond it the oldest are dropped. */
  readonly maxPending: number;
  readonly retryMs: number;
}

export const DEFAULT_STORAGE_GUARD: StorageGuardOptions = {
  policy: 'deny-limited',
  maxPending: 1000,
  retryMs: 5000,
};

export interface StorageStatus {
  readonly writable: boolean;
  /** Epoch ms since when the journal cannot be written (null when writable). */
  readonly since: number | null;
  readonly lastError: string | null;
  readonly pendingEvents: number;
  /** Buffered events dropped because the buffer was full (since the failure began). */
  readonly droppedEvents: number;
  readonly policy: WriteFailurePolicy;
}

export type DeviceEventDraft = Omit<DeviceEvent, 'id' | 'at' | 'device'>;

function describe(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
}

/** The alarm event for a store file found corrupt. */
export function incidentEvent(i: StoreIncident, id: string, at: number, device: string): DeviceEvent {
  return {
    id,
    at,
    device,
    type: i.file === 'cache' ? 'device.cache_rebuilt' : 'device.journal_rebuilt',
    detail: `${i.reason} (moved to ${i.movedTo})`,
  };
}

/**
 * Journals store incidents found at open (one-shot commands and the daemon alike). Best effort: a journal
 * that cannot be written leaves the incident in the logs and in `status` (the rebuilt flag persists).
 */
export function journalIncidents(
  store: PassStore,
  device: string,
  ids: UlidFactory,
  incidents: readonly StoreIncident[],
  now: number,
): void {
  for (const i of incidents) {
    try {
      store.appendEvent(incidentEvent(i, ids.next(now), now, device));
    } catch {
      // reported by the caller's log and status
    }
  }
}

const REPAIR_INTERVAL_MS = 60_000;

export class StorageGuard {
  private failedSince: number | null = null;
  private lastError: string | null = null;
  private pending: JournalEvent[] = [];
  /** Grants not yet counted in the journal, per pass. */
  private readonly pendingUses = new Map<string, number>();
  private dropped = 0;
  private timer: Timer | undefined;
  private stopped = false;
  private lastRepair: number | undefined;

  constructor(
    private readonly store: PassStore,
    private readonly deviceId: string,
    private readonly ids: UlidFactory,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly options: StorageGuardOptions = DEFAULT_STORAGE_GUARD,
  ) {}

  /** Uses of a pass granted while the journal could not be written, not yet counted in it. */
  heldUses(passId: string): number {
    return this.pendingUses.get(passId) ?? 0;
  }

  /** Called after events were written (the uploader wakes on it). */
  onAppend: (() => void) | undefined;

  get writable(): boolean {
    return this.failedSince === null;
  }

  status(): StorageStatus {
    return {
      writable: this.failedSince === null,
      since: this.failedSince,
      lastError: this.lastError,
      pendingEvents: this.pending.length,
      droppedEvents: this.dropped,
      policy: this.options.policy,
    };
  }

  /** Whether the journal can be written now: when it could not, tries to write what is buffered first. */
  ready(): boolean {
    return this.failedSince === null || this.flush();
  }

  /**
   * Takes a failed write: true when it was a write failure (the guard is now degraded; the caller decides
   * under the policy), false for any other error (the caller handles it).
   */
  failed(err: unknown): boolean {
    if (this.store.failureKind(err) !== 'write') {
      this.repairIfCorrupt(err);
      return false;
    }
    this.lastError = describe(err);
    if (this.failedSince !== null) return true;
    const at = this.clock.now();
    this.failedSince = at;
    this.dropped = 0;
    this.log.error(
      { err: this.lastError, policy: this.options.policy },
      'cannot write the journal; deciding from the cache under storage.writeFailurePolicy',
    );
    this.buffer(this.event({ type: 'device.storage_failed', detail: this.lastError }, at));
    this.schedule();
    return true;
  }

  /**
   * Takes a decision made from the cache while the journal cannot be written (uses held here counted in,
   * see heldUses): the policy may turn a grant into store_unavailable (`limited`: the pass has use limits).
   * The event is buffered; a grant's use is held in memory.
   */
  decideDegraded(
    made: Decision,
    limited: boolean,
    eventFor: (d: Decision) => AccessEvent,
  ): { decision: Decision; event: AccessEvent } {
    let decision = made;
    if (decision.granted) {
      const policy = this.options.policy;
      if (policy === 'deny-all' || (policy === 'deny-limited' && limited)) {
        decision = { granted: false, reason: 'store_unavailable', passId: decision.passId };
      }
    }
    if (decision.granted) {
      this.pendingUses.set(decision.passId, (this.pendingUses.get(decision.passId) ?? 0) + 1);
    }
    const event = eventFor(decision);
    this.buffer(event);
    return { decision, event };
  }

  /** Appends one event outside a decision (Journal, recordDenial): buffered while writes fail. */
  append(event: JournalEvent): void {
    if (!this.ready()) {
      this.buffer(event);
      return;
    }
    try {
      this.store.appendEvent(event);
    } catch (err) {
      if (!this.failed(err)) throw err;
      this.buffer(event);
    }
  }

  /** Called when the cache was rebuilt at run time (the daemon asks the cloud for a full resync). */
  onCacheRebuilt: (() => void) | undefined;

  /** Logs incidents the store found (at open: already journalled by openSite). */
  logIncidents(incidents: readonly StoreIncident[]): void {
    for (const i of incidents) {
      this.log.error(
        { file: i.file, reason: i.reason, movedTo: i.movedTo },
        i.file === 'cache'
          ? 'pass cache corrupt: moved aside and recreated empty; asking the cloud for a full resync'
          : 'event journal corrupt: moved aside and recreated; what could be read was salvaged, the rest stays in the moved file',
      );
    }
  }

  /**
   * After an error: a corruption error makes the store check both files and rebuild a corrupt one (at most
   * once a minute); the incidents are journalled and a rebuilt cache asks for a resync. Returns whether it
   * was a corruption error (the attempt that met it is still denied by the caller).
   */
  repairIfCorrupt(err: unknown): boolean {
    if (this.store.failureKind(err) !== 'corrupt') return false;
    const now = this.clock.monotonic();
    if (this.lastRepair !== undefined && now - this.lastRepair < REPAIR_INTERVAL_MS) return true;
    this.lastRepair = now;
    let incidents: StoreIncident[];
    try {
      incidents = this.store.checkAndRepair();
    } catch (e) {
      this.log.error({ err: describe(e) }, 'store repair failed');
      return true;
    }
    this.logIncidents(incidents);
    for (const i of incidents) this.append(incidentEvent(i, this.ids.next(i.at), i.at, this.deviceId));
    if (incidents.length > 0) this.onAppend?.();
    if (incidents.some((i) => i.file === 'cache')) this.onCacheRebuilt?.();
    return true;
  }

  /** Stops the retry timer (shutdown). What is still buffered is lost with the process: it is logged. */
  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
    if (this.pending.length > 0 && !this.flush()) {
      this.log.error(
        { pendingEvents: this.pending.length },
        'stopping with events the journal could not take',
      );
    }
  }

  private event(draft: DeviceEventDraft, at = this.clock.now()): DeviceEvent {
    return { ...draft, id: this.ids.next(at), at, device: this.deviceId };
  }

  private buffer(event: JournalEvent): void {
    this.pending.push(event);
    if (this.pending.length > this.options.maxPending) {
      // Keep the storage_failed alarm (the first); drop the oldest after it.
      this.pending.splice(1, 1);
      this.dropped++;
    }
  }

  private schedule(): void {
    if (this.stopped || this.timer !== undefined) return;
    this.timer = this.clock.after(this.options.retryMs, () => {
      this.timer = undefined;
      if (!this.flush()) this.schedule();
    });
  }

  /** Writes the buffer, the uses held in memory and storage_recovered in one transaction. */
  private flush(): boolean {
    if (this.failedSince === null && this.pending.length === 0) return true;
    const at = this.clock.now();
    const written = this.pending.length;
    const recovered =
      this.failedSince === null
        ? undefined
        : this.event(
            {
              type: 'device.storage_recovered',
              count: written,
              detail: `journal writable again after ${Math.round((at - this.failedSince) / 1000)} s; ${written} buffered event(s) written${this.dropped > 0 ? `, ${this.dropped} dropped (buffer full)` : ''}`,
            },
            at,
          );
    try {
      this.store.atomically(() => {
        for (const e of this.pending) this.store.appendEvent(e);
        for (const [passId, n] of this.pendingUses)
          for (let i = 0; i < n; i++) this.store.countUse(passId, this.deviceId);
        if (recovered) this.store.appendEvent(recovered);
      }, 'journal');
    } catch (err) {
      if (this.store.failureKind(err) === 'write') this.lastError = describe(err);
      else this.log.error({ err: describe(err) }, 'writing buffered events failed');
      return false;
    }
    this.log.info({ written, dropped: this.dropped }, 'journal writable again; buffered events written');
    this.pending = [];
    this.pendingUses.clear();
    this.failedSince = null;
    this.timer?.cancel();
    this.timer = undefined;
    this.onAppend?.();
    return true;
  }
}
