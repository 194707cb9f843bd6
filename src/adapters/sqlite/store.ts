/**
 * The pass cache and the event journal: two SQLite files in storage.dir (better-sqlite3, WAL), one
 * connection (the journal is `main`, the cache is ATTACHed as `cache`), so a read stays one statement.
 *
 * Durability (docs/reliability.md): the journal (`journal.db`: events, this device's own use counts,
 * executed commands, meta) is synchronous=FULL: a committed access survives power loss. The cache
 * (`cache.db`: passes, credentials, groups, revocations, snapshot staging, the applied sync seq) is
 * synchronous=NORMAL: consistent after power loss but may lose its last commits, harmless because the sync
 * seq rolls back with them and the cloud resends. SQLite commits attached WAL databases atomically only per
 * file, so the access transaction writes only the journal.
 *
 * At open each file is checked (`PRAGMA quick_check`); a corrupt one is moved aside
 * (`<file>.corrupt-<timestamp>`, with its -wal/-shm) and recreated, and the incident is kept for the app to
 * journal. A legacy single-file `doorpass.db` is split into the two files on first open.
 */
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  existsSync,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
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
  StoreFailureKind,
  StoreFile,
  StoreHealth,
  StoreIncident,
  TxScope,
} from '../../ports/store.js';
import { CACHE_MIGRATIONS, JOURNAL_MIGRATIONS, MIGRATIONS } from './schema.js';

export const JOURNAL_FILE = 'journal.db';
export const CACHE_FILE = 'cache.db';
/** The single file of doorpass before the split; migrated on first open, then kept as `doorpass.db.pre-split`. */
export const LEGACY_DATABASE_FILE = 'doorpass.db';

/** Thrown inside the put transaction to roll it back when a credential belongs to another live pass. */
class ConflictRollback extends Error {
  constructor(readonly conflicts: CredentialConflict[]) {
    super('credential conflict');
  }
}

/** quick_check found a problem (its first lines are the message). */
class IntegrityError extends Error {
  readonly code = 'SQLITE_CORRUPT';
}

export interface SqliteStoreOptions {
  /** The journal's synchronous setting: 'FULL' (default) fsyncs every commit. The cache is always NORMAL. */
  readonly synchronous?: 'FULL' | 'NORMAL';
  readonly busyTimeoutMs?: number;
  readonly readonly?: boolean;
  /** Run PRAGMA quick_check on both files at open (default true). */
  readonly integrityCheck?: boolean;
  /** Epoch ms, for incident times and file names (default Date.now). */
  readonly now?: () => number;
}

const CORRUPT_CODES = new Set(['SQLITE_CORRUPT', 'SQLITE_NOTADB']);
const WRITE_FAILURE = /^SQLITE_(FULL|READONLY|IOERR|CANTOPEN)/;

function sqliteCode(err: unknown): string | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('SQLITE_')) return code;
  }
  return undefined;
}

/** What kind of storage failure an error is: a file is corrupt, or writing is impossible (full, read-only). */
export function storeFailureKind(err: unknown): StoreFailureKind | undefined {
  const code = sqliteCode(err);
  if (code === undefined) return undefined;
  if (CORRUPT_CODES.has(code.replace(/_[A-Z]+$/, '')) || CORRUPT_CODES.has(code)) return 'corrupt';
  if (WRITE_FAILURE.test(code)) return 'write';
  return undefined;
}

const SIDE_FILES = ['', '-wal', '-shm', '-journal'];

function removeWithSideFiles(file: string): void {
  for (const s of SIDE_FILES) rmSync(file + s, { force: true });
}

function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // not every file system lets a directory be fsynced; the renames are still ordered
  }
}

function stamp(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

/** Renames a database file and its -wal/-shm aside; returns the new name of the main file. */
function moveAside(file: string, suffix: string): string {
  let target = `${file}.${suffix}`;
  for (let n = 2; existsSync(target); n++) target = `${file}.${suffix}-${n}`;
  for (const s of SIDE_FILES) if (existsSync(file + s)) renameSync(file + s, target + s);
  fsyncDir(path.dirname(file));
  return target;
}

interface EventRow {
  seq: number;
  id: string;
  at: number;
  type: string;
  body: string;
}

/** What salvageJournal() copied out of a corrupt journal. */
export interface JournalSalvage {
  readonly events: number;
  readonly uses: number;
  readonly commands: number;
  readonly meta: number;
  /** Revocations made on this device (journal table local_revocations). */
  readonly revocations: number;
}

/**
 * Best effort, after a corrupt journal was moved aside and a fresh one created: copies into the fresh file
 * what can still be read from a copy of the old one (the moved-aside file itself is left as it was, for
 * forensics): events (read forwards and then backwards, so both sides of a damaged region are found), this
 * device's use counts, executed command ids, meta (the upload marker, lockouts, the clock floor) and the
 * revocations made on this device. Events keep their seq, so the upload marker still applies; one re-sent
 * anyway is deduplicated by id by the cloud.
 * Never throws: what cannot be read stays in the moved-aside file.
 */
export function salvageJournal(movedTo: string, fresh: string, skipMeta: readonly string[]): JournalSalvage {
  const copy = `${fresh}.salvage`;
  const none: JournalSalvage = { events: 0, uses: 0, commands: 0, meta: 0, revocations: 0 };
  let src: Database.Database | undefined;
  let dst: Database.Database | undefined;
  try {
    for (const side of SIDE_FILES) {
      if (side !== '-shm' && existsSync(movedTo + side)) copyFileSync(movedTo + side, copy + side);
    }
    const db = (src = new Database(copy));
    const read = <T>(sql: string, each: (row: T) => void): void => {
      try {
        for (const row of db.prepare<[], T>(sql).iterate()) each(row);
      } catch {
        // A damaged page: keep what was read before it.
      }
    };
    const events = new Map<number, EventRow>();
    const cols = 'SELECT seq, id, at, type, body FROM events';
    read<EventRow>(`${cols} ORDER BY seq`, (r) => void events.set(r.seq, r));
    read<EventRow>(`${cols} ORDER BY seq DESC`, (r) => void events.set(r.seq, r));
    const uses: { pass_id: string; device_id: string; count: number }[] = [];
    read<(typeof uses)[number]>('SELECT pass_id, device_id, count FROM own_uses', (r) => void uses.push(r));
    const commands: { id: string; at: number; result: string }[] = [];
    read<(typeof commands)[number]>('SELECT id, at, result FROM commands', (r) => void commands.push(r));
    const meta: { key: string; value: string }[] = [];
    read<(typeof meta)[number]>('SELECT key, value FROM meta', (r) => {
      if (!skipMeta.includes(r.key)) meta.push(r);
    });
    // A local revocation lost here would let a rebuilt cache's snapshot bring the pass back.
    const revocations: { pass_id: string; at: number }[] = [];
    read<(typeof revocations)[number]>(
      'SELECT pass_id, at FROM local_revocations',
      (r) => void revocations.push(r),
    );
    dst = new Database(fresh);
    const target = dst;
    target.transaction(() => {
      const ev = target.prepare(
        'INSERT OR IGNORE INTO events (seq, id, at, type, body) VALUES (?, ?, ?, ?, ?)',
      );
      for (const r of [...events.values()].sort((a, b) => a.seq - b.seq))
        ev.run(r.seq, r.id, r.at, r.type, r.body);
      const us = target.prepare(
        'INSERT INTO own_uses (pass_id, device_id, count) VALUES (?, ?, ?) ' +
          'ON CONFLICT (pass_id, device_id) DO UPDATE SET count = max(count, excluded.count)',
      );
      for (const r of uses) us.run(r.pass_id, r.device_id, r.count);
      const cm = target.prepare('INSERT OR IGNORE INTO commands (id, at, result) VALUES (?, ?, ?)');
      for (const r of commands) cm.run(r.id, r.at, r.result);
      const mt = target.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)');
      for (const r of meta) mt.run(r.key, r.value);
      const rv = target.prepare('INSERT OR IGNORE INTO local_revocations (pass_id, at) VALUES (?, ?)');
      for (const r of revocations) rv.run(r.pass_id, r.at);
    })();
    return {
      events: events.size,
      uses: uses.length,
      commands: commands.length,
      meta: meta.length,
      revocations: revocations.length,
    };
  } catch {
    return none;
  } finally {
    src?.close();
    dst?.close();
    for (const side of SIDE_FILES) rmSync(copy + side, { force: true });
  }
}

