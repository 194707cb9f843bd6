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
const instant = z.iso.datetime({ offset: true });

/** …/passes: one change set; `seq` grows by exactly 1 per message. Passes are validated one by one later. */
export const passDeltaSchema = z.object({
  seq,
  upsert: z.array(z.unknown()).max(10_000).default([]),
  revoke: z.array(z.string().min(1).max(128)).max(10_000).default([]),
  accessGroups: z.array(z.unknown()).max(1000).optional(),
});
export type PassDelta = z.infer<typeof passDeltaSchema>;

/** …/devices/{device}/snapshot: the full state in parts 1..n (each at most 256 KiB). */
export const snapshotPartSchema = z
  .object({
    seq: z.int().min(0).max(Number.MAX_SAFE_INTEGER),
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
