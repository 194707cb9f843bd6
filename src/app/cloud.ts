/**
 * The device's side of the cloud contract (docs/mqtt.md): dispatches verified messages to pass sync and
 * commands, publishes sync requests, command results and the retained status. Every bad message is counted
 * by reason and logged; none changes anything, none stops the daemon.
 */
import type { z } from 'zod';
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
  'bad_json' | 'schema' | 'bad_signature' | 'missing_signature' | 'too_large' | 'error';

export class CloudAgent {
  readonly rejected: Partial<Record<RejectReason, number>> = {};
  /**
   * Whether the wall clock is trusted (the clock guard). A remote unlock's expiry is a time-bound decision:
   * while the clock is not trusted an old signed unlock whose id was forgotten could run again, so it is
   * refused with error "clock_untrusted". Ping and resync do not depend on the time and still run.
   */
  clockTrusted: () => boolean = () => true;
  private statusTimer: ReturnType<Clock['after']> | undefined;
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
    this.log.warn({ topic, reason, detail }, 'cloud message rejected');
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
        if (delta) this.sync.onDelta(delta);
      } else if (topic === this.topics.snapshot) {
        if (Buffer.byteLength(payload) > MAX_SNAPSHOT_PART_BYTES + 4096) {
          this.reject('too_large', topic, `a snapshot part is at most ${MAX_SNAPSHOT_PART_BYTES} bytes`);
          return;
        }
        const part = this.parse(snapshotPartSchema, topic, payload);
        if (part) this.sync.onSnapshotPart(part);
      } else if (topic === this.topics.commands) {
        const cmd = this.parse(commandSchema, topic, payload);
        if (cmd) this.onCommand(cmd);
      }
    } catch (err) {
      // A message that passed validation but failed to apply (e.g. the disk is full): nothing was recorded,
      // so the same seq applies when it comes again.
      this.reject('error', topic, (err as Error).message);
    }
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
