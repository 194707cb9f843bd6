/**
 * Versioned migrations, applied in order inside one transaction each; PRAGMA user_version records the
 * last one applied. Never edit a released migration: add a new one.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: pass cache, credential hashes, grow-only use counters, access groups, event outbox.
  `
  CREATE TABLE passes (
    id          TEXT PRIMARY KEY,
    version     INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    revoked     INTEGER NOT NULL DEFAULT 0,
    valid_from  INTEGER NOT NULL,
    valid_until INTEGER NOT NULL,
    rule        TEXT NOT NULL,   -- compiled PassRule (JSON) read by decide()
    doc         TEXT NOT NULL,   -- the pass document, credential values removed
    search      TEXT NOT NULL,   -- lower-cased name, issuer, recipient, unit
    access_group_id TEXT,        -- the pass's accessGroup, if any
    updated_at  INTEGER NOT NULL
  );
  CREATE TABLE credentials (
    hash    BLOB PRIMARY KEY,    -- HMAC-SHA256(key, type || 0x00 || value): never the value itself
    pass_id TEXT NOT NULL REFERENCES passes(id) ON DELETE CASCADE,
    type    TEXT NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX credentials_pass ON credentials(pass_id);
  CREATE TABLE pass_uses (
    pass_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    count     INTEGER NOT NULL,
    PRIMARY KEY (pass_id, device_id)
  ) WITHOUT ROWID;
  CREATE TABLE revocations (        -- revocation is final: kept even when the pass is removed
    pass_id TEXT PRIMARY KEY,
    at      INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE access_groups (
    id       TEXT PRIMARY KEY,
    name     TEXT NOT NULL,
    schedule TEXT NOT NULL,      -- compiled Schedule (JSON)
    doc      TEXT NOT NULL
  );
  -- seq orders the outbox (oldest first); id is the event's ULID, the key the cloud dedupes by. No
  -- AUTOINCREMENT and no index on id: each costs a page write on every access (the hot path's commit).
  CREATE TABLE events (
    seq  INTEGER PRIMARY KEY,
    id   TEXT NOT NULL,
    at   INTEGER NOT NULL,
    type TEXT NOT NULL,
    body TEXT NOT NULL
  );
  CREATE TRIGGER events_append_only BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
  `,
  // 2: cloud sync state, snapshot staging, executed commands, outbox upload marker.
  `
  CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) WITHOUT ROWID;
  -- Parts of a snapshot being received; swapped into the cache in one transaction when all have arrived.
  CREATE TABLE snapshot_parts (
    seq   INTEGER NOT NULL,
    part  INTEGER NOT NULL,
    parts INTEGER NOT NULL,
    body  TEXT NOT NULL,
    PRIMARY KEY (seq, part)
  ) WITHOUT ROWID;
  -- Cloud commands executed (at most once by id), with the result sent back.
  CREATE TABLE commands (
    id     TEXT PRIMARY KEY,
    at     INTEGER NOT NULL,
    result TEXT NOT NULL
  ) WITHOUT ROWID;
  `,
];

/**
 * Since the split into two files, the single-file MIGRATIONS above only bring a legacy `doorpass.db` up to
 * date before it is copied into the two files below (store.ts, migrateLegacy).
 *
 * The journal (`journal.db`, WAL + synchronous=FULL): what this device did and cannot get back from the
 * cloud. The event outbox, this device's own use counts, executed commands, and meta that must survive
 * (the outbox upload marker, anything the app keeps outside `sync.*`).
 */
export const JOURNAL_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE events (
    seq  INTEGER PRIMARY KEY,
    id   TEXT NOT NULL,
    at   INTEGER NOT NULL,
    type TEXT NOT NULL,
    body TEXT NOT NULL
  );
  CREATE TRIGGER events_append_only BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
  -- Uses counted on this device (normally only its own device id; a migrated legacy file brings every row).
  -- The access transaction writes only this file: SQLite commits attached WAL databases atomically per file.
  CREATE TABLE own_uses (
    pass_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    count     INTEGER NOT NULL,
    PRIMARY KEY (pass_id, device_id)
  ) WITHOUT ROWID;
  CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE commands (
    id     TEXT PRIMARY KEY,
    at     INTEGER NOT NULL,
    result TEXT NOT NULL
  ) WITHOUT ROWID;
  `,
  // 2: revocations made on this device (`doorpass passes revoke`). The cloud never heard of them until their
  // `pass.revoked` event is uploaded, so a rebuilt cache refilled by the cloud's snapshot would bring the pass
  // back: the store re-applies these into the cache at every open (store.ts, applyLocalRevocations).
  `
  CREATE TABLE local_revocations (
    pass_id TEXT PRIMARY KEY,
    at      INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
];

/**
 * The pass cache (`cache.db`, WAL + synchronous=NORMAL): everything the cloud can send again. Its sync seq
 * lives here too (`sync_meta`), so a power cut that loses the last commits rolls the seq back with them and
 * the cloud resends what is missing. `cache.rebuilt` in sync_meta marks a cache recreated after corruption
 * that has not been resynced yet.
 */
export const CACHE_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE passes (
    id          TEXT PRIMARY KEY,
    version     INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    revoked     INTEGER NOT NULL DEFAULT 0,
    valid_from  INTEGER NOT NULL,
    valid_until INTEGER NOT NULL,
    rule        TEXT NOT NULL,
    doc         TEXT NOT NULL,
    search      TEXT NOT NULL,
    access_group_id TEXT,
    updated_at  INTEGER NOT NULL
  );
  CREATE TABLE credentials (
    hash    BLOB PRIMARY KEY,
    pass_id TEXT NOT NULL REFERENCES passes(id) ON DELETE CASCADE,
    type    TEXT NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX credentials_pass ON credentials(pass_id);
  -- Use counts the cloud reported (every device, this one included); merged by max.
  CREATE TABLE pass_uses (
    pass_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    count     INTEGER NOT NULL,
    PRIMARY KEY (pass_id, device_id)
  ) WITHOUT ROWID;
  CREATE TABLE revocations (
    pass_id TEXT PRIMARY KEY,
    at      INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE access_groups (
    id       TEXT PRIMARY KEY,
    name     TEXT NOT NULL,
    schedule TEXT NOT NULL,
    doc      TEXT NOT NULL
  );
  CREATE TABLE snapshot_parts (
    seq   INTEGER NOT NULL,
    part  INTEGER NOT NULL,
    parts INTEGER NOT NULL,
    body  TEXT NOT NULL,
    PRIMARY KEY (seq, part)
  ) WITHOUT ROWID;
  CREATE TABLE sync_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) WITHOUT ROWID;
  `,
  // 2: snapshot parts are no longer staged as raw bodies (they held credential values in clear text): each
  // part is validated and hashed first and staged into shadow tables (store.ts, beginStage). The legacy
  // table goes; the store runs this with secure_delete on and VACUUMs afterwards, so no freed page keeps
  // the old bodies (SqlitePassStore.initFile).
  `
  DELETE FROM snapshot_parts;
  DROP TABLE snapshot_parts;
  `,
];
