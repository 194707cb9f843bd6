/**
 * The pass cache and event outbox in one SQLite file (better-sqlite3, WAL).
 *
 * Durability: WAL with synchronous=FULL, so a committed access (use count + event) survives power loss;
 * busy_timeout lets the CLI and the daemon share the file. The hot path is one prepared statement.
 */
import Database from 'better-sqlite3';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import type { PassRule } from '../../core/decide.js';
import { DoorpassError, ErrorCode } from '../../core/errors.js';
import { eventFromJson, eventToJson, type JournalEvent } from '../../core/events.js';
import type { Schedule } from '../../core/schedule.js';
import type { AccessGroup, CompiledPass } from '../../protocol/pass.js';
import { compileSchedule } from '../../protocol/pass.js';
import type {
  CredentialConflict,
  CredentialHash,
  PassCredentialHash,
  CredentialMatch,
  PassHead,
  PassQuery,
  PassRow,
  PassStore,
} from '../../ports/store.js';
import { MIGRATIONS } from './schema.js';

export const DATABASE_FILE = 'doorpass.db';

/** Thrown inside the put transaction to roll it back when a credential belongs to another live pass. */
class ConflictRollback extends Error {
  constructor(readonly conflicts: CredentialConflict[]) {
    super('credential conflict');
  }
}

export interface SqliteStoreOptions {
  /** 'FULL' (default) fsyncs every commit; 'NORMAL' may lose the last commits on power loss. */
  readonly synchronous?: 'FULL' | 'NORMAL';
  readonly busyTimeoutMs?: number;
  readonly readonly?: boolean;
}

interface MatchRow {
  id: string;
  revoked: number;
  rule: string;
  own: number;
  others: number;
  access_group: string | null;
  group_schedule: string | null;
}

interface PassDbRow {
  id: string;
  version: number;
  kind: string;
  name: string;
  revoked: number;
  valid_from: number;
  valid_until: number;
  rule: string;
  doc: string;
  uses: string | null;
}

/** Removes credential values from a pass document; keeps their types (for listing). */
function redactDoc(doc: CompiledPass['doc']): Record<string, unknown> {
  const { credentials, uses: _uses, ...rest } = doc;
  return { ...rest, credentials: credentials.map((c) => ({ type: c.type })) };
}

function searchText(doc: CompiledPass['doc']): string {
  return [
    doc.name,
    doc.issuer.name,
    doc.issuer.unit,
    doc.recipient?.name,
    doc.recipient?.email,
    doc.recipient?.phone,
    doc.apartment,
    doc.building,
  ]
    .filter((s): s is string => typeof s === 'string' && s.length > 0)
    .join('\n')
    .toLowerCase();
}

export class SqlitePassStore implements PassStore {
  readonly db: Database.Database;
  private readonly stmts;
  private readonly runTx: Database.Transaction<(fn: () => unknown) => unknown>;
  private readonly putTx: Database.Transaction<
    (pass: CompiledPass, hashes: readonly PassCredentialHash[], now: number, existed: boolean) => void
  >;

