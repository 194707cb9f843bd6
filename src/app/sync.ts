/**
 * Pass sync with the cloud (docs/mqtt.md): ordered deltas on …/passes and full snapshots in parts on
 * …/devices/{device}/snapshot. The recorded seq lives in the database, in the same transaction as the
 * change it records, so a crash can never apply a delta twice or skip one.
 *
 * - seq <= recorded: a duplicate (QoS 1 redelivery); ignored.
 * - seq == recorded + 1: applied in one transaction.
 * - seq > recorded + 1: a gap; the delta is kept aside, a resync is requested, and after the snapshot
 *   swaps in, the deltas kept aside that follow it are applied in order.
 * A snapshot moves the state strictly forward: a part with seq <= the recorded one changes nothing, a part
 * older than the snapshot being received is ignored (it never disturbs it), a newer one replaces it (the
 * cloud moved on). Each part is validated, compiled and hashed as it arrives and staged (hashes and redacted
 * documents only; no credential value ever reaches a page) in chunks of STAGE_CHUNK passes, one short
 * transaction each, yielding to the event loop in between, so decisions and the MQTT keepalive go on. When
 * all parts are in, one short transaction swaps the stage in: the old state is in force until then; a
 * half-received snapshot changes nothing. Deltas arriving while a snapshot is being staged wait and apply
 * after the swap, in order.
 */
import type { PassPolicy } from '../protocol/pass.js';
import type { PassDelta, SnapshotPart } from '../protocol/mqtt.js';
import type { Clock, Logger } from '../ports/io.js';
import type { CredentialHasher, PassStore } from '../ports/store.js';
import { importSnapshot, STAGE_CHUNK, StagedImport, type ImportReport } from './import.js';

const SEQ_KEY = 'sync.seq';
/**
 * The highest seq this device ever applied, kept in the journal (a meta key outside `sync.`/`cache.`): a
 * cache rebuilt after corruption forgets its seq (it starts again at 0) but not this. Without it a rogue
 * broker client could answer the rebuilt panel's resync with a genuine snapshot (or replay genuine deltas)
 * captured a few hours earlier — young enough for `cloud.maxMessageAgeHours` — and roll it back to a state
 * in which a pass the cloud has since revoked opens again.
 */
export const APPLIED_SEQ_KEY = 'cloud.appliedSeq';
const MAX_PENDING_DELTAS = 1000;
/** A second resync request for the same gap waits this long (the cloud may be slow to answer). */
const RESYNC_RETRY_MS = 30_000;

/** 'queued': a snapshot is being staged; the delta applies after its swap. */
export type DeltaOutcome = 'applied' | 'duplicate' | 'gap' | 'queued';

/** A snapshot being received: parts arrive (any order), are staged one chunk at a time, then swapped in. */
interface SnapshotJob {
  readonly seq: number;
  readonly parts: number;
  readonly received: Set<number>;
  /** Parts received, not yet (fully) staged; `cursor` is the next pass of the first. */
  readonly queue: SnapshotPart[];
  cursor: number;
  readonly staged: StagedImport;
}

/** Work per turn of the event loop: one chunk (about STAGE_CHUNK passes), then setImmediate. */
const CLEANUP_CHUNK = 100;

export interface SyncCounters {
  deltasApplied: number;
  duplicates: number;
  gaps: number;
  snapshotsApplied: number;
  snapshotsDiscarded: number;
  passesRejected: number;
  lastAppliedAt: number | null;
}

export class PassSync {
  readonly counters: SyncCounters = {
    deltasApplied: 0,
    duplicates: 0,
    gaps: 0,
    snapshotsApplied: 0,
    snapshotsDiscarded: 0,
    passesRejected: 0,
    lastAppliedAt: null,
  };
  private readonly pending = new Map<number, PassDelta>();
  private job: SnapshotJob | undefined;
  private cleaning = false;
  private scheduled = false;
  private idleWaiters: (() => void)[] = [];
  private lastResync: { have: number; at: number } | undefined;

