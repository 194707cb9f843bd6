/**
 * Pass sync with the cloud (docs/mqtt.md): ordered deltas on …/passes and full snapshots in parts on
 * …/devices/{device}/snapshot. The recorded seq lives in the database, in the same transaction as the
 * change it records, so a crash can never apply a delta twice or skip one.
 *
 * - seq <= recorded: a duplicate (QoS 1 redelivery); ignored.
 * - seq == recorded + 1: applied in one transaction.
 * - seq > recorded + 1: a gap; the delta is kept aside, a resync is requested, and after the snapshot
 *   swaps in, the deltas kept aside that follow it are applied in order.
 * A snapshot swaps the cache atomically once all its parts have arrived; a half-received snapshot changes
 * nothing. A snapshot older than the recorded seq is ignored.
 */
import type { PassPolicy } from '../protocol/pass.js';
import type { PassDelta, SnapshotPart } from '../protocol/mqtt.js';
import type { Clock, Logger } from '../ports/io.js';
import type { CredentialHasher, PassStore } from '../ports/store.js';
import { importSnapshot, type ImportReport } from './import.js';

const SEQ_KEY = 'sync.seq';
const MAX_PENDING_DELTAS = 1000;
/** A second resync request for the same gap waits this long (the cloud may be slow to answer). */
const RESYNC_RETRY_MS = 30_000;

export type DeltaOutcome = 'applied' | 'duplicate' | 'gap';

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
  private lastResync: { have: number; at: number } | undefined;

  constructor(
    private readonly store: PassStore,
    private readonly hasher: CredentialHasher,
    private readonly policy: () => PassPolicy,
    private readonly clock: Clock,
    private readonly log: Logger,
    /** Sends `{"have": seq}` on the sync request topic. */
    private readonly requestSync: (have: number) => void,
  ) {}

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
    if (delta.seq > recorded + 1) {
      this.counters.gaps++;
      if (this.pending.size < MAX_PENDING_DELTAS) this.pending.set(delta.seq, delta);
      this.log.warn({ seq: delta.seq, recorded }, 'pass sync gap; requesting a resync');
      this.requestResync();
      return 'gap';
    }
    this.applyDelta(delta);
    this.drainPending();
    return 'applied';
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

  /** Stages one part; when all parts of its seq are in, swaps the cache to the snapshot atomically. */
  onSnapshotPart(part: SnapshotPart, body: string): 'staged' | 'applied' | 'stale' | 'inconsistent' {
    if (part.seq < this.seq) {
      this.log.info({ seq: part.seq, recorded: this.seq }, 'snapshot older than the cache; ignored');
      return 'stale';
    }
    const held = this.store.stageSnapshotPart(part.seq, part.part, part.parts, body);
    if (held === 'inconsistent') {
      this.counters.snapshotsDiscarded++;
      this.log.warn(
        { seq: part.seq },
        'snapshot parts disagree on their count; discarded, requesting a resync',
      );
      this.requestResync(true);
      return 'inconsistent';
    }
    if (held < part.parts) return 'staged';
    this.applySnapshot(part.seq);
    return 'applied';
  }

  private applySnapshot(seq: number): void {
    const now = this.clock.now();
    const seen = { passes: new Set<string>(), groups: new Set<string>() };
    let rejected = 0;
    let removed = 0;
    this.store.atomically(() => {
      const parts = this.store.stagedSnapshotParts(seq);
      for (const p of parts) {
        const doc = JSON.parse(p.body) as { passes?: unknown[]; accessGroups?: unknown[] };
        const r = importSnapshot(
          this.store,
          this.hasher,
          { passes: doc.passes ?? [], accessGroups: doc.accessGroups ?? [] },
          { policy: this.policy(), now, seen },
        );
        rejected += r.rejected.length;
      }
      removed = this.store.removePassesNotIn(seen.passes);
      this.store.removeAccessGroupsNotIn(seen.groups);
      this.store.setMeta(SEQ_KEY, String(seq));
      this.store.clearStagedSnapshot();
    });
    this.counters.snapshotsApplied++;
    this.counters.passesRejected += rejected;
    this.counters.lastAppliedAt = now;
    this.log.info({ seq, passes: seen.passes.size, removed, rejected }, 'snapshot applied');
    this.drainPending();
  }

  private noteRejections(report: ImportReport | undefined, seq: number): void {
    if (report === undefined || report.rejected.length === 0) return;
    this.counters.passesRejected += report.rejected.length;
    for (const r of report.rejected.slice(0, 5)) {
      this.log.warn({ seq, pass: r.id, reasons: r.reasons }, 'pass from the cloud rejected');
    }
  }
}
