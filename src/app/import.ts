/**
 * Applying a snapshot (`passes import`, the cloud's deltas and full state) to the pass cache. Each pass is
 * judged on its own: a bad pass is rejected with its reason, the others apply.
 *
 * importSnapshot applies in one transaction (small sets: deltas, tests). StagedImport and
 * importSnapshotStaged apply a large set without ever holding the cache's write lock or the event loop for
 * more than one small chunk: passes are validated, compiled and hashed first, written (hashes and redacted
 * documents only) into a stage in small transactions, and swapped in by one short transaction. The old
 * state is in force until the swap.
 */
import { DoorpassError, ErrorCode } from '../core/errors.js';
import {
  accessGroupSchema,
  compilePass,
  formatIssues,
  passSchema,
  snapshotShape,
  unknownPassFields,
  type PassPolicy,
} from '../protocol/pass.js';
import type { AccessGroup, CompiledPass } from '../protocol/pass.js';
import type { CredentialHasher, PassStore } from '../ports/store.js';

export interface Rejection {
  /** Index in the snapshot's `passes` (or `accessGroups`) array. */
  readonly index: number;
  readonly id: string | null;
  readonly what: 'pass' | 'accessGroup';
  readonly reasons: readonly string[];
}

export interface ImportReport {
  added: number;
  updated: number;
  ignored: number;
  removed: number;
  rejected: Rejection[];
  groups: { added: number; updated: number; unchanged: number; removed: number };
  /** Fields this version does not know, ignored (the cloud may be newer than the door). */
  unknownFields: { count: number; examples: string[] };
}

export interface ImportOptions {
  readonly policy: PassPolicy;
  readonly now: number;
  /** Remove passes that the snapshot does not contain (a full-state swap). */
  readonly replace?: boolean;
  /**
   * Ids seen so far, for a snapshot applied in several calls (parts): pass the same sets to each call and
   * remove what is not in them at the end. A pass id appearing in two parts counts as a duplicate.
   */
  readonly seen?: { readonly passes: Set<string>; readonly groups: Set<string> };
}

function idOf(raw: unknown): string | null {
  if (typeof raw === 'object' && raw !== null && 'id' in raw && typeof raw.id === 'string') return raw.id;
  return null;
}

/** Validates the top level of a snapshot; throws snapshot.invalid when it is not one. */
export function parseSnapshotShape(
  raw: unknown,
  source: string,
): { passes: unknown[]; accessGroups: unknown[] } {
  const r = snapshotShape.safeParse(raw);
  if (!r.success) {
    throw new DoorpassError(
      ErrorCode.SnapshotInvalid,
      `${source} is not a snapshot: ${formatIssues(r.error).join('; ')}`,
    );
  }
  return { passes: r.data.passes, accessGroups: r.data.accessGroups ?? [] };
}

/** The part of a pass's judgement that needs no store: duplicate id, schema, unknown fields, compile. */
function judgePass(
  raw: unknown,
  index: number,
  seen: Set<string>,
  report: ImportReport,
  policy: PassPolicy,
): { compiled: CompiledPass } | { errors: readonly string[]; duplicate?: true } {
  const rawId = idOf(raw);
  if (rawId !== null && seen.has(rawId))
    return { errors: [`id: pass "${rawId}" appears more than once in this snapshot`], duplicate: true };
  if (rawId !== null) seen.add(rawId);
  const parsed = passSchema.safeParse(raw);
  if (!parsed.success) return { errors: formatIssues(parsed.error) };
  const unknown = unknownPassFields(raw);
  if (unknown.length > 0) {
    report.unknownFields.count += unknown.length;
    for (const u of unknown)
      if (report.unknownFields.examples.length < 5)
        report.unknownFields.examples.push(`passes[${index}].${u}`);
  }
  const compiled = compilePass(parsed.data, policy);
  if ('errors' in compiled) return { errors: compiled.errors };
  return { compiled };
}