  constructor(
    private readonly store: PassStore,
    private readonly hasher: CredentialHasher,
    private readonly policy: () => PassPolicy,
    private readonly clock: Clock,
    private readonly log: Logger,
    /** Sends `{"have": seq}` on the sync request topic. */
    private readonly requestSync: (have: number) => void,
  ) {
    // A device upgraded from a version without the mark starts it at the seq its cache holds.
    this.noteApplied(this.seq);
  }

  /** The highest seq ever applied (the journal's mark; 0 before any). */
  get appliedSeq(): number {
    return Number(this.store.getMeta(APPLIED_SEQ_KEY) ?? '0');
  }

  private noteApplied(seq: number): void {
    try {
      if (seq > this.appliedSeq) this.store.setMeta(APPLIED_SEQ_KEY, String(seq));
    } catch (err) {
      // The cache has the change already; the mark only guards against rollback and is raised next time.
      this.log.warn({ err, seq }, 'could not record the applied seq in the journal');
    }
  }

  /** The seq of the last change applied (0 before any). */
  get seq(): number {
    return Number(this.store.getMeta(SEQ_KEY) ?? '0');
  }

  /** Asks the cloud for the state after our seq (at start, after a gap, on a resync command). */
  requestResync(force = false): void {
    const now = this.clock.monotonic();
    const have = this.seq;
    // The same request again within RESYNC_RETRY_MS is spared (a burst of deltas after one gap); a request
    // from a different position, or a forced one (connect, resync command), always goes out.
    const last = this.lastResync;
    if (!force && last !== undefined && last.have === have && now - last.at < RESYNC_RETRY_MS) return;
    this.lastResync = { have, at: now };
    this.requestSync(have);
  }

  onDelta(delta: PassDelta): DeltaOutcome {
    const recorded = this.seq;
    if (delta.seq <= recorded) {
      this.counters.duplicates++;
      return 'duplicate';
    }
    if (recorded < this.appliedSeq) {
      // The cache is behind what this device once applied (rebuilt after corruption, or its last commits lost
      // with the power): an old delta on it would bring back what later changes removed. Only a snapshot at
      // or past the mark can restore the state; the delta waits beside it.
      this.counters.gaps++;
      this.keepAside(delta);
      this.log.warn(
        { seq: delta.seq, recorded, applied: this.appliedSeq },
        'pass delta on a cache behind the applied seq; requesting a resync',
      );
      this.requestResync();
      return 'gap';
    }
    if (this.staging) {
      // Applied after the swap, in order (drainPending); one at or below the snapshot's seq is dropped then.
      this.keepAside(delta);
      return 'queued';
    }
    if (delta.seq > recorded + 1) {
      this.counters.gaps++;
      this.keepAside(delta);
      this.log.warn({ seq: delta.seq, recorded }, 'pass sync gap; requesting a resync');
      this.requestResync();
      return 'gap';
    }
    this.applyDelta(delta);
    this.drainPending();
    return 'applied';
  }

  /**
   * Keeps a delta aside until the state reaches the seq before it. The set is bounded: when it is full, the
   * lowest seq gives way to a higher one. A rogue broker client can fill it by replaying genuine deltas it
   * captured earlier (seqs the coming snapshot already covers), but never with one newer than the cloud's
   * latest: keeping the highest seqs keeps the cloud's newest change (a revocation made while the snapshot
   * was on its way), which nothing else would bring back until the next change.
   */
  private keepAside(delta: PassDelta): void {
    if (this.pending.has(delta.seq) || this.pending.size < MAX_PENDING_DELTAS) {
      this.pending.set(delta.seq, delta);
      return;
    }
    let lowest = delta.seq;
    for (const s of this.pending.keys()) if (s < lowest) lowest = s;
    if (lowest === delta.seq) return;
    this.pending.delete(lowest);
    this.pending.set(delta.seq, delta);
  }

