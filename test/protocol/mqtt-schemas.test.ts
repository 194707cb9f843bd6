/**
 * docs/mqtt.md and docs/schemas/ against the code: the zod-derived JSON Schemas are regenerated and compared
 * with the files, every worked example of the page is validated (cloud -> device ones with the zod schemas
 * the device uses, device -> cloud ones with their JSON Schema), and the topic names are checked.
 */
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { z } from 'zod';
import { UlidFactory } from '../../src/app/ids.js';
import { eventToJson, type JournalEvent } from '../../src/core/events.js';
import * as mqtt from '../../src/protocol/mqtt.js';
import * as pass from '../../src/protocol/pass.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const SCHEMA_DIR = path.join(ROOT, 'docs/schemas');
const DOC = readFileSync(path.join(ROOT, 'docs/mqtt.md'), 'utf8');
const REGENERATE = 'npm run build && node scripts/gen-mqtt-schemas.mjs';

/** scripts/gen-mqtt-schemas.mjs: the one place that turns the zod schemas into the JSON Schema files. */
interface Generator {
  buildSchemas(mqttModule: typeof mqtt, passModule: typeof pass): Record<string, unknown>;
}
const generator = (await import(
  pathToFileURL(path.join(ROOT, 'scripts/gen-mqtt-schemas.mjs')).href
)) as Generator;

/** The messages, their direction and schema file. */
const MESSAGES = {
  'passes-delta': { toDevice: true },
  'snapshot-part': { toDevice: true },
  command: { toDevice: true },
  'sync-request': { toDevice: false },
  'events-batch': { toDevice: false },
  'command-result': { toDevice: false },
  status: { toDevice: false },
} as const;
type Message = keyof typeof MESSAGES;
const isMessage = (k: string): k is Message => Object.hasOwn(MESSAGES, k);
const schemaFile = (m: Message): string => `${m}.schema.json`;

/** The zod schema the device parses each cloud -> device message with. */
const ZOD: Record<'passes-delta' | 'snapshot-part' | 'command', z.ZodType> = {
  'passes-delta': mqtt.passDeltaSchema,
  'snapshot-part': mqtt.snapshotPartSchema,
  command: mqtt.commandSchema,
};

function readSchema(file: string): Schema {
  const value: unknown = JSON.parse(readFileSync(path.join(SCHEMA_DIR, file), 'utf8'));
  if (!isObject(value)) throw new Error(`docs/schemas/${file} is not a JSON object`);
  return value;
}

// ---------------------------------------------------------------------------------------------------------
// A small structural JSON Schema check: the keywords docs/schemas/ uses, and no other (an unknown keyword
// throws, so a constraint is never skipped silently). Returns "path: problem" strings.

type Schema = Record<string, unknown>;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const ANNOTATIONS = new Set([
  '$schema',
  '$id',
  'title',
  'description',
  '$comment',
  'default',
  '$defs',
  'examples',
]);
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function typeOk(type: unknown, v: unknown): boolean {
  switch (type) {
    case 'object':
      return isObject(v);
    case 'array':
      return Array.isArray(v);
    case 'string':
      return typeof v === 'string';
    case 'integer':
      return Number.isInteger(v);
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'boolean':
      return typeof v === 'boolean';
    case 'null':
      return v === null;
    default:
      throw new Error(`unsupported type ${JSON.stringify(type)}`);
  }
}

function resolveRef(root: Schema, ref: string): Schema {
  if (!ref.startsWith('#/')) throw new Error(`unsupported $ref ${ref}`);
  let node: unknown = root;
  for (const seg of ref.slice(2).split('/')) {
    node = isObject(node) ? node[seg.replaceAll('~1', '/').replaceAll('~0', '~')] : undefined;
  }
  if (!isObject(node)) throw new Error(`$ref ${ref} does not resolve`);
  return node;
}