  constructor(
    readonly file: string,
    options: SqliteStoreOptions = {},
  ) {
    try {
      if (!options.readonly) {
        mkdirSync(path.dirname(file), { recursive: true, mode: 0o750 });
        // Not world-readable: the journal says who came and went. SQLite gives -wal/-shm the same mode.
        closeSync(openSync(file, 'a', 0o600));
      }
      this.db = new Database(file, {
        readonly: options.readonly ?? false,
        fileMustExist: options.readonly ?? false,
      });
      this.db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
      if (!options.readonly) {
        this.db.pragma('journal_mode = WAL');
        this.db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
      }
      this.db.pragma('foreign_keys = ON');
      // 16 MiB page cache (default 2 MiB): credential hashes are random keys, so a bulk import touches
      // pages all over the index.
      this.db.pragma('cache_size = -16384');
      if (!options.readonly) this.migrate();
    } catch (e) {
      throw new DoorpassError(
        ErrorCode.StoreUnavailable,
        `cannot open database ${file}: ${(e as Error).message}`,
        [],
        {
          cause: e,
        },
      );
    }
    const db = this.db;
    this.stmts = {
      match: db.prepare<[{ device: string; hash: CredentialHash }], MatchRow>(`
        SELECT p.id, p.revoked, p.rule, p.access_group_id AS access_group,
          coalesce((SELECT count FROM pass_uses u WHERE u.pass_id = p.id AND u.device_id = @device), 0) AS own,
          coalesce((SELECT sum(count) FROM pass_uses u WHERE u.pass_id = p.id AND u.device_id <> @device), 0) AS others,
          g.schedule AS group_schedule
        FROM credentials c JOIN passes p ON p.id = c.pass_id
        LEFT JOIN access_groups g ON g.id = p.access_group_id
        WHERE c.hash = @hash`),
      countUse: db.prepare<[string, string]>(`
        INSERT INTO pass_uses (pass_id, device_id, count) VALUES (?, ?, 1)
        ON CONFLICT (pass_id, device_id) DO UPDATE SET count = count + 1`),
      mergeUse: db.prepare<[string, string, number]>(`
        INSERT INTO pass_uses (pass_id, device_id, count) VALUES (?, ?, ?)
        ON CONFLICT (pass_id, device_id) DO UPDATE SET count = max(count, excluded.count)`),
      appendEvent: db.prepare<[string, number, string, string]>(
        'INSERT INTO events (id, at, type, body) VALUES (?, ?, ?, ?)',
      ),
      head: db.prepare<[string], { version: number; revoked: number; valid_until: number }>(
        'SELECT version, revoked, valid_until FROM passes WHERE id = ?',
      ),
      owner: db.prepare<
        [CredentialHash],
        { pass_id: string; version: number; revoked: number; valid_until: number }
      >(`
        SELECT c.pass_id, p.version, p.revoked, p.valid_until FROM credentials c JOIN passes p ON p.id = c.pass_id
        WHERE c.hash = ?`),
      upsertPass: db.prepare<
        [
          string,
          number,
          string,
          string,
          number,
          number,
          number,
          string,
          string,
          string,
          string | null,
          number,
        ]
      >(`
        INSERT INTO passes (id, version, kind, name, revoked, valid_from, valid_until, rule, doc, search, access_group_id, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (id) DO UPDATE SET version = excluded.version, kind = excluded.kind, name = excluded.name,
          revoked = excluded.revoked, valid_from = excluded.valid_from, valid_until = excluded.valid_until,
          rule = excluded.rule, doc = excluded.doc, search = excluded.search, access_group_id = excluded.access_group_id,
          updated_at = excluded.updated_at`),
      deleteCredentials: db.prepare<[string]>('DELETE FROM credentials WHERE pass_id = ?'),
      insertCredential: db.prepare<[CredentialHash, string, string]>(
        'INSERT INTO credentials (hash, pass_id, type) VALUES (?, ?, ?) ON CONFLICT (hash) DO NOTHING',
      ),
      reassignCredential: db.prepare<[string, string, CredentialHash]>(
        'UPDATE credentials SET pass_id = ?, type = ? WHERE hash = ?',
      ),
      groupDoc: db.prepare<[string], { doc: string }>('SELECT doc FROM access_groups WHERE id = ?'),
      upsertGroup: db.prepare<[string, string, string, string]>(`
        INSERT INTO access_groups (id, name, schedule, doc) VALUES (?, ?, ?, ?)
        ON CONFLICT (id) DO UPDATE SET name = excluded.name, schedule = excluded.schedule, doc = excluded.doc`),
      revoke: db.prepare<[number, string]>(
        "UPDATE passes SET revoked = 1, rule = json_set(rule, '$.revoked', json('true')), updated_at = ? WHERE id = ?",
      ),
      recordRevocation: db.prepare<[string, number]>(
        'INSERT OR IGNORE INTO revocations (pass_id, at) VALUES (?, ?)',
      ),
      isRevoked: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM revocations WHERE pass_id = ?'),
      allGroupIds: db.prepare<[], { id: string }>('SELECT id FROM access_groups'),
      deleteGroup: db.prepare<[string]>('DELETE FROM access_groups WHERE id = ?'),
      allIds: db.prepare<[], { id: string }>('SELECT id FROM passes'),
      deletePass: db.prepare<[string]>('DELETE FROM passes WHERE id = ?'),
      events: db.prepare<[number], { body: string }>(
        'SELECT body FROM (SELECT seq, body FROM events ORDER BY seq DESC LIMIT ?) ORDER BY seq',
      ),
      getMeta: db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
      setMeta: db.prepare<[string, string]>(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      ),
      outboxPeek: db.prepare<[number, number], { seq: number; body: string }>(
        'SELECT seq, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?',
      ),
      outboxDepth: db.prepare<[number], { n: number }>('SELECT count(*) AS n FROM events WHERE seq > ?'),
      outboxOldest: db.prepare<[number, number], { seq: number }>(
        'SELECT seq FROM events WHERE seq > ? ORDER BY seq LIMIT 1 OFFSET ?',
      ),
      deleteEventsBefore: db.prepare<[number]>('DELETE FROM events WHERE seq < ?'),
      deleteEventsRange: db.prepare<[number, number]>('DELETE FROM events WHERE seq > ? AND seq < ?'),
      maxEventSeq: db.prepare<[], { seq: number | null }>('SELECT max(seq) AS seq FROM events'),
      stagePart: db.prepare<[number, number, number, string]>(
        'INSERT OR REPLACE INTO snapshot_parts (seq, part, parts, body) VALUES (?, ?, ?, ?)',
      ),
      stagedParts: db.prepare<[number], { part: number; parts: number; body: string }>(
        'SELECT part, parts, body FROM snapshot_parts WHERE seq = ? ORDER BY part',
      ),
      stagedCount: db.prepare<[number], { n: number; lo: number | null; hi: number | null }>(
        'SELECT count(*) AS n, min(parts) AS lo, max(parts) AS hi FROM snapshot_parts WHERE seq = ?',
      ),
      clearStaged: db.prepare<[]>('DELETE FROM snapshot_parts'),
      clearStagedExcept: db.prepare<[number]>('DELETE FROM snapshot_parts WHERE seq <> ?'),
      commandResult: db.prepare<[string], { result: string }>('SELECT result FROM commands WHERE id = ?'),
      recordCommand: db.prepare<[string, number, string]>(
        'INSERT OR IGNORE INTO commands (id, at, result) VALUES (?, ?, ?)',
      ),
      activeCount: db.prepare<[number, number], { n: number }>(
        'SELECT count(*) AS n FROM passes WHERE revoked = 0 AND valid_from <= ? AND valid_until > ?',
      ),
      counts: db.prepare<[], { passes: number; events: number; accessGroups: number }>(`
        SELECT (SELECT count(*) FROM passes) AS passes, (SELECT count(*) FROM events) AS events,
               (SELECT count(*) FROM access_groups) AS accessGroups`),
    };
    this.runTx = db.transaction((fn: () => unknown) => fn());
    this.putTx = db.transaction(
      (pass: CompiledPass, hashes: readonly PassCredentialHash[], now: number, existed: boolean) =>
        this.putPassTx(pass, hashes, now, existed),
    );
  }

