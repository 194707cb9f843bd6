/**
 * The device's side of the cloud contract (docs/mqtt.md): dispatches verified messages to pass sync and
 * commands, publishes sync requests, command results and the retained status. Every bad message is counted
 * by reason and logged; none changes anything, none stops the daemon.
 */
import type { z } from 'zod';
import {
  CLOCK_EVIDENCE_SLACK_MS,
  judgeBinding,
  nextNewest,
  type BindingRefusal,
  type BoundMessageKind,
} from '../core/binding.js';
import {
  commandSchema,
  MAX_SNAPSHOT_PART_BYTES,
  passDeltaSchema,
  snapshotPartSchema,
  type Command,
  type CommandResult,
  type DeviceStatus,
  type Topics,
} from '../protocol/mqtt.js';
import type { CloudLink } from '../ports/cloud.js';
import type { Clock, Logger } from '../ports/io.js';
import type { PassStore } from '../ports/store.js';
import type { DoorController } from './door-controller.js';
import type { Journal } from './journal.js';
import type { PassSync } from './sync.js';

export type RejectReason =
  'bad_json' | 'schema' | 'bad_signature' | 'missing_signature' | 'too_large' | 'error' | BindingRefusal;

/** Who and when messages must be for (config `device.id`, `cloud.requireBinding`, `cloud.maxMessageAgeHours`). */
export interface BindingOptions {
  readonly device: string;
  readonly requireBinding: boolean;
  readonly maxMessageAgeMs: number;
}

/**
 * The newest `issuedAt` accepted (epoch ms, decimal). A journal meta key (not `sync.`/`cache.`), so a cache
 * rebuilt after corruption does not forget it: that is what stops a replayed months-old snapshot from rolling
 * a rebuilt panel back.
 */
export const NEWEST_ISSUED_KEY = 'cloud.newestIssuedAt';
const NEWEST_WRITE_STEP_MS = 60_000;

/** At most one log line per reject reason in this interval (the counters still count every one). */
const REJECT_LOG_INTERVAL_MS = 1000;

export class CloudAgent {
  readonly rejected: Partial<Record<RejectReason, number>> = {};
  /** Messages accepted without `issuedAt`/`device` because `cloud.requireBinding` is false. */
  unbound = 0;
  /**
   * Whether the wall clock is trusted (the clock guard). A remote unlock's expiry is a time-bound decision:
   * while the clock is not trusted an old signed unlock whose id was forgotten could run again, so it is
   * refused with error "clock_untrusted". Ping and resync do not depend on the time and still run.
   */
  clockTrusted: () => boolean = () => true;
  /**
   * Told every accepted `issuedAt`: a verified cloud message proves the real time is at least that, so the
   * clock guard raises its floor (a panel whose clock is behind becomes untrusted instead of honouring passes
   * that have expired). Called before the message is acted on.
   */
  raiseClockFloor: (at: number) => void = () => undefined;
  private newest: number | null | undefined;
  /** What the journal holds (undefined: nothing yet). */
  private savedNewest: number | undefined;
  private statusTimer: ReturnType<Clock['after']> | undefined;
  private readonly rejectLog = new Map<RejectReason, { at: number; suppressed: number }>();
  private lastStatus = '';

  constructor(
    private readonly link: CloudLink,
    private readonly topics: Topics,
    private readonly sync: PassSync,
    private readonly store: PassStore,
    private readonly doors: ReadonlyMap<string, DoorController>,
    private readonly journal: Journal,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly status: () => DeviceStatus,
    private readonly binding: BindingOptions,
  ) {}

  start(): void {
    this.link.onMessage((topic, payload) => this.onMessage(topic, payload));
    this.link.onConnect(() => {
      this.lastStatus = '';
      this.publishStatus();
      this.sync.requestResync(true);
    });
    this.scheduleStatus();
  }