function validate(schema: unknown, v: unknown, root: Schema, at = '$'): string[] {
  if (schema === true) return [];
  if (schema === false) return [`${at}: not allowed`];
  if (!isObject(schema)) throw new Error(`${at}: a schema must be an object or a boolean`);
  const out: string[] = [];
  const num = (k: string): number => {
    const n = schema[k];
    if (typeof n !== 'number') throw new Error(`${at}: ${k} must be a number`);
    return n;
  };
  for (const [k, arg] of Object.entries(schema)) {
    if (ANNOTATIONS.has(k)) continue;
    switch (k) {
      case '$ref':
        out.push(...validate(resolveRef(root, String(arg)), v, root, at));
        break;
      case 'type': {
        const types = Array.isArray(arg) ? arg : [arg];
        if (!types.some((ty) => typeOk(ty, v))) out.push(`${at}: expected ${types.join(' or ')}`);
        break;
      }
      case 'const':
        if (JSON.stringify(v) !== JSON.stringify(arg)) out.push(`${at}: expected ${JSON.stringify(arg)}`);
        break;
      case 'enum':
        if (!Array.isArray(arg) || !arg.some((e) => JSON.stringify(e) === JSON.stringify(v)))
          out.push(`${at}: ${JSON.stringify(v)} is not one of ${JSON.stringify(arg)}`);
        break;
      case 'format':
        if (arg !== 'date-time') throw new Error(`${at}: unsupported format ${String(arg)}`);
        if (typeof v === 'string' && (!DATE_TIME.test(v) || Number.isNaN(Date.parse(v))))
          out.push(`${at}: not a date-time`);
        break;
      case 'pattern':
        if (typeof v === 'string' && !new RegExp(String(arg), 'u').test(v))
          out.push(`${at}: does not match ${String(arg)}`);
        break;
      case 'minLength':
      case 'maxLength':
        if (typeof v === 'string') {
          const len = [...v].length;
          if (k === 'minLength' ? len < num(k) : len > num(k))
            out.push(`${at}: length ${len} (${k} ${num(k)})`);
        }
        break;
      case 'minimum':
      case 'maximum':
        if (typeof v === 'number' && (k === 'minimum' ? v < num(k) : v > num(k)))
          out.push(`${at}: ${v} (${k} ${num(k)})`);
        break;
      case 'minItems':
      case 'maxItems':
        if (Array.isArray(v) && (k === 'minItems' ? v.length < num(k) : v.length > num(k)))
          out.push(`${at}: ${v.length} items (${k} ${num(k)})`);
        break;
      case 'items':
        if (Array.isArray(v)) v.forEach((item, i) => out.push(...validate(arg, item, root, `${at}[${i}]`)));
        break;
      case 'required':
        if (isObject(v) && Array.isArray(arg))
          for (const key of arg)
            if (!Object.hasOwn(v, String(key))) out.push(`${at}: missing ${String(key)}`);
        break;
      case 'properties':
        if (isObject(v) && isObject(arg))
          for (const [key, sub] of Object.entries(arg))
            if (Object.hasOwn(v, key)) out.push(...validate(sub, v[key], root, `${at}.${key}`));
        break;
      case 'additionalProperties':
        if (isObject(v)) {
          const declared = isObject(schema.properties) ? schema.properties : {};
          for (const [key, value] of Object.entries(v))
            if (!Object.hasOwn(declared, key)) out.push(...validate(arg, value, root, `${at}.${key}`));
        }
        break;
      case 'propertyNames':
        if (isObject(v))
          for (const key of Object.keys(v)) out.push(...validate(arg, key, root, `${at} key ${key}`));
        break;
      case 'allOf':
      case 'anyOf':
      case 'oneOf': {
        if (!Array.isArray(arg)) throw new Error(`${at}: ${k} must be an array`);
        const results = arg.map((sub) => validate(sub, v, root, at));
        const passing = results.filter((r) => r.length === 0).length;
        if (k === 'allOf') out.push(...results.flat());
        else if (k === 'anyOf' && passing === 0)
          out.push(`${at}: matches none of anyOf (${results.flat().join('; ')})`);
        else if (k === 'oneOf' && passing !== 1)
          out.push(
            passing === 0
              ? `${at}: matches none of oneOf (${results.map((r) => r.join(', ')).join(' | ')})`
              : `${at}: matches ${passing} branches of oneOf`,
          );
        break;
      }
      default:
        throw new Error(`${at}: the check does not know the keyword ${k}`);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------

t.test('the zod-derived schemas in docs/schemas/ are up to date with src/protocol', async (t) => {
  const generated = generator.buildSchemas(mqtt, pass);
  t.strictSame(
    Object.keys(generated).sort(),
    ['command.schema.json', 'passes-delta.schema.json', 'snapshot-part.schema.json'],
    'one generated file per zod-defined message',
  );
  for (const [file, schema] of Object.entries(generated)) {
    let onDisk: unknown;
    try {
      onDisk = readSchema(file);
    } catch (e) {
      t.fail(`docs/schemas/${file}: ${(e as Error).message}; regenerate it with \`${REGENERATE}\``);
      continue;
    }
    t.strictSame(
      onDisk,
      JSON.parse(JSON.stringify(schema)),
      `docs/schemas/${file} is what z.toJSONSchema makes of src/protocol today; if not, regenerate it with \`${REGENERATE}\``,
    );
  }
});

t.test('docs/schemas/ holds one schema per message, each linked from docs/mqtt.md', async (t) => {
  const files = readdirSync(SCHEMA_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort();
  t.strictSame(
    files,
    Object.keys(MESSAGES)
      .map((m) => schemaFile(m as Message))
      .sort(),
  );
  for (const f of files) {
    const s = readSchema(f);
    t.equal(s.$schema, 'https://json-schema.org/draft/2020-12/schema', `${f} is draft 2020-12`);
    t.type(s.title, 'string', `${f} has a title`);
    t.ok(DOC.includes(`](schemas/${f})`), `docs/mqtt.md links ${f}`);
    // Every keyword is one the check knows, and every $ref resolves: validating anything walks them all.
    t.doesNotThrow(() => validate(s, {}, s), `${f} uses only keywords the check knows`);
  }
});

/** The ```json block after each `<!-- example: kind -->` marker of docs/mqtt.md. */
function examples(): { kind: string; json: unknown; line: number }[] {
  const out: { kind: string; json: unknown; line: number }[] = [];
  for (const m of DOC.matchAll(/<!-- example: ([a-z-]+) -->\s*```json\n([\s\S]*?)\n```/g)) {
    const line = DOC.slice(0, m.index).split('\n').length;
    out.push({ kind: m[1] ?? '', json: JSON.parse(m[2] ?? '') as unknown, line });
  }
  return out;
}

t.test('the worked examples of docs/mqtt.md', async (t) => {
  const all = examples();
  const markers = DOC.match(/<!-- example:/g)?.length ?? 0;
  t.equal(all.length, markers, 'every example marker is followed by a ```json block');
  for (const kind of Object.keys(MESSAGES))
    t.ok(
      all.some((e) => e.kind === kind),
      `docs/mqtt.md has an example of ${kind}`,
    );
  const policy = { maxValidityMs: 366 * 86_400_000 };
  for (const { kind, json, line } of all) {
    const where = `docs/mqtt.md:${line} (${kind})`;
    if (!isMessage(kind)) {
      t.fail(`${where}: no such message`);
      continue;
    }
    const schema = readSchema(schemaFile(kind));
    if (kind === 'passes-delta' || kind === 'snapshot-part' || kind === 'command') {
      // Cloud -> device: what the device itself accepts, down to each pass and access group.
      const r = ZOD[kind].safeParse(json);
      t.ok(r.success, `${where} passes the zod schema`, {
        issues: r.success ? [] : pass.formatIssues(r.error),
      });
      const items = isObject(json)
        ? {
            passes: [json.upsert, json.passes].flatMap((a) => (Array.isArray(a) ? (a as unknown[]) : [])),
            groups: Array.isArray(json.accessGroups) ? (json.accessGroups as unknown[]) : [],
          }
        : { passes: [], groups: [] };
      for (const raw of items.passes) {
        const p = pass.passSchema.safeParse(raw);
        t.ok(p.success, `${where}: pass ${JSON.stringify(isObject(raw) ? raw.id : raw)} is valid`, {
          issues: p.success ? [] : pass.formatIssues(p.error),
        });
        if (p.success)
          t.notOk('errors' in pass.compilePass(p.data, policy), `${where}: ${p.data.id} compiles`);
        t.strictSame(pass.unknownPassFields(raw), [], `${where}: no unknown pass fields`);
      }
      for (const raw of items.groups)
        t.ok(pass.accessGroupSchema.safeParse(raw).success, `${where}: group valid`);
    }
    // Every example, either direction, against its JSON Schema (for cloud -> device a cross-check that the
    // generated schema and zod agree).
    t.strictSame(validate(schema, json, schema), [], `${where} matches docs/schemas/${schemaFile(kind)}`);
  }
});

t.test('the JSON Schema check rejects what the hand-written schemas forbid', async (t) => {
  const check = (m: Message, v: unknown): string[] => {
    const s = readSchema(schemaFile(m));
    return validate(s, v, s);
  };
  const event = {
    id: '01KT1QXMRMB8WZ3W1Q0P9B6V82',
    at: '2026-06-01T14:03:07.412Z',
    type: 'access.granted',
    device: 'panel-west',
    door: 'lobby',
    credentialType: 'pin',
    passId: 'p-1',
    reason: null,
  };
  t.strictSame(check('events-batch', { events: [event] }), []);
  t.not(check('events-batch', { events: [] }).length, 0, 'an empty batch');
  const { id: _id, ...noId } = event;
  t.not(check('events-batch', { events: [noId] }).length, 0, 'an event without id');
  t.not(
    check('events-batch', { events: [{ ...event, reason: 'revoked' }] }).length,
    0,
    'a grant with a reason',
  );
  t.not(check('events-batch', { events: [{ ...event, type: 'access.maybe' }] }).length, 0, 'an unknown type');
  t.not(check('events-batch', { events: [{ ...event, at: 1_780_000_000_000 }] }).length, 0, 'at in ms');
  t.not(check('sync-request', { have: -1 }).length, 0, 'a negative seq');
  t.not(check('sync-request', { have: 1, more: true }).length, 0, 'an extra key');
  t.not(check('command-result', { id: 'c', ok: false }).length, 0, 'a failure without an error');
  t.not(check('status', { online: true }).length, 0, 'an online status without its fields');
  t.not(check('status', { online: false, seq: 3 }).length, 0, 'a will with more than online');
  t.not(check('status', { online: 'no' }).length, 0, 'online as a string');
});

t.test('events as the code writes them match the events batch schema', async (t) => {
  const ids = new UlidFactory();
  const at = Date.parse('2026-06-01T14:03:07.412Z');
  const base = (n: number): { id: string; at: number; device: string } => ({
    id: ids.next(at + n),
    at: at + n,
    device: 'panel-west',
  });
  const events: JournalEvent[] = [
    {
      ...base(0),
      type: 'access.granted',
      door: 'lobby',
      credentialType: 'qr',
      passId: 'courier-7f3a',
      reason: null,
      floors: [1, 12],
      source: 'bridge:/dev/ttyACM0',
    },
    {
      ...base(1),
      type: 'access.denied',
      door: 'lobby',
      credentialType: 'card',
      passId: null,
      reason: 'locked_out',
      source: 'console',
    },
    {
      ...base(2),
      type: 'access.denied',
      door: 'lobby',
      credentialType: 'pin',
      passId: 'p',
      reason: 'use_limit',
    },
    ...(['door.opened', 'door.forced', 'door.exit', 'door.remote_unlock'] as const).map((type, i) => ({
      ...base(3 + i),
      type,
      door: 'lobby',
    })),
    { ...base(7), type: 'door.closed', door: 'lobby', openMs: 6500 },
    { ...base(8), type: 'door.held_open', door: 'lobby', openMs: 30_000 },
    { ...base(9), type: 'input.read_error', source: 'bridge:/dev/ttyACM0', door: 'lobby', detail: 'parity' },
    {
      ...base(10),
      type: 'input.locked_out',
      source: 'console',
      door: 'lobby',
      lockedForMs: 60_000,
      detail: 'x',
    },
    { ...base(11), type: 'input.online', source: 'hid:keyboard:/dev/hidraw0', door: 'lobby' },
    {
      ...base(12),
      type: 'input.offline',
      source: 'hid:keyboard:/dev/hidraw0',
      door: 'lobby',
      detail: 'gone',
    },
    { ...base(13), type: 'device.outbox_dropped', count: 3, detail: 'outbox bound 100' },
    { ...base(14), type: 'device.command', commandId: 'c-1', command: 'unlock', door: 'lobby', detail: 'ok' },
    { ...base(15), type: 'device.command', commandId: 'c-2', command: 'ping', detail: 'expired' },
    { ...base(16), type: 'device.cache_rebuilt', detail: 'quick_check: … (moved to cache.db.corrupt-X)' },
    { ...base(17), type: 'device.journal_rebuilt', detail: 'file is not a database (moved to …)' },
    { ...base(18), type: 'device.storage_failed', detail: 'SQLITE_FULL: database or disk is full' },
    { ...base(19), type: 'device.storage_recovered', count: 4, detail: 'journal writable again after 10 s' },
    { ...base(20), type: 'pass.revoked', passId: 'p-9', by: 'local', detail: 'revoked on this device' },
    {
      ...base(21),
      type: 'access.denied',
      door: 'lobby',
      credentialType: 'qr',
      passId: null,
      reason: 'malformed_credential',
    },
  ];
  const s = readSchema('events-batch.schema.json');
  const batch = JSON.parse(JSON.stringify({ events: events.map(eventToJson) })) as unknown;
  t.strictSame(validate(s, batch, s), []);
});

t.test('topics', async (t) => {
  t.strictSame(mqtt.topics('tower-a', 'panel-west'), {
    passes: 'doorpass/v1/tower-a/passes',
    syncRequest: 'doorpass/v1/tower-a/devices/panel-west/sync/request',
    snapshot: 'doorpass/v1/tower-a/devices/panel-west/snapshot',
    events: 'doorpass/v1/tower-a/devices/panel-west/events',
    status: 'doorpass/v1/tower-a/devices/panel-west/status',
    commands: 'doorpass/v1/tower-a/devices/panel-west/commands',
    commandResult: 'doorpass/v1/tower-a/devices/panel-west/commands/result',
  });
  for (const [name, topic] of Object.entries(mqtt.topics('{site}', '{device}')))
    t.ok(DOC.includes(`| \`${topic}\``), `docs/mqtt.md lists the ${name} topic ${topic}`);
  t.equal(mqtt.SIGNATURE_PROPERTY, 'sig', 'the signature user property');
  t.equal(mqtt.MAX_SNAPSHOT_PART_BYTES, 256 * 1024, 'snapshot parts are at most 256 KiB');
  t.equal(mqtt.MAX_PAYLOAD_BYTES, 4 * 1024 * 1024, 'the 4 MiB payload bound docs/mqtt.md states');
});
