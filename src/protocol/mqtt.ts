/**
 * The MQTT contract with the cloud (docs/mqtt.md): topics and the zod schemas of every payload. Pure:
 * signatures are checked by the adapter; this module only says what a valid message looks like.
 *
 * Prefix `doorpass/v1/{site}`. Cloud -> device messages (passes, snapshot, commands) carry an MQTT 5 user
 * property `sig`: the base64 Ed25519 signature of the exact payload bytes.
 */
import { z } from 'zod';

export const SIGNATURE_PROPERTY = 'sig';

export interface Topics {
  readonly passes: string;
  readonly syncRequest: string;
  readonly snapshot: string;
  readonly events: string;
  readonly status: string;
  readonly commands: string;
  readonly commandResult: string;
}

/** Topic names for a site and device. Ids are restricted by the config schema, so they contain no `+ # /`. */
export function topics(site: string, device: string): Topics {
  const base = `doorpass/v1/${site}`;
  const dev = `${base}/devices/${device}`;
  return {
    passes: `${base}/passes`,
    syncRequest: `${dev}/sync/request`,
    snapshot: `${dev}/snapshot`,
    events: `${dev}/events`,
    status: `${dev}/status`,
    commands: `${dev}/commands`,
    commandResult: `${dev}/commands/result`,
  };
}

const seq = z.int().min(1).max(Number.MAX_SAFE_INTEGER);
/** An ISO-8601 instant with seconds and a zone (`Z` or `±hh:mm`); fractions of a second are allowed. */
const instant = z.iso.datetime({ offset: true });

/**
 * Contract `doorpass/v1` minor 1 (docs/mqtt.md, "Binding"): the signed payload says when the cloud issued it
 * and, for per-device messages, which device it is for. Optional in the schema so that a device whose config
 * sets `cloud.requireBinding: false` still accepts a minor-0 cloud; the agent (app/cloud.ts) refuses a message
 * without them when binding is required, and checks them whenever they are present.
 */
const issuedAt = instant
  .meta({
    description:
      'When the cloud issued the message (contract doorpass/v1 minor 1). Required by a device whose cloud.requireBinding is true (the default); a message older than the newest one accepted by more than cloud.maxMessageAgeHours is refused (stale).',
  })
  .optional();
const device = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/)
  .meta({
    description:
      'The device.id the message is for (contract doorpass/v1 minor 1); any other device refuses it (wrong_device). Required by a device whose cloud.requireBinding is true (the default).',
  })
  .optional();

/** The contract's minor version (topic names carry the major `v1`). */
export const CONTRACT_MINOR = 1;

/** …/passes: one change set; `seq` grows by exactly 1 per message. Passes are validated one by one later. */
export const passDeltaSchema = z.object({
  seq,
  issuedAt,
  upsert: z.array(z.unknown()).max(10_000).default([]),
  revoke: z.array(z.string().min(1).max(128)).max(10_000).default([]),
  accessGroups: z.array(z.unknown()).max(1000).optional(),
});
export type PassDelta = z.infer<typeof passDeltaSchema>;

/** …/devices/{device}/snapshot: the full state in parts 1..n (each at most 256 KiB). */
export const snapshotPartSchema = z
  .object({
    seq: z.int().min(0).max(Number.MAX_SAFE_INTEGER),
    device,
    issuedAt,
    part: z.int().min(1).max(100_000),
    parts: z.int().min(1).max(100_000),
    passes: z.array(z.unknown()).default([]),
    accessGroups: z.array(z.unknown()).default([]),
  })
  .refine((s) => s.part <= s.parts, { error: 'part must be at most parts', path: ['part'] });
export type SnapshotPart = z.infer<typeof snapshotPartSchema>;

export const MAX_SNAPSHOT_PART_BYTES = 256 * 1024;

/** …/devices/{device}/commands. */
export const commandSchema = z.object({
  id: z.string().min(1).max(128),
  device,
  issuedAt,
  type: z.enum(['unlock', 'resync', 'ping']),
  door: z.string().min(1).max(64).optional(),
  expires: instant,
});
export type Command = z.infer<typeof commandSchema>;

/** …/devices/{device}/commands/result. */
export interface CommandResult {
  readonly id: string;
  readonly ok: boolean;
  readonly error?: string;
}

/** …/devices/{device}/sync/request. */
export interface SyncRequest {
  readonly have: number;
}

/** …/devices/{device}/events: a batch, oldest first. */
export interface EventBatch {
  readonly events: readonly Record<string, unknown>[];
}

/** …/devices/{device}/status (retained); the Last Will is `{"online": false}`. */
export interface DeviceStatus {
  readonly online: boolean;
  readonly version?: string;
  readonly seq?: number;
  readonly passes?: number;
  readonly outbox?: number;
  readonly startedAt?: string;
  readonly inputs?: Record<
    string,
    {
      online: boolean;
      door: string;
      lastSeenAt: string | null;
      lockedOut: boolean;
      /** Per factor (pin, card, qr), additive: each locks on its own; lockedOut is true when any is. */
      lockouts?: Record<string, { lockedOut: boolean; lockedForMs: number; guessesLeft: number }>;
    }
  >;
  readonly [key: string]: unknown;
}

/** A payload larger than this is refused before parsing (a delta of thousands of passes fits easily). */
export const MAX_PAYLOAD_BYTES = 4 * 1024 * 1024;

/**
 * The MQTT 5 Maximum Packet Size the device announces in CONNECT: the largest legitimate payload plus room for
 * the fixed header, the topic and the properties (the 88-character `sig`). A broker must not send a larger
 * packet (MQTT 5 §3.1.2.11.4; Mosquitto drops it for this client), so a rogue publisher's 250 MB payload never
 * reaches the device's memory.
 */
export const MAX_PACKET_BYTES = MAX_PAYLOAD_BYTES + 64 * 1024;

/**
 * Follows the MQTT framing of a byte stream (fixed header byte, Remaining Length varint of 1–4 bytes, then the
 * body) without keeping any of it, to notice a packet larger than `max` from its header alone: before the
 * bytes of its body are buffered anywhere (mqtt.js reads a whole packet before it looks at its size). Pure;
 * feed it every chunk from the start of the connection, in order.
 */
export class PacketSizeGuard {
  private state: 'type' | 'length' | 'body' = 'type';
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;
  private remaining = 0;

  constructor(private readonly max: number) {}

  /**
   * Feeds one chunk. Returns the total size of the first packet announced larger than `max` (or `Infinity`
   * for a Remaining Length longer than 4 bytes, which MQTT forbids), else undefined.
   */
  push(chunk: Uint8Array): number | undefined {
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 'type') {
        i++;
        this.state = 'length';
        this.length = 0;
        this.multiplier = 1;
        this.lengthBytes = 0;
      } else if (this.state === 'length') {
        const b = chunk[i++] ?? 0;
        this.length += (b & 0x7f) * this.multiplier;
        this.multiplier *= 128;
        this.lengthBytes++;
        if ((b & 0x80) !== 0) {
          if (this.lengthBytes === 4) return Infinity;
          continue;
        }
        const total = 1 + this.lengthBytes + this.length;
        if (total > this.max) return total;
        this.remaining = this.length;
        this.state = this.remaining === 0 ? 'type' : 'body';
      } else {
        const n = Math.min(this.remaining, chunk.length - i);
        i += n;
        this.remaining -= n;
        if (this.remaining === 0) this.state = 'type';
      }
    }
    return undefined;
  }
}
