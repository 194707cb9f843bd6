/** The pass cache and event journal, as the access pipeline and the import see them. */
import type { CredentialType, PassRule, Usage } from '../core/decide.js';
import type { JournalEvent } from '../core/events.js';
import type { Schedule } from '../core/schedule.js';
import type { AccessGroup, CompiledPass } from '../protocol/pass.js';

/** A keyed hash of a credential: the only form in which a credential is stored or looked up. */
export type CredentialHash = Uint8Array;

export interface PassCredentialHash {
  readonly type: CredentialType;
  readonly hash: CredentialHash;
}

export interface CredentialConflict {
  readonly type: CredentialType;
  /** The live pass that already holds the credential. */
  readonly passId: string;
}

export interface CredentialHasher {
  hash(type: CredentialType, value: string): CredentialHash;
}

/** What the hot path reads for one credential, in one statement. */
export interface CredentialMatch {
  readonly rule: PassRule;
  readonly usage: Usage;
  /** undefined: the pass names no group; null: it names one this device does not know. */
  readonly group: Schedule | null | undefined;
}

export interface PassHead {
  readonly version: number;
  readonly revoked: boolean;
  readonly validUntil: number;
}

export interface PassRow {
  readonly id: string;
  readonly version: number;
  readonly kind: string;
  readonly name: string;
  readonly revoked: boolean;
  readonly validFrom: number;
  readonly validUntil: number;
  /** The pass document with credential values removed (types kept). */
  readonly doc: Record<string, unknown>;
  readonly rule: PassRule;
  readonly uses: Readonly<Record<string, number>>;
}

export interface PassQuery {
  /** Case-insensitive text matched against name, issuer, recipient and unit. */
  readonly search?: string;
  readonly limit?: number;
}

/** The two files of the store: the journal (events, own use counts; not rebuildable) and the pass cache. */
export type StoreFile = 'journal' | 'cache';

/** A file found corrupt, moved aside and recreated empty. */
export interface StoreIncident {
  readonly file: StoreFile;
  readonly reason: string;
  /** Epoch ms. */
  readonly at: number;
  /** Where the corrupt file was moved. */
  readonly movedTo: string;
}

export interface StoreFileHealth {
  /** 'rebuilt': recreated after corruption (the cache: and not resynced since). */
  readonly state: 'ok' | 'rebuilt';
  readonly reason: string | null;
  readonly since: number | null;
  readonly movedTo: string | null;
}

export interface StoreHealth {
  readonly cache: StoreFileHealth;
  readonly journal: StoreFileHealth;
}

/** 'write': the journal cannot be written (disk full, read-only, I/O error); 'corrupt': a file is damaged. */
export type StoreFailureKind = 'write' | 'corrupt';

/**
 * The one file a transaction writes ('journal': events, own use counts, meta; 'cache': the pass cache).
 * A scoped transaction takes only that file's write lock, so it never waits for a writer of the other.
 */
export type TxScope = 'journal' | 'cache';

export interface PassStore {
  /**
   * Runs fn in one write transaction (taken at once, so concurrent writers queue rather than fail). With a
   * scope, fn may write only that file, and waits only for writers of that file.
   */
  atomically<T>(fn: () => T, scope?: TxScope): T;
  findCredential(hash: CredentialHash, deviceId: string): CredentialMatch | undefined;
  countUse(passId: string, deviceId: string): void;
  appendEvent(event: JournalEvent): void;

  passHead(id: string): PassHead | undefined;
  /**
   * Inserts or replaces a pass and its credential hashes and merges its `uses` into the grow-only counters —
   * unless one of its credentials belongs to another live pass (not revoked, not expired at `now`): then
   * nothing changes and the conflicts are returned. A credential of a revoked or expired pass is taken over.
   */
  putPass(
    pass: CompiledPass,
    hashes: readonly PassCredentialHash[],
    now: number,
  ): { conflicts: CredentialConflict[] };
  /** Merges use counts reported by the cloud into the grow-only counters (max per device). */
  mergeUses(passId: string, uses: Readonly<Record<string, number>>): void;
  removePassesNotIn(ids: ReadonlySet<string>): number;
  removeAccessGroupsNotIn(ids: ReadonlySet<string>): number;
  putAccessGroup(group: AccessGroup): 'added' | 'updated' | 'unchanged';
  /** Revokes a pass; final: the id stays revoked even if a later snapshot removes and re-adds it. */
  revokePass(id: string, now: number): boolean;
  /**
   * Revokes a pass on this device's own authority (`doorpass passes revoke`), even one not in the cache.
   * Recorded first in the journal with `event` (uploaded to the cloud so it can catch up), so it survives a
   * rebuilt cache: the store re-applies it at every open and no import or snapshot un-revokes it. Then the
   * cache. `inCache`: the pass is cached; `first`: not revoked locally before (only then is `event` written).
   */
  revokeLocally(id: string, now: number, event: JournalEvent): { inCache: boolean; first: boolean };
  listPasses(query: PassQuery): PassRow[];
  listEvents(limit: number): JournalEvent[];
  counts(): { passes: number; events: number; accessGroups: number };