export function importSnapshot(
  store: PassStore,
  hasher: CredentialHasher,
  snapshot: { passes: readonly unknown[]; accessGroups: readonly unknown[] },
  options: ImportOptions,
): ImportReport {
  const report = emptyReport();
  // Ids present in the snapshot, valid or not: --replace never removes a pass because its update was bad.
  const seen = options.seen?.passes ?? new Set<string>();
  const seenGroups = options.seen?.groups ?? new Set<string>();
  store.atomically(() => {
    snapshot.accessGroups.forEach((raw, index) => {
      const rawId = idOf(raw);
      if (rawId !== null) seenGroups.add(rawId);
      const g = accessGroupSchema.safeParse(raw);
      if (!g.success) {
        report.rejected.push({ index, id: idOf(raw), what: 'accessGroup', reasons: formatIssues(g.error) });
        return;
      }
      report.groups[store.putAccessGroup(g.data)]++;
    });
    snapshot.passes.forEach((raw, index) => {
      const rawId = idOf(raw);
      const reject = (reasons: readonly string[]): void => {
        report.rejected.push({ index, id: rawId, what: 'pass', reasons });
      };
      const judged = judgePass(raw, index, seen, report, options.policy);
      if ('errors' in judged) return reject(judged.errors);
      const { compiled } = judged;
      const doc = compiled.doc;
      const head = store.passHead(doc.id);
      if (head !== undefined && doc.version <= head.version) {
        // The pass is not replaced, but use counts are a grow-only counter: merging them is always safe.
        if (doc.uses) store.mergeUses(doc.id, doc.uses);
        report.ignored++;
        return;
      }
      const hashes = compiled.credentials.map((c) => ({ type: c.type, hash: hasher.hash(c.type, c.value) }));
      const { conflicts } = store.putPass(compiled, hashes, options.now);
      if (conflicts.length > 0) {
        return reject(
          conflicts.map((c) => `credentials: this ${c.type} is already used by live pass "${c.passId}"`),
        );
      }
      if (head === undefined) report.added++;
      else report.updated++;
    });
    if (options.replace) {
      report.removed = store.removePassesNotIn(seen);
      report.groups.removed = store.removeAccessGroupsNotIn(seenGroups);
    }
  });
  return report;
}

function emptyReport(): ImportReport {
  return {
    added: 0,
    updated: 0,
    ignored: 0,
    removed: 0,
    rejected: [],
    groups: { added: 0, updated: 0, unchanged: 0, removed: 0 },
    unknownFields: { count: 0, examples: [] },
  };
}

export interface StagedImportOptions {
  readonly policy: PassPolicy;
  readonly now: number;
  /**
   * The set is the whole state (a snapshot, `import --replace`): the stage starts empty and live passes it
   * does not name are gone after the swap. Otherwise the stage starts as a copy of the live passes
   * (copyStep) and the swap happens only if they did not change meanwhile.
   */
  readonly replace: boolean;
  /**
   * Swap a replace only if the live passes did not change since begin() (a non-replace always checks):
   * for `passes import --replace` beside a running daemon, whose cloud deltas applied meanwhile the swap
   * would otherwise roll back while the sync position still counts them. Not for a cloud snapshot: the
   * deltas applied while it is received are older than it, and it contains them.
   */
  readonly expectUnchanged?: boolean;
}

/**
 * One staged application (see the module comment). Call begin(), copyStep() until false (not replace),
 * addGroups()/passStep() for the content, then swap(); or abandon(). Every step is one short transaction.
 */
export class StagedImport {
  readonly report: ImportReport = emptyReport();
  private readonly seen = new Set<string>();
  private readonly seenGroups = new Set<string>();
  private readonly groups: AccessGroup[] = [];
  private readonly revoked: string[] = [];
  private token: string | undefined;
  private changes: number | undefined;
  private copyAfter: string | null = '';
  /** Live passes the set names (for the count of passes a replace removes). */
  private liveSeen = 0;

  constructor(
    private readonly store: PassStore,
    private readonly hasher: CredentialHasher,
    private readonly options: StagedImportOptions,
  ) {}

  begin(): void {
    this.token = this.store.beginStage();
    if (!this.options.replace || this.options.expectUnchanged === true)
      this.changes = this.store.changeCount();
    if (this.options.replace) this.copyAfter = null;
  }

  private get stage(): string {
    if (this.token === undefined) throw new Error('StagedImport: begin() first');
    return this.token;
  }

  /** Copies the next `limit` live passes into the stage (not replace); true while more remain. */
  copyStep(limit: number): boolean {
    if (this.copyAfter === null) return false;
    const after = this.copyAfter;
    this.copyAfter = this.store.atomically(() => this.store.stageCopyLive(this.stage, after, limit), 'cache');
    return this.copyAfter !== null;
  }

  /** Validates access groups (applied live at the swap: they are few). */
  addGroups(raws: readonly unknown[]): void {
    raws.forEach((raw, index) => {
      const rawId = idOf(raw);
      if (rawId !== null) this.seenGroups.add(rawId);
      const g = accessGroupSchema.safeParse(raw);
      if (!g.success) {
        this.report.rejected.push({ index, id: rawId, what: 'accessGroup', reasons: formatIssues(g.error) });
        return;
      }
      this.groups.push(g.data);
    });
  }