  private migrate(): void {
    const current = this.db.pragma('user_version', { simple: true }) as number;
    if (current > MIGRATIONS.length) {
      throw new Error(
        `database schema version ${current} is newer than this doorpass (${MIGRATIONS.length}); upgrade doorpass`,
      );
    }
    for (let v = current; v < MIGRATIONS.length; v++) {
      this.db
        .transaction(() => {
          this.db.exec(MIGRATIONS[v] ?? '');
          this.db.pragma(`user_version = ${v + 1}`);
        })
        .immediate();
    }
  }

  atomically<T>(fn: () => T): T {
    // One cached wrapper: building a new better-sqlite3 transaction function per call costs ~25 µs.
    return this.runTx.immediate(fn) as T;
  }

  findCredential(hash: CredentialHash, deviceId: string): CredentialMatch | undefined {
    const row = this.stmts.match.get({ device: deviceId, hash });
    if (row === undefined) return undefined;
    const rule = JSON.parse(row.rule) as PassRule;
    const group: Schedule | null | undefined =
      row.access_group === null
        ? undefined
        : row.group_schedule === null
          ? null
          : (JSON.parse(row.group_schedule) as Schedule);
    return {
      rule,
      usage: { own: row.own, others: row.others },
      group,
    };
  }

  countUse(passId: string, deviceId: string): void {
    this.stmts.countUse.run(passId, deviceId);
  }

  appendEvent(event: JournalEvent): void {
    this.stmts.appendEvent.run(event.id, event.at, event.type, JSON.stringify(eventToJson(event)));
  }

