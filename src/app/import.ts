/**
 * Applying a snapshot (`passes import`, and later the cloud's full state) to the pass cache in one
 * transaction. Each pass is judged on its own: a bad pass is rejected with its reason, the others apply.
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

export function importSnapshot(
  store: PassStore,
  hasher: CredentialHasher,
  snapshot: { passes: readonly unknown[]; accessGroups: readonly unknown[] },
  options: ImportOptions,
): ImportReport {
  const report: ImportReport = {
    added: 0,
    updated: 0,
    ignored: 0,
    removed: 0,
    rejected: [],
    groups: { added: 0, updated: 0, unchanged: 0, removed: 0 },
    unknownFields: { count: 0, examples: [] },
  };
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
      if (rawId !== null && seen.has(rawId))
        return reject([`id: pass "${rawId}" appears more than once in this snapshot`]);
      if (rawId !== null) seen.add(rawId);
      const parsed = passSchema.safeParse(raw);
      if (!parsed.success) return reject(formatIssues(parsed.error));
      const unknown = unknownPassFields(raw);
      if (unknown.length > 0) {
        report.unknownFields.count += unknown.length;
        for (const u of unknown)
          if (report.unknownFields.examples.length < 5)
            report.unknownFields.examples.push(`passes[${index}].${u}`);
      }
      const doc = parsed.data;
      const compiled = compilePass(doc, options.policy);
      if ('errors' in compiled) return reject(compiled.errors);
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