  /**
   * Validates, compiles and hashes `raws[from, from + limit)` (nothing is written before that), then stages
   * them in one cache transaction. Returns the index to continue from.
   */
  passStep(raws: readonly unknown[], from: number, limit: number): number {
    const end = Math.min(raws.length, from + limit);
    const ready: {
      index: number;
      id: string | null;
      compiled?: CompiledPass;
      reasons?: readonly string[];
      duplicate?: boolean;
    }[] = [];
    for (let index = from; index < end; index++) {
      const raw = raws[index];
      const id = idOf(raw);
      const r = judgePass(raw, index, this.seen, this.report, this.options.policy);
      ready.push(
        'errors' in r
          ? { index, id, reasons: r.errors, duplicate: r.duplicate === true }
          : { index, id, compiled: r.compiled },
      );
    }
    const { replace, now } = this.options;
    this.store.atomically(() => {
      for (const r of ready) {
        if (r.compiled === undefined) {
          this.report.rejected.push({ index: r.index, id: r.id, what: 'pass', reasons: r.reasons ?? [] });
          // A replace never removes a pass because its update was bad: the live one stays.
          if (replace && r.id !== null && r.duplicate !== true) {
            if (this.store.stageKeepLive(this.stage, r.id)) this.liveSeen++;
          }
          continue;
        }
        const { doc } = r.compiled;
        const head = replace ? this.store.passHead(doc.id) : this.store.stageHead(this.stage, doc.id);
        if (replace && head !== undefined) this.liveSeen++;
        if (head !== undefined && doc.version <= head.version) {
          if (doc.uses) this.store.mergeUses(doc.id, doc.uses);
          if (replace) this.store.stageKeepLive(this.stage, doc.id);
          this.report.ignored++;
          continue;
        }
        const hashes = r.compiled.credentials.map((c) => ({
          type: c.type,
          hash: this.hasher.hash(c.type, c.value),
        }));
        const { conflicts } = this.store.stagePass(this.stage, r.compiled, hashes, now);
        if (conflicts.length > 0) {
          this.report.rejected.push({
            index: r.index,
            id: doc.id,
            what: 'pass',
            reasons: conflicts.map(
              (c) => `credentials: this ${c.type} is already used by live pass "${c.passId}"`,
            ),
          });
          if (replace) this.store.stageKeepLive(this.stage, doc.id);
          continue;
        }
        if (r.compiled.rule.revoked) this.revoked.push(doc.id);
        if (head === undefined) this.report.added++;
        else this.report.updated++;
      }
    }, 'cache');
    return end;
  }

  /**
   * Swaps the stage in (one short transaction; `then` runs inside it). False when the live passes changed
   * since a non-replace stage copied them: nothing changed, the stage is given up, start over.
   */
  swap(then: () => void = () => undefined): boolean {
    const { replace, now } = this.options;
    const liveBefore = replace ? this.store.counts().passes : 0;
    const ok = this.store.swapStage(
      this.stage,
      {
        now,
        revoked: this.revoked,
        replace,
        ...(this.changes !== undefined && { expectChanges: this.changes }),
      },
      () => {
        for (const g of this.groups) this.report.groups[this.store.putAccessGroup(g)]++;
        if (replace) this.report.groups.removed = this.store.removeAccessGroupsNotIn(this.seenGroups);
        then();
      },
    );
    if (!ok) this.abandon();
    else if (replace) this.report.removed = Math.max(0, liveBefore - this.liveSeen);
    return ok;
  }

  /** Gives the stage up (its tables are removed by the store's cleanupStep). */
  abandon(): void {
    if (this.token !== undefined) this.store.dropStage(this.token);
  }
}

/**
 * Passes validated, hashed and staged per transaction: ~4 ms of work here (~100 µs a pass), a few tens of
 * ms on a small ARM board, well inside the 100 ms a decision may wait.
 */
export const STAGE_CHUNK = 40;
const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * importSnapshot through a stage, for a large file (`passes import`): never holds the cache's write lock
 * for more than one chunk, yields between chunks, and stays atomic (the old state is in force until the
 * swap). A non-replace import copies the live passes first; either kind starts over (up to `attempts`
 * times) if the live passes change meanwhile (a cloud delta applied by the daemon is never rolled back).
 */
export async function importSnapshotStaged(
  store: PassStore,
  hasher: CredentialHasher,
  snapshot: { passes: readonly unknown[]; accessGroups: readonly unknown[] },
  options: ImportOptions & { readonly chunk?: number; readonly attempts?: number },
): Promise<ImportReport> {
  const chunk = options.chunk ?? STAGE_CHUNK;
  const attempts = options.attempts ?? 5;
  for (let attempt = 1; ; attempt++) {
    const job = new StagedImport(store, hasher, {
      policy: options.policy,
      now: options.now,
      replace: options.replace === true,
      expectUnchanged: true,
    });
    try {
      job.begin();
      while (job.copyStep(chunk * 5)) await yieldToLoop();
      job.addGroups(snapshot.accessGroups);
      for (let i = 0; i < snapshot.passes.length;) {
        i = job.passStep(snapshot.passes, i, chunk);
        await yieldToLoop();
      }
      if (job.swap()) {
        while (store.cleanupStep(chunk * 5)) await yieldToLoop();
        store.checkpointCache(1000);
        return job.report;
      }
    } catch (e) {
      job.abandon();
      while (store.cleanupStep(chunk * 5)) await yieldToLoop();
      throw e;
    }
    while (store.cleanupStep(chunk * 5)) await yieldToLoop();
    if (attempt >= attempts) {
      throw new DoorpassError(
        ErrorCode.StoreUnavailable,
        `the pass cache kept changing while the import was staged (${attempts} attempts); nothing was imported, try again`,
      );
    }
  }
}