  private applyDelta(delta: PassDelta): void {
    const now = this.clock.now();
    let report: ImportReport | undefined;
    this.store.atomically(() => {
      report = importSnapshot(
        this.store,
        this.hasher,
        { passes: delta.upsert, accessGroups: delta.accessGroups ?? [] },
        { policy: this.policy(), now },
      );
      for (const id of delta.revoke) this.store.revokePass(id, now);
      this.store.setMeta(SEQ_KEY, String(delta.seq));
    });
    this.noteApplied(delta.seq);
    this.counters.deltasApplied++;
    this.counters.lastAppliedAt = now;
    this.noteRejections(report, delta.seq);
    this.log.info(
      {
        seq: delta.seq,
        upserts: delta.upsert.length,
        revokes: delta.revoke.length,
        rejected: report?.rejected.length ?? 0,
      },
      'pass delta applied',
    );
  }

  private drainPending(): void {
    for (;;) {
      const next = this.pending.get(this.seq + 1);
      for (const s of [...this.pending.keys()]) if (s <= this.seq) this.pending.delete(s);
      if (next === undefined) return;
      this.pending.delete(next.seq);
      this.applyDelta(next);
    }
  }

  /** Whether a snapshot's parts are being staged (work queued). */
  get staging(): boolean {
    return this.job !== undefined && this.job.queue.length > 0;
  }

  /** The seq of the snapshot being received, if any. */
  get receiving(): number | undefined {
    return this.job?.seq;
  }

  /**
   * Takes one snapshot part: stages it (at once if it is small, else over the next turns of the event loop)
   * and, when it completes the snapshot, swaps the cache to it. 'applied' when that happened before this
   * returns; 'staged' otherwise (including the work still in progress).
   */
  onSnapshotPart(part: SnapshotPart): 'staged' | 'applied' | 'stale' | 'inconsistent' {
    const recorded = this.seq;
    if (part.seq <= recorded) {
      this.log.info({ seq: part.seq, recorded }, 'snapshot not newer than the cache; ignored');
      return 'stale';
    }
    const applied = this.appliedSeq;
    if (part.seq < applied) {
      // A rebuilt cache: a snapshot older than what this device once applied would roll it back.
      this.log.warn(
        { seq: part.seq, recorded, applied, reason: 'stale' },
        'snapshot older than the seq this device already applied (journal); ignored',
      );
      return 'stale';
    }
    let job = this.job;
    if (job !== undefined && part.seq < job.seq) {
      this.log.info(
        { seq: part.seq, receiving: job.seq },
        'snapshot older than the one being received; ignored',
      );
      return 'stale';
    }
    if (job !== undefined && part.seq > job.seq) {
      this.log.info({ seq: job.seq, newer: part.seq }, 'snapshot being received replaced by a newer one');
      this.discard(job);
      job = undefined;
    }
    if (job === undefined) {
      const staged = new StagedImport(this.store, this.hasher, {
        policy: this.policy(),
        now: this.clock.now(),
        replace: true,
      });
      staged.begin();
      job = { seq: part.seq, parts: part.parts, received: new Set(), queue: [], cursor: 0, staged };
      this.job = job;
      this.log.info({ seq: part.seq, parts: part.parts, recorded }, 'snapshot receiving');
    }
    if (part.parts !== job.parts) {
      this.counters.snapshotsDiscarded++;
      this.log.warn(
        { seq: part.seq },
        'snapshot parts disagree on their count; discarded, requesting a resync',
      );
      this.discard(job);
      this.requestResync(true);
      return 'inconsistent';
    }
    if (job.received.has(part.part)) return 'staged'; // a redelivery
    job.received.add(part.part);
    const waiting = job.queue.length > 0;
    job.queue.push(part);
    // Nothing being staged: start at once (a small snapshot completes before this returns). Staging: the
    // scheduled turn goes on with it, so one message never adds a second chunk to the turn it arrived in.
    if (!waiting) this.pump();
    return this.job === undefined && this.seq === part.seq ? 'applied' : 'staged';
  }