  /** Passes valid now and not revoked. */
  activeCount(now: number): number;

  /**
   * Small persistent settings. Keys starting `sync.` or `cache.` (the recorded sync seq) live with the pass
   * cache and roll back with it; every other key (the outbox upload marker, state that must survive) lives
   * in the journal.
   */
  getMeta(key: string): string | undefined;
  setMeta(key: string, value: string): void;

  /** Events not yet acknowledged by the broker, oldest first. */
  outboxPeek(limit: number): { seq: number; event: Record<string, unknown> }[];
  outboxDepth(): number;
  /** Marks events up to `upToSeq` uploaded; keeps the newest `keepUploaded` of them as local history. */
  outboxAck(upToSeq: number, keepUploaded: number): void;
  /**
   * Drops the oldest un-uploaded events beyond `maxEvents`; returns how many were dropped and the sum of the
   * `count`s of the device.outbox_dropped events among them (drops they reported that would go unreported).
   */
  outboxTrim(maxEvents: number): { dropped: number; carried: number };

  /**
   * Staged replacement of the pass tables (a snapshot, a large import): a stage is an empty shadow copy of
   * the passes and their credential hashes, filled in small transactions while the live tables keep
   * deciding, then swapped in by one short transaction. Nothing but hashes and redacted documents is ever
   * staged. Returns the stage's token.
   */
  beginStage(): string;
  stageHead(token: string, id: string): PassHead | undefined;
  /** putPass into the stage (same rules, judged among the staged passes). */
  stagePass(
    token: string,
    pass: CompiledPass,
    hashes: readonly PassCredentialHash[],
    now: number,
  ): { conflicts: CredentialConflict[] };
  /** Copies one live pass as it is into the stage; false if there is no such live pass. */
  stageKeepLive(token: string, id: string): boolean;
  /** Copies the next `limit` live passes after id `after` ('' first); the last id copied, null when done. */
  stageCopyLive(token: string, after: string, limit: number): string | null;
  /** How many times the live passes changed (a stage that copied them checks it at the swap). */
  changeCount(): number;
  /**
   * Swaps the stage in (one short transaction): applies the recorded revocations to it, records `revoked`,
   * runs `then` in the same transaction. False (nothing changed) if `expectChanges` no longer holds.
   */
  swapStage(
    token: string,
    options: {
      readonly now: number;
      readonly revoked: readonly string[];
      readonly expectChanges?: number;
      readonly replace?: boolean;
    },
    then?: () => void,
  ): boolean;
  /** Gives a stage up (cleanupStep removes its tables). */
  dropStage(token: string): void;
  /** One short step of removing swapped-out and given-up tables; true while more remains. */
  cleanupStep(limit: number): boolean;
  /** Checkpoints and truncates the cache's WAL, waiting at most waitMs for readers. */
  checkpointCache(waitMs: number): void;

  /** The stored result of a cloud command already executed, if any (at most once by id). */
  commandResult(id: string): string | undefined;
  recordCommand(id: string, at: number, result: string): void;

  /** Whether each file is as it was, or was rebuilt after corruption. */
  health(): StoreHealth;
  /** Corruption found at open (or by checkAndRepair) and not yet journalled; taking clears the list. */
  takeIncidents(): StoreIncident[];
  /** Classifies an error thrown by a store method. */
  failureKind(err: unknown): StoreFailureKind | undefined;
  /** After a 'corrupt' failure: checks both files, rebuilds a corrupt one; returns what it found. */
  checkAndRepair(): StoreIncident[];
  close(): void;
}
