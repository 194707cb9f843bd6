/**
 * Events the door journals in its outbox (and the sync issue uploads). They never carry a credential
 * value: the type of credential, the pass and the reason say what happened without saying what was typed
 * or shown.
 */
import type { CredentialType, DenyReason } from './decide.js';
import type { DoorEventType } from './door.js';

interface EventBase {
  /** Unique, sortable (ULID): the cloud dedupes by it. */
  readonly id: string;
  /** Epoch ms. */
  readonly at: number;
  readonly device: string;
}

export interface AccessEvent extends EventBase {
  readonly type: 'access.granted' | 'access.denied';
  readonly door: string;
  readonly credentialType: CredentialType;
  readonly passId: string | null;
  readonly reason: DenyReason | null;
  readonly floors?: readonly number[];
  /** The input the credential came from (e.g. "console", "bridge:/dev/ttyACM0", "cli"). */
  readonly source?: string;
}

export interface DoorEvent extends EventBase {
  readonly type: DoorEventType;
  readonly door: string;
  /** How long the door had been open (door.closed, door.held_open). */
  readonly openMs?: number;
}

export type InputEventType =
  | 'input.read_error'
  | 'input.locked_out'
  | 'input.online'
  | 'input.offline'
  /** An OSDP reader's tamper switch (detail: "tamper" / "tamper cleared"). */
  | 'input.tamper'
  /** An OSDP reader's power report (detail: "power failure" / "power restored"). */
  | 'input.power';

export interface InputEvent extends EventBase {
  readonly type: InputEventType;
  readonly source: string;
  readonly door?: string;
  /** What happened, for people (never a credential value). */
  readonly detail?: string;
  /** input.locked_out: how long. */
  readonly lockedForMs?: number;
  /** input.locked_out: which factor locked (keypad PINs, cards and QR codes lock independently). */
  readonly factor?: CredentialType;
}

export type DeviceEventType =
  | 'device.outbox_dropped'
  | 'device.command'
  /** The wall clock became untrusted (detail starts with the reason: clock-trust.ts). */
  | 'device.clock_untrusted'
  /** The wall clock is trusted again (NTP synchronised, or it caught up with the floor). */
  | 'device.clock_trusted'
  /** A store file was found corrupt, moved aside and recreated empty (detail: why, and where it went). */
  | 'device.cache_rebuilt'
  | 'device.journal_rebuilt'
  /** The journal cannot be written (disk full, read-only, I/O error): deciding under the failure policy. */
  | 'device.storage_failed'
  /** The journal can be written again; count: the buffered events written with this one. */
  | 'device.storage_recovered';

export interface DeviceEvent extends EventBase {
  readonly type: DeviceEventType;
  readonly detail?: string;
  /** device.outbox_dropped: how many events were dropped (oldest first) to keep the outbox bounded. */
  readonly count?: number;
  /** device.command: the cloud command's id and type. */
  readonly commandId?: string;
  readonly command?: string;
  readonly door?: string;
}

/**
 * A pass revoked on this device (`doorpass passes revoke`): the cloud never heard of it, so the event tells
 * it (to revoke the pass everywhere and stop sending it back as valid). Revocations from the cloud are not
 * reported: it knows them.
 */
export interface PassEvent extends EventBase {
  readonly type: 'pass.revoked';
  readonly passId: string;
  /** Who decided it: `local`, an operator on this device. */
  readonly by: 'local';
  /** For people: e.g. whether the pass was in this device's cache. */
  readonly detail?: string;
}

export type JournalEvent = AccessEvent | DoorEvent | InputEvent | DeviceEvent | PassEvent;

export function isAccessEvent(e: JournalEvent): e is AccessEvent {
  return e.type === 'access.granted' || e.type === 'access.denied';
}

/** The JSON form of an event (what `events list --json` prints and the outbox keeps). */
export function eventToJson(e: JournalEvent): Record<string, unknown> {
  const out: Record<string, unknown> = { id: e.id, at: new Date(e.at).toISOString() };
  for (const [k, v] of Object.entries(e)) if (k !== 'id' && k !== 'at' && v !== undefined) out[k] = v;
  return out;
}

/** Parses the stored JSON form back (the store wrote it; fields are trusted). */
export function eventFromJson(json: Record<string, unknown>): JournalEvent {
  return { ...json, at: Date.parse(String(json.at)) } as unknown as JournalEvent;
}

/** A short human description of a non-access event's particulars ("open 42 s", "parity error"). */
export function eventDetail(e: DoorEvent | InputEvent | DeviceEvent | PassEvent): string {
  if ('detail' in e && e.detail !== undefined) return e.detail;
  if ('openMs' in e && e.openMs !== undefined) return `open ${Math.round(e.openMs / 1000)} s`;
  if ('count' in e && e.count !== undefined) return `${e.count} dropped`;
  if ('command' in e && e.command !== undefined) return `${e.command} ${e.commandId ?? ''}`.trim();
  return '-';
}