  /** Resolves once no snapshot work and no cleanup is pending (tests, benchmarks, shutdown). */
  idle(): Promise<void> {
    if (!this.busy()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Removes tables left behind (by an earlier swap, or a process that died while staging), in chunks. */
  collectGarbage(): void {
    this.cleaning = true;
    this.schedule();
  }

  private busy(): boolean {
    return (
      this.staging || this.cleaning || (this.job !== undefined && this.job.received.size === this.job.parts)
    );
  }

  private discard(job: SnapshotJob): void {
    job.staged.abandon();
    if (this.job === job) this.job = undefined;
    this.cleaning = true;
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  /** One turn of work: one chunk of staging, or the swap, or one chunk of cleanup. */
  private pump(): void {
    try {
      this.step();
    } catch (err) {
      // The store failed (disk full, corruption): the snapshot is given up; the cloud resends it on the next
      // resync, and nothing changed in between.
      this.log.error({ err: (err as Error).message }, 'snapshot staging failed; discarded');
      if (this.job !== undefined) this.discard(this.job);
      this.cleaning = false;
    }
    if (this.busy()) this.schedule();
    else for (const w of this.idleWaiters.splice(0)) w();
  }

  private step(): void {
    const job = this.job;
    const part = job?.queue[0];
    if (job !== undefined && part !== undefined) {
      if (job.cursor === 0) job.staged.addGroups(part.accessGroups);
      job.cursor = job.staged.passStep(part.passes, job.cursor, STAGE_CHUNK);
      if (job.cursor >= part.passes.length) {
        job.queue.shift();
        job.cursor = 0;
      }
      // A small snapshot (every part in, little left) completes in the same turn.
      if (job.queue.length > 0) return;
      if (job.received.size < job.parts) {
        // Waiting for more parts: deltas kept while staging apply now (the swap will not roll them back).
        this.drainPending();
        return;
      }
    }
    if (job !== undefined && job.queue.length === 0 && job.received.size === job.parts) {
      this.swap(job);
      return;
    }
    if (this.cleaning && !this.store.cleanupStep(CLEANUP_CHUNK)) {
      this.cleaning = false;
      // Big applies and cleanups grow the WAL: check it back (without waiting for readers).
      this.store.checkpointCache(0);
    }
  }

  private swap(job: SnapshotJob): void {
    this.job = undefined;
    this.cleaning = true;
    if (job.seq <= this.seq) {
      // A delta moved past it while it was received: it would roll the state back.
      job.staged.abandon();
      return;
    }
    const now = this.clock.now();
    job.staged.swap(() => this.store.setMeta(SEQ_KEY, String(job.seq)));
    this.noteApplied(job.seq);
    const r = job.staged.report;
    this.counters.snapshotsApplied++;
    this.counters.passesRejected += r.rejected.length;
    this.counters.lastAppliedAt = now;
    this.log.info(
      {
        seq: job.seq,
        passes: r.added + r.updated + r.ignored,
        removed: r.removed,
        rejected: r.rejected.length,
      },
      'snapshot applied',
    );
    this.drainPending();
    // Deltas kept aside beyond a gap (one given way when the set was full): ask for what is missing now
    // rather than at the cloud's next change.
    if (this.pending.size > 0) this.requestResync();
  }

  private noteRejections(report: ImportReport | undefined, seq: number): void {
    if (report === undefined || report.rejected.length === 0) return;
    this.counters.passesRejected += report.rejected.length;
    for (const r of report.rejected.slice(0, 5)) {
      this.log.warn({ seq, pass: r.id, reasons: r.reasons }, 'pass from the cloud rejected');
    }
  }
}