  /** Counts a message the link refused (signature, size) so status shows it. */
  reject(reason: RejectReason, topic: string, detail: string): void {
    this.rejected[reason] = (this.rejected[reason] ?? 0) + 1;
    // Every refusal is counted; the log gets at most one line per reason a second (with how many were left
    // out), so a flood of junk on the device's topics cannot fill the disk or journald with warnings.
    const now = this.clock.monotonic();
    const last = this.rejectLog.get(reason);
    if (last !== undefined && now - last.at < REJECT_LOG_INTERVAL_MS) {
      last.suppressed++;
      return;
    }
    const suppressed = last?.suppressed ?? 0;
    this.rejectLog.set(reason, { at: now, suppressed: 0 });
    this.log.warn(
      { topic, reason, detail, ...(suppressed > 0 && { suppressed }) },
      suppressed > 0
        ? `cloud message rejected (and ${suppressed} more for this reason not logged)`
        : 'cloud message rejected',
    );
  }

  private parse<T>(schema: z.ZodType<T>, topic: string, payload: string): T | undefined {
    let json: unknown;
    try {
      json = JSON.parse(payload);
    } catch (e) {
      this.reject('bad_json', topic, (e as Error).message);
      return undefined;
    }
    const r = schema.safeParse(json);
    if (!r.success) {
      this.reject('schema', topic, r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
      return undefined;
    }
    return r.data;
  }

  onMessage(topic: string, payload: string): void {
    try {
      if (topic === this.topics.passes) {
        const delta = this.parse(passDeltaSchema, topic, payload);
        if (delta && this.bound(delta, 'delta', topic)) this.sync.onDelta(delta);
      } else if (topic === this.topics.snapshot) {
        if (Buffer.byteLength(payload) > MAX_SNAPSHOT_PART_BYTES + 4096) {
          this.reject('too_large', topic, `a snapshot part is at most ${MAX_SNAPSHOT_PART_BYTES} bytes`);
          return;
        }
        const part = this.parse(snapshotPartSchema, topic, payload);
        if (part && this.bound(part, 'snapshot', topic)) this.sync.onSnapshotPart(part);
      } else if (topic === this.topics.commands) {
        const cmd = this.parse(commandSchema, topic, payload);
        // A refused command gets no result: the result topic is this device's own, and a result for a
        // command meant for another device (or a stale one) is noise the cloud could mistake for that
        // device's answer. It is counted and logged like every refused message.
        if (cmd && this.bound(cmd, 'command', topic)) this.onCommand(cmd);
      }
    } catch (err) {
      // A message that passed validation but failed to apply (e.g. the disk is full): nothing was recorded,
      // so the same seq applies when it comes again.
      this.reject('error', topic, (err as Error).message);
    }
  }

  /** The newest `issuedAt` accepted (epoch ms), or null when none. */
  get newestIssuedAt(): number | null {
    return this.newestIssued();
  }

  /** The newest `issuedAt` accepted, from the journal's meta the first time. */
  private newestIssued(): number | null {
    if (this.newest === undefined) {
      const saved = Number(this.store.getMeta(NEWEST_ISSUED_KEY) ?? 'NaN');
      this.newest = Number.isFinite(saved) && saved > 0 ? saved : null;
      if (this.newest !== null) this.savedNewest = this.newest;
    }
    return this.newest;
  }

  /**
   * Judges `device` and `issuedAt` (core/binding.ts). Refused: counted and logged, nothing changes. Accepted
   * with an `issuedAt`: it becomes the newest (persisted) and raises the clock floor before the message acts.
   */
  private bound(
    message: { readonly device?: string | undefined; readonly issuedAt?: string | undefined },
    kind: BoundMessageKind,
    topic: string,
  ): boolean {
    const trustedNow = this.clockTrusted() ? this.clock.now() : null;
    const verdict = judgeBinding(message, kind, {
      device: this.binding.device,
      requireBinding: this.binding.requireBinding,
      maxAgeMs: this.binding.maxMessageAgeMs,
      newest: this.newestIssued(),
      trustedNow,
    });
    if (!verdict.ok) {
      this.reject(verdict.reason, topic, verdict.detail);
      return false;
    }
    if (verdict.issuedAt === null) {
      this.unbound++;
      // Once per run at warn (a minor-0 cloud sends every message so), then at debug.
      const what = 'cloud message without issuedAt/device accepted (cloud.requireBinding is false)';
      if (this.unbound === 1) this.log.warn({ topic, kind }, what);
      else this.log.debug({ topic, kind }, what);
      return true;
    }
    this.raiseClockFloor(verdict.issuedAt - CLOCK_EVIDENCE_SLACK_MS);
    const newest = nextNewest(this.newestIssued(), verdict.issuedAt, trustedNow);
    this.newest = newest;
    // Written when it moved by a minute or more (or went down: a cap by the trusted clock): the tolerance is
    // hours, so a value up to a minute behind after a power cut costs nothing, and most deltas then need no
    // extra fsync of the journal.
    const saved = this.savedNewest;
    if (saved === undefined || newest < saved || newest - saved >= NEWEST_WRITE_STEP_MS) {
      try {
        this.store.setMeta(NEWEST_ISSUED_KEY, String(newest));
        this.savedNewest = newest;
      } catch (err) {
        // Kept in memory for this run; the next accepted message tries again.
        this.log.warn({ err: (err as Error).message }, 'could not record the newest issuedAt');
      }
    }
    return true;
  }

  private onCommand(cmd: Command): void {
    const previous = this.store.commandResult(cmd.id);
    if (previous !== undefined) {
      // At most once: a replayed id is not executed again; its original result is sent again.
      this.log.info({ command: cmd.id, type: cmd.type }, 'command already executed; result resent');
      void this.publish(this.topics.commandResult, previous);
      return;
    }
    const now = this.clock.now();
    const result = this.execute(cmd, now);
    const text = JSON.stringify(result);
    this.store.recordCommand(cmd.id, now, text);
    this.journal.append({
      type: 'device.command',
      commandId: cmd.id,
      command: cmd.type,
      ...(cmd.door !== undefined && { door: cmd.door }),
      detail: result.ok ? 'ok' : (result.error ?? 'failed'),
    });
    void this.publish(this.topics.commandResult, text);
  }

  private execute(cmd: Command, now: number): CommandResult {
    if (Date.parse(cmd.expires) <= now) return { id: cmd.id, ok: false, error: 'expired' };
    switch (cmd.type) {
      case 'ping':
        return { id: cmd.id, ok: true };
      case 'resync':
        this.sync.requestResync(true);
        return { id: cmd.id, ok: true };
      case 'unlock': {
        if (!this.clockTrusted()) return { id: cmd.id, ok: false, error: 'clock_untrusted' };
        const door = cmd.door === undefined ? undefined : this.doors.get(cmd.door);
        if (door === undefined)
          return { id: cmd.id, ok: false, error: `unknown door ${JSON.stringify(cmd.door ?? null)}` };
        this.log.info({ command: cmd.id, door: cmd.door }, 'remote unlock');
        door.remoteUnlock();
        return { id: cmd.id, ok: true };
      }
    }
  }

  private publish(topic: string, payload: string, retain = false): Promise<void> {
    return this.link.publish(topic, payload, { qos: 1, retain }).catch((err: unknown) => {
      this.log.debug(
        { topic, err: (err as Error).message },
        'publish failed (will be retried by the next status/result)',
      );
    });
  }

  /** Publishes the retained status now if it changed (and the link is up). */
  publishStatus(): void {
    if (!this.link.connected) return;
    const text = JSON.stringify(this.status());
    if (text === this.lastStatus) return;
    this.lastStatus = text;
    void this.publish(this.topics.status, text, true);
  }

  private scheduleStatus(): void {
    this.statusTimer = this.clock.after(5000, () => {
      this.publishStatus();
      this.scheduleStatus();
    });
  }

  stop(): void {
    this.statusTimer?.cancel();
  }
}
