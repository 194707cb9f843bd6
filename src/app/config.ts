/**
 * The configuration file: one zod schema is the source of truth for validation and for the TypeScript type.
 * Every problem is reported at once, each with file:line:column, the key path, what was found and what is
 * expected. Unknown keys are errors (they are typos), with a "did you mean" when a known key is close.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isMap, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { z } from 'zod';
import { DoorpassError, ErrorCode } from '../core/errors.js';
import { isValidTimeZone } from '../core/zone.js';

export const DEFAULT_CONFIG_PATH = '/etc/doorpass/doorpass.yaml';

const id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, {
  error: 'expected an id of letters, digits, ".", "_" or "-" (1 to 64 characters)',
});

const relaySchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('log'),
    pulseMs: z.int().min(100).max(60_000).default(3000),
  }),
]);

const inputSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('console'),
    door: id,
  }),
]);

export const configSchema = z.strictObject({
  site: z.strictObject({
    id,
    timezone: z.string().refine(isValidTimeZone, {
      error: (iss) =>
        `${JSON.stringify(iss.input)} is not an IANA time zone name (expected e.g. "America/New_York")`,
    }),
    maxPassDays: z.int().min(1).max(3660).default(366),
  }),
  device: z.strictObject({ id }),
  storage: z.strictObject({
    dir: z.string().min(1),
    /** File holding the credential hashing key; generated as <dir>/credential.key when absent. */
    credentialKeyFile: z.string().min(1).optional(),
  }),
  doors: z.array(z.strictObject({ id, name: z.string().max(128).optional(), relay: relaySchema })).min(1, {
    error: 'expected at least one door',
  }),
  inputs: z.array(inputSchema).default([]),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    })
    .default({ level: 'info' }),
});

export type Config = z.infer<typeof configSchema>;
export type DoorConfig = Config['doors'][number];
export type InputConfig = Config['inputs'][number];

/** A loaded config plus where it came from (paths inside it are resolved against the file's folder). */
export interface LoadedConfig {
  readonly file: string;
  readonly config: Config;
}

/** Every key name the schema knows, for "did you mean". */
const KNOWN_KEYS = [
  'site',
  'id',
  'timezone',
  'maxPassDays',
  'device',
  'storage',
  'dir',
  'credentialKeyFile',
  'doors',
  'name',
  'relay',
  'type',
  'pulseMs',
  'inputs',
  'door',
  'log',
  'level',
];

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] ?? 0;
      row[j] = Math.min(
        (row[j] ?? 0) + 1,
        (row[j - 1] ?? 0) + 1,
        prev + (a[i - 1]?.toLowerCase() === b[j - 1]?.toLowerCase() ? 0 : 1),
      );
      prev = tmp;
    }
  }
  return row[b.length] ?? 0;
}

function suggest(key: string): string {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of KNOWN_KEYS) {
    const d = editDistance(key, k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(key.length / 3))
    ? ` (did you mean "${best}"?)`
    : '';
}

function keyPath(segments: readonly PropertyKey[]): string {
  return segments.reduce<string>(
    (acc, s) => (typeof s === 'number' ? `${acc}[${s}]` : acc ? `${acc}.${String(s)}` : String(s)),
    '',
  );
}

/** Finds the YAML node at a path (or the key node of `key` in the map there) to report its line and column. */
function locate(root: Node | null, segments: readonly PropertyKey[], key?: string): number | undefined {
  let node: unknown = root;
  let offset: number | undefined = (root as { range?: number[] } | null)?.range?.[0];
  const steps = key === undefined ? segments : [...segments, key];
  for (const s of steps) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (p.key as { value?: unknown } | null)?.value === s);
      if (!pair) break;
      offset =
        (s === key ? (pair.key as Node).range?.[0] : undefined) ??
        (pair.value as Node | null)?.range?.[0] ??
        offset;
      node = pair.value;
    } else if (isSeq(node) && typeof s === 'number') {
      node = node.items[s];
      offset = (node as Node | undefined)?.range?.[0] ?? offset;
    } else break;
  }
  return offset;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  return `${typeof value} ${JSON.stringify(value)}`;
}

function valueAt(root: unknown, segments: readonly PropertyKey[]): unknown {
  let v = root;
  for (const s of segments) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[s];
  }
  return v;
}

/**
 * Parses and validates config text. Throws a DoorpassError (config.invalid) whose details hold one line per
 * problem: `FILE:LINE:COL: key.path: message`.
 */