function touch(file: string): void {
  // Not world-readable: the journal says who came and went. SQLite gives -wal/-shm the same mode.
  closeSync(openSync(file, 'a', 0o600));
}

function migrate(db: Database.Database, migrations: readonly string[], what: string): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > migrations.length) {
    throw new DoorpassError(
      ErrorCode.StoreUnavailable,
      `${what} schema version ${current} is newer than this doorpass (${migrations.length}); upgrade doorpass`,
    );
  }
  for (let v = current; v < migrations.length; v++) {
    db.transaction(() => {
      db.exec(migrations[v] ?? '');
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
}

/**
 * Removes the raw snapshot bodies an older doorpass staged (credential values in clear text) from a legacy
 * file, and every trace of them: secure_delete zeroes the rows' pages, VACUUM rewrites the file so no page
 * freed earlier (with secure_delete off) keeps them, and a TRUNCATE checkpoint empties the WAL.
 */
function scrubRawBodies(db: Database.Database): void {
  const has = db
    .prepare("SELECT 1 AS one FROM sqlite_schema WHERE type = 'table' AND name = 'snapshot_parts'")
    .get();
  if (has === undefined) return;
  db.pragma('secure_delete = ON');
  db.exec('DELETE FROM snapshot_parts; DROP TABLE snapshot_parts');
  db.exec('VACUUM');
  db.pragma('wal_checkpoint(TRUNCATE)');
}

/** What a raw snapshot part staged by an older doorpass looks like inside a file: a credential's value. */
const RAW_BODY_MARKER = Buffer.from('"value":"');

/**
 * Copies of the cache (and the pre-split legacy file) written by a doorpass that staged raw snapshot
 * bodies may hold credential values. A corrupt copy cannot be edited reliably, and the cache is rebuilt from
 * the cloud anyway: one holding the marker is overwritten with zeros and removed (its -wal/-shm too). A
 * readable pre-split file is scrubbed in place. Copies written since hold only hashes and are left alone.
 * Returns the files removed or scrubbed.
 */
export function scrubLegacyCopies(dir: string): string[] {
  const done: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return done;
  }
  for (const name of names) {
    const file = path.join(dir, name);
    if (/^doorpass\.db\.pre-split(-\d+)?$/.test(name)) {
      let db: Database.Database | undefined;
      try {
        db = new Database(file);
        const had = db
          .prepare("SELECT 1 AS one FROM sqlite_schema WHERE type = 'table' AND name = 'snapshot_parts'")
          .get();
        scrubRawBodies(db);
        if (had !== undefined) done.push(file);
      } catch {
        // unreadable: handled below like a corrupt copy
        db?.close();
        db = undefined;
        if (shredIfMarked(file)) done.push(file);
      } finally {
        db?.close();
      }
    } else if (/^(cache|doorpass)\.db\.corrupt-[^.]+$/.test(name) && !/-(wal|shm|journal)$/.test(name)) {
      if (shredIfMarked(file)) done.push(file);
    }
  }
  return done;
}

function fileHas(file: string, marker: Buffer): boolean {
  try {
    return readFileSync(file).includes(marker);
  } catch {
    return false;
  }
}

/** Zeroes and removes a database file and its side files when any of them holds the raw-body marker. */
function shredIfMarked(file: string): boolean {
  if (!SIDE_FILES.some((s) => fileHas(file + s, RAW_BODY_MARKER))) return false;
  for (const s of SIDE_FILES) {
    const f = file + s;
    if (!existsSync(f)) continue;
    try {
      const fd = openSync(f, 'r+');
      try {
        const size = fstatSync(fd).size;
        const zeros = Buffer.alloc(Math.min(size, 1 << 20));
        for (let at = 0; at < size; at += zeros.length)
          writeSync(fd, zeros, 0, Math.min(zeros.length, size - at), at);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } catch {
      // removed below all the same
    }
    rmSync(f, { force: true });
  }
  fsyncDir(path.dirname(file));
  return true;
}

/**
 * Splits a legacy single-file database into journal.db and cache.db. Crash-safe: both files are built
 * under temporary names and renamed into place (cache first; journal.db appearing is the commit point);
 * the legacy file is renamed to `doorpass.db.pre-split` only after that, and an interrupted run starts over.
 */
export function migrateLegacy(dir: string): boolean {
  const legacy = path.join(dir, LEGACY_DATABASE_FILE);
  const journal = path.join(dir, JOURNAL_FILE);
  const cache = path.join(dir, CACHE_FILE);
  if (!existsSync(legacy)) return false;
  if (existsSync(journal)) {
    // Split before, but the legacy file was not renamed yet.
    moveAside(legacy, 'pre-split');
    return false;
  }
  const old = new Database(legacy);
  try {
    old.pragma('busy_timeout = 5000');
    migrate(old, MIGRATIONS, 'legacy database');
    // Its staged snapshot parts are raw bodies with credential values: they are not carried over, and the
    // file kept as `doorpass.db.pre-split` must not hold them either.
    scrubRawBodies(old);
  } finally {
    old.close();
  }
  const tmpJournal = `${journal}.migrating`;
  const tmpCache = `${cache}.migrating`;
  removeWithSideFiles(tmpJournal);
  removeWithSideFiles(tmpCache);
  for (const [file, migrations] of [
    [tmpCache, CACHE_MIGRATIONS],
    [tmpJournal, JOURNAL_MIGRATIONS],
  ] as const) {
    touch(file);
    const db = new Database(file);
    try {
      migrate(db, migrations, file);
    } finally {
      db.close();
    }
  }
  const db = new Database(tmpJournal);
  try {
    db.prepare('ATTACH ? AS cache').run(tmpCache);
    db.prepare('ATTACH ? AS legacy').run(legacy);
    db.transaction(() => {
      db.exec(`
        INSERT INTO main.events (seq, id, at, type, body) SELECT seq, id, at, type, body FROM legacy.events;
        INSERT INTO main.own_uses (pass_id, device_id, count) SELECT pass_id, device_id, count FROM legacy.pass_uses;
        INSERT INTO main.meta (key, value) SELECT key, value FROM legacy.meta WHERE substr(key, 1, 5) <> 'sync.';
        INSERT INTO main.commands (id, at, result) SELECT id, at, result FROM legacy.commands;
        INSERT INTO cache.passes SELECT id, version, kind, name, revoked, valid_from, valid_until, rule, doc,
          search, access_group_id, updated_at FROM legacy.passes;
        INSERT INTO cache.credentials (hash, pass_id, type) SELECT hash, pass_id, type FROM legacy.credentials;
        INSERT INTO cache.pass_uses (pass_id, device_id, count) SELECT pass_id, device_id, count FROM legacy.pass_uses;
        INSERT INTO cache.revocations (pass_id, at) SELECT pass_id, at FROM legacy.revocations;
        INSERT INTO cache.access_groups (id, name, schedule, doc) SELECT id, name, schedule, doc FROM legacy.access_groups;
        INSERT INTO cache.sync_meta (key, value) SELECT key, value FROM legacy.meta WHERE substr(key, 1, 5) = 'sync.';
      `);
    }).immediate();
    db.exec('DETACH legacy; DETACH cache');
  } finally {
    db.close();
  }
  removeWithSideFiles(cache);
  renameSync(tmpCache, cache);
  for (const s of ['-wal', '-shm']) rmSync(journal + s, { force: true });
  renameSync(tmpJournal, journal);
  fsyncDir(dir);
  moveAside(legacy, 'pre-split');
  return true;
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

type Statements = ReturnType<typeof prepareStatements>;
/** The statements putPass writes with: the live tables', or a stage's. */
type PutStatements = Pick<
  Statements,
  'upsertPass' | 'deleteCredentials' | 'insertCredential' | 'owner' | 'reassignCredential'
>;

/** The WAL of either file is cut back to this size after a checkpoint (journal_size_limit). */
const WAL_LIMIT_BYTES = 4 * 1024 * 1024;
/** The cache migration after which no raw snapshot body can be left in the file. */
const CACHE_SCRUBBED_VERSION = 2;

/** A staged replacement of the pass tables in progress (beginStage). */
interface Stage {
  readonly token: string;
  readonly passes: string;
  readonly credentials: string;
  readonly put: PutStatements;
  readonly putTx: Database.Transaction<
    (pass: CompiledPass, hashes: readonly PassCredentialHash[], now: number, existed: boolean) => void
  >;
  readonly head: Database.Statement;
  readonly deletePass: Database.Statement;
  readonly keepPass: Database.Statement;
  readonly keepCredentials: Database.Statement;
  readonly copyUpper: Database.Statement;
  readonly copyPasses: Database.Statement;
  readonly copyCredentials: Database.Statement;
  readonly revokeRevoked: Database.Statement;
}

/** Whether a process id is alive (a stage whose owner died is garbage). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function prepareStatements(db: Database.Database) {
  return {
    match: db.prepare<[{ device: string; hash: CredentialHash }], MatchRow>(`
        SELECT p.id, p.rule, p.access_group_id AS access_group,
          -- A local revocation (journal) denies even before the cache has it (a crash between the two
          -- commits of revokeLocally, or a cache swapped in by a snapshot since): one lookup in a tiny table.
          (p.revoked OR EXISTS (SELECT 1 FROM local_revocations l WHERE l.pass_id = p.id)) AS revoked,
          max(coalesce((SELECT count FROM own_uses o WHERE o.pass_id = p.id AND o.device_id = @device), 0),
              coalesce((SELECT count FROM pass_uses u WHERE u.pass_id = p.id AND u.device_id = @device), 0)) AS own,
          coalesce((SELECT sum(count) FROM pass_uses u WHERE u.pass_id = p.id AND u.device_id <> @device), 0) AS others,
          g.schedule AS group_schedule
        FROM credentials c JOIN passes p ON p.id = c.pass_id
        LEFT JOIN access_groups g ON g.id = p.access_group_id
        WHERE c.hash = @hash`),
    // Counted in the journal only, one more than the higher of the local count and the count the cloud
    // reported for this device (a reinstalled device continues from what the cloud knows).
    countUse: db.prepare<[{ pass: string; device: string }]>(`
        INSERT INTO own_uses (pass_id, device_id, count)
        VALUES (@pass, @device, coalesce((SELECT count FROM pass_uses WHERE pass_id = @pass AND device_id = @device), 0) + 1)
        ON CONFLICT (pass_id, device_id) DO UPDATE SET count =
          max(count, coalesce((SELECT count FROM pass_uses WHERE pass_id = @pass AND device_id = @device), 0)) + 1`),
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
      [string, number, string, string, number, number, number, string, string, string, string | null, number]
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
    // The cache's final revocations, and this device's own kept in the journal (never lost with the cache).
    isRevoked: db.prepare<[string], { one: number }>(`
        SELECT 1 AS one FROM (SELECT ? AS id) x
        WHERE EXISTS (SELECT 1 FROM revocations r WHERE r.pass_id = x.id)
           OR EXISTS (SELECT 1 FROM local_revocations l WHERE l.pass_id = x.id)`),
    recordLocalRevocation: db.prepare<[string, number]>(
      'INSERT OR IGNORE INTO local_revocations (pass_id, at) VALUES (?, ?)',
    ),
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
    getSyncMeta: db.prepare<[string], { value: string }>('SELECT value FROM sync_meta WHERE key = ?'),
    setSyncMeta: db.prepare<[string, string]>(
      'INSERT INTO sync_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    ),
    deleteSyncMeta: db.prepare<[string]>('DELETE FROM sync_meta WHERE key = ?'),
    outboxPeek: db.prepare<[number, number], { seq: number; body: string }>(
      'SELECT seq, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?',
    ),
    outboxDepth: db.prepare<[number], { n: number }>('SELECT count(*) AS n FROM events WHERE seq > ?'),
    outboxOldest: db.prepare<[number, number], { seq: number }>(
      'SELECT seq FROM events WHERE seq > ? ORDER BY seq LIMIT 1 OFFSET ?',
    ),
    deleteEventsBefore: db.prepare<[number]>('DELETE FROM events WHERE seq < ?'),
    deleteEventsRange: db.prepare<[number, number]>('DELETE FROM events WHERE seq > ? AND seq < ?'),
    droppedCountsInRange: db.prepare<[number, number], { n: number }>(
      "SELECT COALESCE(SUM(json_extract(body, '$.count')), 0) AS n FROM events " +
        "WHERE seq > ? AND seq < ? AND type = 'device.outbox_dropped'",
    ),
    // A change counter of the live pass tables: a staged import that copied them checks it at the swap.
    bumpChanges: db.prepare<[]>(
      `INSERT INTO sync_meta (key, value) VALUES ('${CHANGES}', '1')
       ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1`,
    ),
    // The first statement of a transaction scoped to one file: a write that changes nothing, so the
    // transaction takes that file's write lock (and only that one) at once.
    lockJournal: db.prepare<[]>('UPDATE main.meta SET key = key WHERE 0'),
    lockCache: db.prepare<[]>('UPDATE cache.sync_meta SET key = key WHERE 0'),
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
}

/** Meta keys kept in the cache (they describe the cache and roll back with it); the rest are in the journal. */
const isCacheMeta = (key: string): boolean => key.startsWith('sync.') || key.startsWith('cache.');
const CACHE_REBUILT = 'cache.rebuilt';
/** sync_meta key: how many times the live pass tables changed (see beginStage). */
const CHANGES = 'cache.changes';
const JOURNAL_REBUILT = 'journal.rebuilt';
/** Journal meta: the cache's revocations were copied into local_revocations (not salvaged: redone after a rebuild). */
const REVOCATIONS_BACKFILLED = 'revocations.backfilled';

export class SqlitePassStore implements PassStore {
  readonly journalFile: string;
  readonly cacheFile: string;
  private connection!: Database.Database;
  private stmts!: Statements;
  private runTx!: Database.Transaction<(fn: () => unknown) => unknown>;
  private scopedTx!: Record<TxScope, Database.Transaction<(fn: () => unknown) => unknown>>;
  /** Stages begun by this process and not yet swapped or dropped, by token. */
  private readonly stages = new Map<string, Stage>();
  private putTx!: Database.Transaction<
    (pass: CompiledPass, hashes: readonly PassCredentialHash[], now: number, existed: boolean) => void
  >;
  private incidents: StoreIncident[] = [];
  /** Legacy copies holding raw snapshot bodies found at open and scrubbed or removed (scrubLegacyCopies). */
  scrubbed: string[] = [];
  private readonly now: () => number;

  /** Opens (creating, migrating, checking and if need be rebuilding) the two files in `dir`. */
  constructor(
    readonly dir: string,
    private readonly options: SqliteStoreOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.journalFile = path.join(dir, JOURNAL_FILE);
    this.cacheFile = path.join(dir, CACHE_FILE);
    try {
      if (!options.readonly) {
        mkdirSync(dir, { recursive: true, mode: 0o750 });
        migrateLegacy(dir);
        // The daemon's open (it checks integrity): not every CLI call reads the copies through.
        if (options.integrityCheck ?? true) this.scrubbed = scrubLegacyCopies(dir);
      }
      this.open();
    } catch (e) {
      throw new DoorpassError(
        ErrorCode.StoreUnavailable,
        `cannot open the database in ${dir}: ${(e as Error).message}`,
        [],
        { cause: e },
      );
    }
  }

  /** The connection (journal as `main`, cache as `cache`). */
  get db(): Database.Database {
    return this.connection;
  }

  private open(check = this.options.integrityCheck ?? true): void {
    const ro = this.options.readonly ?? false;
    if (!ro) {
      this.prepareFile('journal', this.journalFile, JOURNAL_MIGRATIONS, check);
      this.prepareFile('cache', this.cacheFile, CACHE_MIGRATIONS, check);
    }
    const db = new Database(this.journalFile, { readonly: ro, fileMustExist: ro });
    try {
      db.pragma(`busy_timeout = ${this.options.busyTimeoutMs ?? 5000}`);
      db.prepare('ATTACH ? AS cache').run(this.cacheFile);
      if (!ro) {
        db.pragma('journal_mode = WAL');
        db.pragma(`synchronous = ${this.options.synchronous ?? 'FULL'}`);
        db.pragma('cache.journal_mode = WAL');
        db.pragma('cache.synchronous = NORMAL');
        // Deleted rows are zeroed, not left in free pages. The cache never holds a credential value (only
        // HMACs and redacted documents), but it holds names and phone numbers, and the journal's uploaded
        // events say who came and went: a file copied off the SD card should hold nothing deleted. The
        // journal deletes only when the outbox is acknowledged or trimmed, never in the access transaction
        // (measured: access p50/p99 and outboxAck unchanged within noise).
        db.pragma('secure_delete = ON');
        db.pragma('cache.secure_delete = ON');
        // A large apply grows the WAL; once checkpointed it is cut back to this size.
        db.pragma(`journal_size_limit = ${WAL_LIMIT_BYTES}`);
        db.pragma(`cache.journal_size_limit = ${WAL_LIMIT_BYTES}`);
      }
      db.pragma('foreign_keys = ON');
      // 16 MiB page cache for the pass cache (default 2 MiB): credential hashes are random keys, so a bulk
      // import touches pages all over the index.
      db.pragma('cache.cache_size = -16384');
      if (!ro) this.applyLocalRevocations(db);
      this.stmts = prepareStatements(db);
    } catch (e) {
      db.close();
      throw e;
    }
    this.connection = db;
    this.runTx = db.transaction((fn: () => unknown) => fn());
    const stmts = this.stmts;
    this.scopedTx = {
      journal: db.transaction((fn: () => unknown) => {
        stmts.lockJournal.run();
        return fn();
      }),
      cache: db.transaction((fn: () => unknown) => {
        stmts.lockCache.run();
        return fn();
      }),
    };
    this.stages.clear();
    this.putTx = db.transaction(
      (pass: CompiledPass, hashes: readonly PassCredentialHash[], now: number, existed: boolean) =>
        this.putPassTx(pass, hashes, now, existed),
    );
  }

  /**
   * Creates, checks and migrates one file on its own connection. A corrupt file (it will not open as a
   * database, quick_check reports a problem, or a migration meets corruption) is moved aside and recreated.
   */
  private prepareFile(which: StoreFile, file: string, migrations: readonly string[], check: boolean): void {
    try {
      this.initFile(file, migrations, check);
    } catch (e) {
      if (storeFailureKind(e) !== 'corrupt') throw e;
      const at = this.now();
      const reason = `${(e as Error).message}`.split('\n').slice(0, 3).join('; ');
      const movedTo = moveAside(file, `corrupt-${stamp(at)}`);
      this.initFile(file, migrations, false);
      // The journal cannot be fetched again from the cloud: keep whatever can still be read of it.
      const saved =
        which === 'journal'
          ? salvageJournal(movedTo, file, [JOURNAL_REBUILT, REVOCATIONS_BACKFILLED])
          : undefined;
      const incident: StoreIncident = {
        file: which,
        reason:
          saved === undefined
            ? reason
            : `${reason}; salvaged ${saved.events} events, ${saved.uses} use counts, ${saved.commands} command ids, ${saved.revocations} local revocations`,
        at,
        movedTo,
      };
      const db = new Database(file);
      try {
        const table = which === 'cache' ? 'sync_meta' : 'meta';
        db.prepare(`INSERT OR REPLACE INTO ${table} (key, value) VALUES (?, ?)`).run(
          which === 'cache' ? CACHE_REBUILT : JOURNAL_REBUILT,
          JSON.stringify(incident),
        );
      } finally {
        db.close();
      }
      this.incidents.push(incident);
    }
  }

  private initFile(file: string, migrations: readonly string[], check: boolean): void {
    touch(file);
    const db = new Database(file);
    try {
      db.pragma(`busy_timeout = ${this.options.busyTimeoutMs ?? 5000}`);
      db.pragma('journal_mode = WAL');
      if (check) {
        const rows = db.pragma('quick_check(20)', { simple: false }) as { quick_check: string }[];
        const problems = rows.map((r) => r.quick_check).filter((r) => r !== 'ok');
        if (problems.length > 0) throw new IntegrityError(`quick_check: ${problems.join('; ')}`);
      }
      const before = db.pragma('user_version', { simple: true }) as number;
      if (migrations === CACHE_MIGRATIONS) db.pragma('secure_delete = ON');
      migrate(db, migrations, path.basename(file));
      if (migrations === CACHE_MIGRATIONS && before >= 1 && before < CACHE_SCRUBBED_VERSION) {
        // An older doorpass staged raw snapshot bodies here, and deleted them without secure_delete: the
        // migration dropped the table; VACUUM rewrites every page (no free page keeps an old body) and the
        // TRUNCATE checkpoint leaves no WAL frame holding one. Once, at the upgrade.
        db.exec('VACUUM');
        db.pragma('wal_checkpoint(TRUNCATE)');
      }
    } finally {
      db.close();
    }
  }

  /** Incidents found at open (or by checkAndRepair) not yet taken; taking them clears the list. */
  takeIncidents(): StoreIncident[] {
    const out = this.incidents;
    this.incidents = [];
    return out;
  }

  health(): StoreHealth {
    const read = (file: StoreFile): StoreHealth['cache'] => {
      let raw: string | undefined;
      try {
        raw =
          file === 'cache'
            ? this.stmts.getSyncMeta.get(CACHE_REBUILT)?.value
            : this.stmts.getMeta.get(JOURNAL_REBUILT)?.value;
      } catch {
        raw = undefined;
      }
      if (raw === undefined) return { state: 'ok', reason: null, since: null, movedTo: null };
      const i = JSON.parse(raw) as StoreIncident;
      return { state: 'rebuilt', reason: i.reason, since: i.at, movedTo: i.movedTo };
    };
    return { cache: read('cache'), journal: read('journal') };
  }

  failureKind(err: unknown): StoreFailureKind | undefined {
    return storeFailureKind(err);
  }

  /**
   * After a corruption error at run time: closes the connection, checks both files, moves a corrupt one
   * aside and recreates it, and reopens. Returns the incidents found (also kept for takeIncidents()).
   */
  checkAndRepair(): StoreIncident[] {
    const before = this.incidents.length;
    this.close();
    this.open(true);
    return this.incidents.slice(before);
  }

  atomically<T>(fn: () => T, scope?: TxScope): T {
    // One cached wrapper: building a new better-sqlite3 transaction function per call costs ~25 µs.
    if (scope === undefined) return this.runTx.immediate(fn) as T;
    // BEGIN IMMEDIATE would take the write lock of every attached file: a transaction that writes one file
    // (the access transaction writes only the journal) must not wait for a writer of the other. Its first
    // statement takes its file's write lock; reads of the other file see its last commit (WAL readers never
    // wait), and since the write came first no other writer can commit to this file under it
    // (no SQLITE_BUSY_SNAPSHOT).
    return this.scopedTx[scope].deferred(fn) as T;
  }

  findCredential(hash: CredentialHash, deviceId: string): CredentialMatch | undefined {
    const row = this.stmts.match.get({ device: deviceId, hash });
    if (row === undefined) return undefined;
    const stored = JSON.parse(row.rule) as PassRule;
    const rule = row.revoked === 1 && !stored.revoked ? { ...stored, revoked: true } : stored;
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
    this.stmts.countUse.run({ pass: passId, device: deviceId });
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
    t: PutStatements = this.stmts,
  ): void {
    const { doc } = pass;
    const revoked = pass.rule.revoked || this.stmts.isRevoked.get(doc.id) !== undefined;
    const rule = revoked && !pass.rule.revoked ? { ...pass.rule, revoked } : pass.rule;
    t.upsertPass.run(
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
    if (existed) t.deleteCredentials.run(doc.id);
    const conflicts: CredentialConflict[] = [];
    for (const h of hashes) {
      // Most credentials are new: try the insert first and look at the owner only when the hash is taken.
      if (t.insertCredential.run(h.hash, doc.id, h.type).changes > 0) continue;
      const owner = t.owner.get(h.hash);
      if (owner && owner.revoked === 0 && owner.valid_until > now) {
        conflicts.push({ type: h.type, passId: owner.pass_id });
      } else {
        // Held by a revoked or expired pass: the new pass takes it over.
        t.reassignCredential.run(doc.id, h.type, h.hash);
      }
    }
    if (conflicts.length > 0) throw new ConflictRollback(conflicts);
    // Staged: the revocation is recorded at the swap (swapStage), with the tables it belongs to.
    if (t === this.stmts) {
      if (pass.rule.revoked) this.stmts.recordRevocation.run(doc.id, now);
      this.stmts.bumpChanges.run();
    }
    this.mergeUses(doc.id, doc.uses ?? {});
  }

  mergeUses(passId: string, uses: Readonly<Record<string, number>>): void {
    for (const [device, n] of Object.entries(uses)) this.stmts.mergeUse.run(passId, device, n);
  }

  removePassesNotIn(ids: ReadonlySet<string>): number {
    // Only a full snapshot (sync or `import --replace`) removes passes: the cache is whole again.
    this.stmts.deleteSyncMeta.run(CACHE_REBUILT);
    let removed = 0;
    for (const { id } of this.stmts.allIds.all()) {
      if (!ids.has(id)) removed += this.stmts.deletePass.run(id).changes;
    }
    if (removed > 0) this.stmts.bumpChanges.run();
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
    // Counted with the passes: a staged `import --replace` also replaces the access groups at its swap.
    this.stmts.bumpChanges.run();
    return existing ? 'updated' : 'added';
  }

  revokePass(id: string, now: number): boolean {
    const changed = this.stmts.revoke.run(now, id).changes > 0;
    if (changed) this.stmts.recordRevocation.run(id, now);
    if (changed) this.stmts.bumpChanges.run();
    return changed;
  }

  revokeLocally(id: string, now: number, event: JournalEvent): { inCache: boolean; first: boolean } {
    // The journal first (synchronous=FULL, its own commit): once this returns, no rebuild of the cache can
    // bring the pass back. Then the cache, for listings and credential takeover; a crash in between is
    // repaired by applyLocalRevocations() at the next open, and decisions read the journal's row meanwhile.
    const first = this.atomically(() => {
      const inserted = this.stmts.recordLocalRevocation.run(id, now).changes > 0;
      if (inserted) this.appendEvent(event);
      return inserted;
    });
    const inCache = this.atomically(() => {
      const hit = this.stmts.revoke.run(now, id).changes > 0;
      // Also for an id not in the cache (yet): a later import or snapshot bringing it keeps it revoked.
      this.stmts.recordRevocation.run(id, now);
      return hit;
    });
    return { inCache, first };
  }

  /**
   * Re-applies the journal's local revocations to the cache (its revocations table, so every later import
   * and snapshot keeps them revoked, and its passes). Run at every open: a cache recreated after corruption
   * is refilled by the cloud's snapshot, which may not know of them yet. Once, and again after the journal
   * was rebuilt, the cache's own revocations are copied into the journal first (a device upgraded from a
   * version that kept them only in the cache; they include the cloud's, which is harmless: revocation is final).
   */
  private applyLocalRevocations(db: Database.Database): void {
    // Read first: most opens (every CLI command, beside a running daemon) have nothing to do and should not
    // queue for the write lock.
    const backfill =
      db.prepare('SELECT 1 FROM main.meta WHERE key = ?').get(REVOCATIONS_BACKFILLED) === undefined;
    const behind = (): boolean =>
      db
        .prepare(
          `SELECT 1 FROM main.local_revocations l
           WHERE NOT EXISTS (SELECT 1 FROM cache.revocations r WHERE r.pass_id = l.pass_id)
              OR EXISTS (SELECT 1 FROM cache.passes p WHERE p.id = l.pass_id AND p.revoked = 0)
           LIMIT 1`,
        )
        .get() !== undefined;
    if (!backfill && !behind()) return;
    try {
      this.writeLocalRevocations(db, backfill);
    } catch (e) {
      // Another process held the write lock past the busy timeout: not worth refusing to open for. Decisions
      // read the journal's rows anyway (the match statement) and the next open tries again.
      if (sqliteCode(e) !== 'SQLITE_BUSY') throw e;
    }
  }

  private writeLocalRevocations(db: Database.Database, backfill: boolean): void {
    db.transaction(() => {
      if (backfill) {
        db.exec(
          'INSERT OR IGNORE INTO main.local_revocations (pass_id, at) SELECT pass_id, at FROM cache.revocations',
        );
        db.prepare('INSERT OR REPLACE INTO main.meta (key, value) VALUES (?, ?)').run(
          REVOCATIONS_BACKFILLED,
          '1',
        );
      }
      db.exec(`
        INSERT OR IGNORE INTO cache.revocations (pass_id, at) SELECT pass_id, at FROM main.local_revocations;
        UPDATE cache.passes SET revoked = 1, rule = json_set(rule, '$.revoked', json('true'))
          WHERE revoked = 0 AND id IN (SELECT pass_id FROM main.local_revocations);`);
    }).immediate();
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
        (SELECT json_group_object(device_id, n) FROM (SELECT device_id, max(count) AS n FROM (
          SELECT device_id, count FROM pass_uses WHERE pass_id = p.id
          UNION ALL SELECT device_id, count FROM own_uses WHERE pass_id = p.id) GROUP BY device_id)) AS uses
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
    return (isCacheMeta(key) ? this.stmts.getSyncMeta : this.stmts.getMeta).get(key)?.value;
  }

  setMeta(key: string, value: string): void {
    if (!isCacheMeta(key)) {
      this.stmts.setMeta.run(key, value);
      return;
    }
    this.stmts.setSyncMeta.run(key, value);
    // The cloud's state has been applied: a rebuilt cache is trusted again.
    if (key === 'sync.seq') this.stmts.deleteSyncMeta.run(CACHE_REBUILT);
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
    }, 'journal');
  }

  outboxTrim(maxEvents: number): { dropped: number; carried: number } {
    return this.atomically(() => {
      const uploaded = this.uploadedSeq();
      const cut = this.stmts.outboxOldest.get(uploaded, Math.max(0, this.outboxDepth() - maxEvents));
      if (cut === undefined) return { dropped: 0, carried: 0 };
      const carried = this.stmts.droppedCountsInRange.get(uploaded, cut.seq)?.n ?? 0;
      return { dropped: this.stmts.deleteEventsRange.run(uploaded, cut.seq).changes, carried };
    }, 'journal');
  }

  /** The live change counter (see beginStage): bumped by every change to the live passes. */
  changeCount(): number {
    return Number(this.stmts.getSyncMeta.get(CHANGES)?.value ?? '0');
  }

  /**
   * Creates empty shadow copies of the live `passes` and `credentials` tables (same columns, constraints
   * and indexes, read from the live schema so later migrations carry over) for a staged replacement. They
   * are filled in small transactions (stagePass, stageKeepLive, stageCopyLive) while the live tables keep
   * deciding, and take their place in one short transaction (swapStage). Returns the stage's token.
   * Triggers are not copied (there are none on these tables): a migration that adds one must add it here.
   */
  beginStage(): string {
    const token = `p${process.pid}x${randomBytes(4).toString('hex')}`;
    const passes = `stage_passes_${token}`;
    const credentials = `stage_credentials_${token}`;
    const renameTables = (sql: string): string =>
      sql.replace(/"?\b(passes|credentials)\b"?(?=\s*\()/g, (_m, t: string) =>
        t === 'passes' ? `"${passes}"` : `"${credentials}"`,
      );
    const schema = this.db
      .prepare<[], { type: string; name: string; sql: string }>(
        `SELECT type, name, sql FROM cache.sqlite_schema
         WHERE tbl_name IN ('passes', 'credentials') AND type IN ('table', 'index') AND sql IS NOT NULL
         ORDER BY type = 'index', tbl_name = 'credentials'`,
      )
      .all();
    this.atomically(() => {
      for (const o of schema) {
        if (o.type === 'table') {
          this.db.exec(renameTables(o.sql).replace(/^CREATE TABLE /i, 'CREATE TABLE cache.'));
        } else {
          const name = `${o.name.split('__')[0] ?? o.name}__${token}`;
          this.db.exec(
            renameTables(o.sql.replace(/^(CREATE\s+(?:UNIQUE\s+)?INDEX\s+)"?[\w]+"?/i, `$1cache."${name}"`)),
          );
        }
      }
    }, 'cache');
    const own = (sql: string): string =>
      sql.replace(/(?<![\w."])(passes|credentials)(?![\w"])/g, (_m, t: string) =>
        t === 'passes' ? `"${passes}"` : `"${credentials}"`,
      );
    const db = this.db;
    const put: PutStatements = {
      upsertPass: db.prepare(own(this.stmts.upsertPass.source)),
      deleteCredentials: db.prepare(own(this.stmts.deleteCredentials.source)),
      insertCredential: db.prepare(own(this.stmts.insertCredential.source)),
      owner: db.prepare(own(this.stmts.owner.source)),
      reassignCredential: db.prepare(own(this.stmts.reassignCredential.source)),
    };
    const stage: Stage = {
      token,
      passes,
      credentials,
      put,
      putTx: db.transaction(
        (pass: CompiledPass, hashes: readonly PassCredentialHash[], now: number, existed: boolean) =>
          this.putPassTx(pass, hashes, now, existed, put),
      ),
      head: db.prepare(own(this.stmts.head.source)),
      deletePass: db.prepare(own(this.stmts.deletePass.source)),
      keepPass: db.prepare(`INSERT OR REPLACE INTO "${passes}" SELECT * FROM passes WHERE id = ?`),
      keepCredentials: db.prepare(
        `INSERT INTO "${credentials}" SELECT * FROM credentials WHERE pass_id = ? ON CONFLICT DO NOTHING`,
      ),
      copyUpper: db.prepare(`SELECT id FROM passes WHERE id > ? ORDER BY id LIMIT 1 OFFSET ?`),
      copyPasses: db.prepare(
        `INSERT INTO "${passes}" SELECT * FROM passes WHERE id > @after AND (@upper IS NULL OR id <= @upper)`,
      ),
      copyCredentials: db.prepare(
        `INSERT INTO "${credentials}" SELECT * FROM credentials
         WHERE pass_id > @after AND (@upper IS NULL OR pass_id <= @upper)`,
      ),
      revokeRevoked: db.prepare(
        `UPDATE "${passes}" SET revoked = 1, rule = json_set(rule, '$.revoked', json('true'))
         WHERE revoked = 0 AND id IN (SELECT pass_id FROM revocations)`,
      ),
    };
    this.stages.set(token, stage);
    return token;
  }

  private stage(token: string): Stage {
    const s = this.stages.get(token);
    if (s === undefined) throw new Error(`no stage ${token} in progress`);
    return s;
  }

  /** A pass's head in the stage. */
  stageHead(token: string, id: string): PassHead | undefined {
    const r = this.stage(token).head.get(id) as
      { version: number; revoked: number; valid_until: number } | undefined;
    return r && { version: r.version, revoked: r.revoked === 1, validUntil: r.valid_until };
  }

  /**
   * putPass into the stage: the same rules (conflicts with the stage's live passes, take-over of revoked or
   * expired ones' credentials, revocations final), judged among the staged passes. Use counts merge into
   * the live counters (grow-only: merging early is always safe); revocations are recorded at the swap.
   */
  stagePass(
    token: string,
    pass: CompiledPass,
    hashes: readonly PassCredentialHash[],
    now: number,
  ): { conflicts: CredentialConflict[] } {
    const s = this.stage(token);
    const existed = s.head.get(pass.doc.id) !== undefined;
    try {
      if (existed) s.putTx(pass, hashes, now, true);
      else this.putPassTx(pass, hashes, now, false, s.put);
      return { conflicts: [] };
    } catch (e) {
      if (!(e instanceof ConflictRollback)) throw e;
      if (!existed) s.deletePass.run(pass.doc.id);
      return { conflicts: e.conflicts };
    }
  }

  /** Copies one live pass (row and credentials) into the stage, as it is; false when there is none. */
  stageKeepLive(token: string, id: string): boolean {
    const s = this.stage(token);
    if (s.keepPass.run(id).changes === 0) return false;
    s.keepCredentials.run(id);
    return true;
  }

  /**
   * Copies the next `limit` live passes after id `after` ('' to start) with their credentials into the
   * stage; returns the last id copied, or null when the copy is complete.
   */
  stageCopyLive(token: string, after: string, limit: number): string | null {
    const s = this.stage(token);
    const upper = (s.copyUpper.get(after, limit - 1) as { id: string } | undefined)?.id ?? null;
    s.copyPasses.run({ after, upper });
    s.copyCredentials.run({ after, upper });
    return upper;
  }

  /**
   * Puts the stage in place of the live tables in one short transaction (renames, no copy): revocations
   * recorded since the staging began are applied to it first (a swap never un-revokes), `revoked` are
   * recorded, and `then` runs in the same transaction (access groups, the sync seq). With `expectChanges`,
   * nothing happens and false is returned if the live tables changed since (the stage copied them).
   */
  swapStage(
    token: string,
    options: {
      readonly now: number;
      readonly revoked: readonly string[];
      readonly expectChanges?: number;
      readonly replace?: boolean;
    },
    then: () => void = () => undefined,
  ): boolean {
    const s = this.stage(token);
    const swapped = this.atomically(() => {
      if (options.expectChanges !== undefined && this.changeCount() !== options.expectChanges) return false;
      s.revokeRevoked.run();
      for (const id of options.revoked) this.stmts.recordRevocation.run(id, options.now);
      // With foreign keys on, renaming a table rewrites the references to it: the old credentials follow
      // the old passes, the staged credentials the staged passes.
      this.db.exec(`
        ALTER TABLE cache.passes RENAME TO "old_passes_${token}";
        ALTER TABLE cache.credentials RENAME TO "old_credentials_${token}";
        ALTER TABLE cache."${s.passes}" RENAME TO passes;
        ALTER TABLE cache."${s.credentials}" RENAME TO credentials;`);
      this.stmts.bumpChanges.run();
      if (options.replace) this.stmts.deleteSyncMeta.run(CACHE_REBUILT);
      then();
      return true;
    }, 'cache');
    if (swapped) this.stages.delete(token);
    return swapped;
  }

  /** Gives a stage up: its tables are dropped by cleanupStep. */
  dropStage(token: string): void {
    this.stages.delete(token);
  }

  /**
   * Deletes up to `limit` rows of tables left by swaps (the old live tables), by stages given up, and by
   * stages of processes that died, in one short transaction (secure_delete zeroes them); drops a table once
   * empty. Returns true while there is more to do.
   */
  cleanupStep(limit: number): boolean {
    const tables = this.db
      .prepare<[], { name: string }>(
        `SELECT name FROM cache.sqlite_schema WHERE type = 'table' AND name GLOB '*_passes_p*x*'`,
      )
      .all()
      .map((r) => /^(old|stage)_passes_(p(\d+)x[0-9a-f]+)$/.exec(r.name))
      .filter((m): m is RegExpExecArray => m !== null)
      .filter((m) => {
        if (m[1] === 'old') return true;
        const token = m[2] ?? '';
        if (this.stages.has(token)) return false;
        const pid = Number(m[3]);
        return pid === process.pid || !processAlive(pid);
      });
    const m = tables[0];
    if (m === undefined) return false;
    const passes = m[0];
    const credentials = `${m[1]}_credentials_${m[2]}`;
    // Nothing refers to these tables any more: without foreign key enforcement a row's delete does not look
    // for its credentials at random places of another table. Credentials go first, in key order, so a step
    // touches a few adjacent pages; the index on pass ids goes before them for the same reason.
    const fk = this.db.inTransaction
      ? undefined
      : (this.db.pragma('foreign_keys', { simple: true }) as number);
    if (fk !== undefined) this.db.pragma('foreign_keys = OFF');
    try {
      this.atomically(() => {
        const q = (sql: string): Database.Statement => this.db.prepare(sql);
        const index = q(
          `SELECT name FROM cache.sqlite_schema WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL LIMIT 1`,
        ).get(credentials) as { name: string } | undefined;
        if (index !== undefined) {
          // Dropping frees every page of the index at once: zeroing them all would be one long step. It
          // holds pass ids and credential hashes (nothing secret, nothing personal); its pages are reused.
          this.db.pragma('cache.secure_delete = OFF');
          try {
            this.db.exec(`DROP INDEX cache."${index.name}"`);
          } finally {
            this.db.pragma('cache.secure_delete = ON');
          }
          return;
        }
        const exists = (t: string): boolean =>
          q(`SELECT 1 FROM cache.sqlite_schema WHERE type = 'table' AND name = ?`).get(t) !== undefined;
        if (exists(credentials)) {
          const n = q(
            `DELETE FROM cache."${credentials}" WHERE hash IN (SELECT hash FROM cache."${credentials}" ORDER BY hash LIMIT ?)`,
          ).run(limit * 2).changes;
          if (n > 0) return;
          this.db.exec(`DROP TABLE cache."${credentials}"`);
        }
        const n = q(
          `DELETE FROM cache."${passes}" WHERE rowid IN (SELECT rowid FROM cache."${passes}" ORDER BY rowid LIMIT ?)`,
        ).run(limit).changes;
        if (n === 0) this.db.exec(`DROP TABLE cache."${passes}"`);
      }, 'cache');
    } finally {
      if (fk !== undefined) this.db.pragma(`foreign_keys = ${fk}`);
    }
    return true;
  }

  /**
   * Checkpoints the cache's WAL and truncates it (after a large apply), waiting at most `waitMs` for
   * readers of older snapshots; whatever cannot be checkpointed now is, later, by the automatic checkpoint.
   */
  checkpointCache(waitMs: number): void {
    const busy = this.db.pragma('busy_timeout', { simple: true }) as number;
    this.db.pragma(`busy_timeout = ${waitMs}`);
    try {
      this.db.pragma('cache.wal_checkpoint(TRUNCATE)');
    } catch {
      // busy: the automatic checkpoint does it later
    } finally {
      this.db.pragma(`busy_timeout = ${busy}`);
    }
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