  passHead(id: string): PassHead | undefined {
    const r = this.stmts.head.get(id);
    return r && { version: r.version, revoked: r.revoked === 1, validUntil: r.valid_until };
  }

  putPass(
    pass: CompiledPass,
    hashes: readonly PassCredentialHash[],
    now: number,
  ): { conflicts: CredentialConflict[] } {
    const existed = this.stmts.head.get(pass.doc.id) !== undefined;
    if (!existed && this.db.inTransaction) {
      // Fast path for a new pass (most of a bulk import), without a savepoint: on a conflict, deleting the
      // new row (credentials cascade) undoes everything written so far.
      try {
        this.putPassTx(pass, hashes, now, false);
        return { conflicts: [] };
      } catch (e) {
        if (!(e instanceof ConflictRollback)) throw e;
        this.stmts.deletePass.run(pass.doc.id);
        return { conflicts: e.conflicts };
      }
    }
    try {
      this.putTx(pass, hashes, now, existed);
      return { conflicts: [] };
    } catch (e) {
      if (e instanceof ConflictRollback) return { conflicts: e.conflicts };
      throw e;
    }
  }

  /** The body of putPass, in its own transaction (a savepoint inside atomically()): a conflict rolls it back. */
  private putPassTx(
    pass: CompiledPass,
    hashes: readonly PassCredentialHash[],
    now: number,
    existed: boolean,
  ): void {
    const { doc } = pass;
    const revoked = pass.rule.revoked || this.stmts.isRevoked.get(doc.id) !== undefined;
    const rule = revoked && !pass.rule.revoked ? { ...pass.rule, revoked } : pass.rule;
    this.stmts.upsertPass.run(
      doc.id,
      doc.version,
      doc.kind,
      doc.name,
      rule.revoked ? 1 : 0,
      rule.validFrom,
      rule.validUntil,
      JSON.stringify(rule),
      JSON.stringify(redactDoc(doc)),
      searchText(doc),
      doc.accessGroup ?? null,
      now,
    );
    if (existed) this.stmts.deleteCredentials.run(doc.id);
    const conflicts: CredentialConflict[] = [];
    for (const h of hashes) {
      // Most credentials are new: try the insert first and look at the owner only when the hash is taken.
      if (this.stmts.insertCredential.run(h.hash, doc.id, h.type).changes > 0) continue;
      const owner = this.stmts.owner.get(h.hash);
      if (owner && owner.revoked === 0 && owner.valid_until > now) {
        conflicts.push({ type: h.type, passId: owner.pass_id });
      } else {
        // Held by a revoked or expired pass: the new pass takes it over.
        this.stmts.reassignCredential.run(doc.id, h.type, h.hash);
      }
    }
    if (conflicts.length > 0) throw new ConflictRollback(conflicts);
    if (pass.rule.revoked) this.stmts.recordRevocation.run(doc.id, now);
    this.mergeUses(doc.id, doc.uses ?? {});
  }

  mergeUses(passId: string, uses: Readonly<Record<string, number>>): void {
    for (const [device, n] of Object.entries(uses)) this.stmts.mergeUse.run(passId, device, n);
  }

  removePassesNotIn(ids: ReadonlySet<string>): number {
    let removed = 0;
    for (const { id } of this.stmts.allIds.all()) {
      if (!ids.has(id)) removed += this.stmts.deletePass.run(id).changes;
    }
    return removed;
  }

  putAccessGroup(group: AccessGroup): 'added' | 'updated' | 'unchanged' {
    const docText = JSON.stringify(group);
    const existing = this.stmts.groupDoc.get(group.id);
    if (existing?.doc === docText) return 'unchanged';
    this.stmts.upsertGroup.run(
      group.id,
      group.name,
      JSON.stringify(compileSchedule(group.schedule)),
      docText,
    );
    return existing ? 'updated' : 'added';
  }

  revokePass(id: string, now: number): boolean {
    const changed = this.stmts.revoke.run(now, id).changes > 0;
    if (changed) this.stmts.recordRevocation.run(id, now);
    return changed;
  }

  removeAccessGroupsNotIn(ids: ReadonlySet<string>): number {
    let removed = 0;
    for (const { id } of this.stmts.allGroupIds.all()) {
      if (!ids.has(id)) removed += this.stmts.deleteGroup.run(id).changes;
    }
    return removed;
  }