export function parseConfig(text: string, file: string): Config {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const where = (offset: number | undefined): string => {
    if (offset === undefined) return file;
    const { line, col } = lineCounter.linePos(offset);
    return `${file}:${line}:${col}`;
  };
  if (doc.errors.length > 0) {
    throw new DoorpassError(
      ErrorCode.ConfigInvalid,
      `${file} is not valid YAML`,
      doc.errors.map((e) => `${where(e.pos[0])}: ${e.message.split('\n')[0] ?? ''}`),
    );
  }
  const raw: unknown = doc.toJS({ maxAliasCount: 100 });
  const problems: { at: number; text: string }[] = [];
  const add = (offset: number | undefined, text: string): void => {
    problems.push({ at: offset ?? -1, text: `${where(offset)}: ${text}` });
  };
  const result = configSchema.safeParse(raw ?? {});
  if (!result.success) {
    for (const issue of result.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const k of issue.keys) {
          const p = keyPath([...issue.path, k]);
          add(locate(doc.contents, issue.path, k), `${p}: unknown key${suggest(k)}`);
        }
        continue;
      }
      const p = keyPath(issue.path) || '(top level)';
      const found = valueAt(raw, issue.path);
      let message = issue.message;
      if (issue.code === 'invalid_type')
        message =
          found === undefined
            ? `missing (expected ${issue.expected})`
            : `expected ${issue.expected}, found ${describe(found)}`;
      else if (issue.code === 'invalid_union' && 'options' in issue && Array.isArray(issue.options))
        message = `found ${describe(found)}, expected one of ${issue.options.map((o) => JSON.stringify(o)).join(', ')}`;
      add(locate(doc.contents, issue.path), `${p}: ${message}`);
    }
  }
  // Cross-checks read the raw document, so they are reported together with schema problems.
  const rawDoors = Array.isArray(valueAt(raw, ['doors'])) ? (valueAt(raw, ['doors']) as unknown[]) : [];
  const rawInputs = Array.isArray(valueAt(raw, ['inputs'])) ? (valueAt(raw, ['inputs']) as unknown[]) : [];
  const doorIds = new Set<string>();
  rawDoors.forEach((d, i) => {
    const doorId = valueAt(d, ['id']);
    if (typeof doorId !== 'string') return;
    if (doorIds.has(doorId))
      add(locate(doc.contents, ['doors', i, 'id']), `doors[${i}].id: door "${doorId}" is defined twice`);
    doorIds.add(doorId);
  });
  let consoles = 0;
  rawInputs.forEach((inp, i) => {
    const door = valueAt(inp, ['door']);
    if (typeof door === 'string' && !doorIds.has(door)) {
      add(
        locate(doc.contents, ['inputs', i, 'door']),
        `inputs[${i}].door: no door "${door}" (expected one of: ${[...doorIds].join(', ')})`,
      );
    }
    if (valueAt(inp, ['type']) === 'console' && ++consoles > 1) {
      add(
        locate(doc.contents, ['inputs', i, 'type']),
        `inputs[${i}].type: only one console input is allowed (it reads standard input)`,
      );
    }
  });
  if (problems.length > 0) {
    throw new DoorpassError(
      ErrorCode.ConfigInvalid,
      `${file}: ${problems.length} configuration problem${problems.length === 1 ? '' : 's'}`,
      problems.sort((a, b) => a.at - b.at).map((p) => p.text),
    );
  }
  if (!result.success) throw new Error('unreachable');
  const cfg = result.data;
  const base = path.dirname(path.resolve(file));
  const storage = {
    ...cfg.storage,
    dir: path.resolve(base, cfg.storage.dir),
    ...(cfg.storage.credentialKeyFile !== undefined && {
      credentialKeyFile: path.resolve(base, cfg.storage.credentialKeyFile),
    }),
  };
  return { ...cfg, storage };
}

/** Resolves which file to read: the explicit option, then $DOORPASS_CONFIG, then /etc/doorpass/doorpass.yaml. */
export function configPath(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return explicit ?? env.DOORPASS_CONFIG ?? DEFAULT_CONFIG_PATH;
}

export function loadConfig(file: string): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(e);
    throw new DoorpassError(ErrorCode.ConfigUnreadable, `cannot read config file ${file}: ${why}`);
  }
  return { file, config: parseConfig(text, file) };
}
