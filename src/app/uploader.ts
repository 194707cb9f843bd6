/**
 * Uploads the event outbox over MQTT, oldest first, in batches with one batch in flight: an event leaves
 * the outbox only when the broker has acknowledged it (PUBACK). After a crash or a broker outage the
 * unacknowledged events are sent again with the same ids; the cloud dedupes by id. The outbox is bounded:
 * when full, the oldest events are dropped, counted, and a device.outbox_dropped event says so.
 */
import type { Clock, Logger, Timer } from '../ports/io.js';
import type { CloudLink } from '../ports/cloud.js';
import type { PassStore } from '../ports/store.js';
import type { Journal } from './journal.js';

export interface UploaderOptions {
  readonly topic: string;
  readonly batchSize: number;
  readonly maxOutbox: number;
  /** Uploaded events kept locally for `events list`. */
  readonly keepUploaded: number;
}

export interface UploaderCounters {
  uploaded: number;
  batches: number;
  dropped: number;
  failures: number;
  lastUploadAt: number | null;
}

export class EventUploader {
  readonly counters: UploaderCounters = {
    uploaded: 0,
    batches: 0,
    dropped: 0,
    failures: 0,
    lastUploadAt: null,
  };
  private running = false;
  private again = false;
  private timer: Timer | undefined;
  private trimTimer: Timer | undefined;
  private stopped = false;

  constructor(
    private readonly store: PassStore,
    private readonly link: CloudLink,
    private readonly journal: Journal,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly options: UploaderOptions,
  ) {}

  start(): void {
    this.link.onConnect(() => this.kick());
    this.scheduleTrim(0);
    this.kick();
  }

  /** Wakes the uploader (a new event, a new connection). Cheap; coalesces. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.timer ??= this.clock.after(0, () => {
      this.timer = undefined;
      void this.drain();
    });
  }

  private async drain(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      do {
        this.again = false;
        while (!this.stopped && this.link.connected) {
          const batch = this.store.outboxPeek(this.options.batchSize);
          const last = batch.at(-1);
          if (last === undefined) break;
          await this.link.publish(this.options.topic, JSON.stringify({ events: batch.map((b) => b.event) }), {
            qos: 1,
          });
          this.store.outboxAck(last.seq, this.options.keepUploaded);
          this.counters.uploaded += batch.length;
          this.counters.batches++;
          this.counters.lastUploadAt = this.clock.now();
        }
      } while (this.again && !this.stopped);
    } catch (err) {
      // Not acknowledged (disconnected, or the broker refused): the events stay; the next connection retries.
      this.counters.failures++;
      this.log.debug({ err: (err as Error).message }, 'event upload interrupted');
    } finally {
      this.running = false;
    }
  }

  private scheduleTrim(ms: number): void {
    if (this.stopped) return;
    this.trimTimer = this.clock.after(ms, () => {
      this.trimTimer = undefined;
      this.trim();
      // Also picks up events other processes journalled (e.g. `doorpass check` on the same database).
      this.kick();
      this.scheduleTrim(2000);
    });
  }

  /** Keeps the outbox within its bound: the newest events are kept; what is dropped is counted and said. */
  trim(): void {
    try {
      const { dropped, carried } = this.store.outboxTrim(this.options.maxOutbox);
      if (dropped > 0) {
        this.counters.dropped += dropped;
        this.log.warn({ dropped, max: this.options.maxOutbox }, 'outbox full: oldest events dropped');
        // An earlier outbox_dropped event dropped in turn would take its count with it: carry it over, so the
        // counts the cloud receives always add up to every event lost.
        this.journal.append({
          type: 'device.outbox_dropped',
          count: dropped + carried,
          detail: `outbox bound ${this.options.maxOutbox}`,
        });
      }
    } catch (err) {
      this.log.error({ err }, 'outbox trim failed');
    }
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.trimTimer?.cancel();
  }
}