  listPasses(query: PassQuery): PassRow[] {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (query.search !== undefined && query.search !== '') {
      where.push(`instr(p.search, ?) > 0`);
      params.push(query.search.toLowerCase());
    }
    const sql = `
      SELECT p.id, p.version, p.kind, p.name, p.revoked, p.valid_from, p.valid_until, p.rule, p.doc,
        (SELECT json_group_object(device_id, count) FROM pass_uses u WHERE u.pass_id = p.id) AS uses
      FROM passes p ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY p.valid_from, p.id ${query.limit !== undefined ? `LIMIT ${Math.floor(query.limit)}` : ''}`;
    return (this.db.prepare(sql).all(...params) as PassDbRow[]).map((r) => ({
      id: r.id,
      version: r.version,
      kind: r.kind,
      name: r.name,
      revoked: r.revoked === 1,
      validFrom: r.valid_from,
      validUntil: r.valid_until,
      doc: JSON.parse(r.doc) as Record<string, unknown>,
      rule: JSON.parse(r.rule) as PassRule,
      uses: r.uses ? (JSON.parse(r.uses) as Record<string, number>) : {},
    }));
  }

  listEvents(limit: number): JournalEvent[] {
    return this.stmts.events
      .all(limit)
      .map((r) => eventFromJson(JSON.parse(r.body) as Record<string, unknown>));
  }

  activeCount(now: number): number {
    return this.stmts.activeCount.get(now, now)?.n ?? 0;
  }

  getMeta(key: string): string | undefined {
    return this.stmts.getMeta.get(key)?.value;
  }

  setMeta(key: string, value: string): void {
    this.stmts.setMeta.run(key, value);
  }

  private uploadedSeq(): number {
    return Number(this.getMeta('outbox.uploaded') ?? '0');
  }

  outboxPeek(limit: number): { seq: number; event: Record<string, unknown> }[] {
    return this.stmts.outboxPeek
      .all(this.uploadedSeq(), limit)
      .map((r) => ({ seq: r.seq, event: JSON.parse(r.body) as Record<string, unknown> }));
  }

  outboxDepth(): number {
    return this.stmts.outboxDepth.get(this.uploadedSeq())?.n ?? 0;
  }

  outboxAck(upToSeq: number, keepUploaded: number): void {
    this.atomically(() => {
      if (upToSeq <= this.uploadedSeq()) return;
      this.setMeta('outbox.uploaded', String(upToSeq));
      // Keep a local history of uploaded events for `events list`; the newest row always stays, so new
      // rows keep getting higher seq numbers than the upload marker.
      this.stmts.deleteEventsBefore.run(Math.min(upToSeq - keepUploaded + 1, upToSeq));
    });
  }

  outboxTrim(maxEvents: number): number {
    const uploaded = this.uploadedSeq();
    const cut = this.stmts.outboxOldest.get(uploaded, Math.max(0, this.outboxDepth() - maxEvents));
    if (cut === undefined) return 0;
    return this.stmts.deleteEventsRange.run(uploaded, cut.seq).changes;
  }

  stageSnapshotPart(seq: number, part: number, parts: number, body: string): number | 'inconsistent' {
    this.stmts.clearStagedExcept.run(seq);
    this.stmts.stagePart.run(seq, part, parts, body);
    const r = this.stmts.stagedCount.get(seq);
    if (r === undefined) return 0;
    if (r.lo !== r.hi) {
      // Parts of one snapshot that disagree on how many there are: never swap in a partial state.
      this.stmts.clearStaged.run();
      return 'inconsistent';
    }
    return r.n;
  }

  stagedSnapshotParts(seq: number): { part: number; parts: number; body: string }[] {
    return this.stmts.stagedParts.all(seq);
  }

  clearStagedSnapshot(): void {
    this.stmts.clearStaged.run();
  }

  commandResult(id: string): string | undefined {
    return this.stmts.commandResult.get(id)?.result;
  }

  recordCommand(id: string, at: number, result: string): void {
    this.stmts.recordCommand.run(id, at, result);
  }

  counts(): { passes: number; events: number; accessGroups: number } {
    return this.stmts.counts.get() ?? { passes: 0, events: 0, accessGroups: 0 };
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
