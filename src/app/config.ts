/**
 * The configuration file: one zod schema is the source of truth for validation and for the TypeScript type.
 * Every problem is reported at once, each with file:line:column, the key path, what was found and what is
 * expected. Unknown keys are errors (they are typos), with a "did you mean" when a known key is close.
 */
import { createPublicKey } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { z } from 'zod';
import { DoorpassError, ErrorCode } from '../core/errors.js';
import { isValidTimeZone } from '../core/zone.js';

export const DEFAULT_CONFIG_PATH = '/etc/doorpass/doorpass.yaml';

const id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, {
  error: 'expected an id of letters, digits, ".", "_" or "-" (1 to 64 characters)',
});

const pulseMs = z.int().min(100).max(60_000).default(3000);

/**
 * A GPIO line: the sysfs GPIO number as the kernel numbers it, or a chip label and line offset resolved
 * from /sys/class/gpio/gpiochip*\/{label,base} (Raspberry Pi kernels from 6.6 on number lines from
 * the chip's base, often 512 + BCM number).
 */
export const gpioLineSchema = z.union([
  z.int().min(0).max(4095),
  z.strictObject({ chip: z.string().min(1).max(64), offset: z.int().min(0).max(1023) }),
]);
export type GpioLineSpec = z.infer<typeof gpioLineSchema>;

const relaySchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('log'), pulseMs }),
  z.strictObject({
    type: z.literal('gpio'),
    line: gpioLineSchema,
    /** The relay module energises on a low level (common for opto-isolated boards). */
    activeLow: z.boolean().default(false),
    pulseMs,
  }),
  z.strictObject({
    type: z.literal('bridge'),
    channel: z.int().min(0).max(255),
    pulseMs,
    /** The bridge's serial path; defaults to the bridge input attached to this door. */
    path: z.string().min(1).optional(),
  }),
  z.strictObject({
    type: z.literal('osdp'),
    /** An output of the OSDP reader at this address (docs/osdp.md): it times the pulse itself. */
    reader: z.int().min(0).max(126),
    output: z.int().min(0).max(255),
    pulseMs,
    /** The OSDP bus's serial path; needed only when two buses have a reader at this address. */
    path: z.string().min(1).optional(),
  }),
]);

/** A door contact or exit button: on a GPIO line, or an INPUT of the serial bridge. */
const sensorSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('gpio'),
    line: gpioLineSchema,
    /** Active (door open / button pressed) on a low level. */
    activeLow: z.boolean().default(false),
    debounceMs: z.int().min(0).max(1000).default(30),
  }),
  z.strictObject({
    type: z.literal('bridge'),
    input: z.int().min(0).max(255),
    activeLow: z.boolean().default(false),
    path: z.string().min(1).optional(),
  }),
  z.strictObject({
    type: z.literal('osdp'),
    /** An input of the OSDP reader at this address (its ISTATR reports). */
    reader: z.int().min(0).max(126),
    input: z.int().min(0).max(255),
    activeLow: z.boolean().default(false),
    path: z.string().min(1).optional(),
  }),
]);

const doorSchema = z.strictObject({
  id,
  name: z.string().max(128).optional(),
  relay: relaySchema,
  contact: sensorSchema.optional(),
  exitButton: sensorSchema.optional(),
  /** A door open longer than this raises door.held_open and the alarm. */
  heldOpenMs: z.int().min(1000).max(3_600_000).default(30_000),
  /** A door opened this soon after the relay released is not forced (the strike drops as people pull). */
  graceMs: z.int().min(0).max(30_000).default(2000),
});

const wiegandSchema = z
  .strictObject({
    format: z.enum(['auto', 'h10301', 'wiegand34', 'corp1000', 'h10304']).default('auto'),
    mapping: z.enum(['data', 'card', 'hex']).default('data'),
  })
  .default({ format: 'auto', mapping: 'data' });

const fraction = z.number().min(0).max(1);
const cameraSchema = z.strictObject({
  type: z.literal('camera'),
  door: id,
  source: z.discriminatedUnion('type', [
    z.strictObject({
      type: z.literal('command'),
      /** argv, e.g. ["rpicam-vid", "-t", "0", "--codec", "yuv420", ...] or ["sh", "-c", "..."]. */
      command: z.array(z.string().min(1)).min(1),
      width: z.int().min(16).max(4096),
      height: z.int().min(16).max(4096),
      pixelFormat: z.enum(['gray', 'yuv420']).default('gray'),
    }),
    z.strictObject({ type: z.literal('bridge'), path: z.string().min(1) }),
    z.strictObject({
      type: z.literal('files'),
      dir: z.string().min(1),
      fps: z.number().positive().max(60).default(2),
    }),
  ]),
  decoder: z.enum(['zxing', 'jsqr']).default('zxing'),
  holdOffMs: z.int().min(0).max(600_000).default(3000),
  roi: z.strictObject({ x: fraction, y: fraction, width: fraction, height: fraction }).optional(),
  maxWidth: z.int().min(0).max(4096).default(0),
  skipUnchanged: z.boolean().default(true),
  invert: z.boolean().default(false),
  stallMs: z.int().min(500).max(600_000).default(5000),
});

const inputSchema = z.discriminatedUnion('type', [
  cameraSchema,
  z.strictObject({ type: z.literal('console'), door: id }),
  z.strictObject({
    type: z.literal('bridge'),
    path: z.string().min(1),
    baudRate: z.int().min(1200).max(4_000_000).default(115_200),
    door: id,
    wiegand: wiegandSchema,
  }),
  z.strictObject({
    type: z.literal('hid'),
    door: id,
    /** keypad: keys make PINs (Enter = #); card: each line is a card number; scanner: each line is QR text. */
    role: z.enum(['keypad', 'card', 'scanner']),
    vendorId: z.int().min(0).max(0xffff).optional(),
    productId: z.int().min(0).max(0xffff).optional(),
    /** A hidraw path (e.g. a udev symlink) instead of vendor/product ids. */
    path: z.string().min(1).optional(),
    /** Reports carry a leading report-ID byte. */
    reportId: z.boolean().default(false),
  }),
  z.strictObject({
    /** OSDP readers on one RS-485 line (docs/osdp.md). */
    type: z.literal('osdp'),
    path: z.string().min(1),
    baudRate: z.union([9600, 19200, 38400, 57600, 115200].map((b) => z.literal(b))).default(9600),
    readers: z
      .array(
        z.strictObject({
          address: z.int().min(0).max(126),
          door: id,
          /** Secure channel required (default); false drives the reader in plain mode. */
          secure: z.boolean().default(true),
          /** A file holding the reader's secure channel key (32 hex digits, mode 0600). */
          keyFile: z.string().min(1).optional(),
          /** Install keyFile's key with KEYSET over the default key SCBK-D, once (logged, recorded). */
          installKey: z.boolean().default(false),
        }),
      )
      .min(1, { error: 'expected at least one reader' }),
    wiegand: wiegandSchema,
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
    /**
     * When the journal cannot be written (disk full, read-only): deny-limited (default) denies passes with
     * a use limit (store_unavailable) and grants the rest; deny-all denies every credential; allow-all
     * grants as the cache says, counting uses in memory until they can be written.
     */
    writeFailurePolicy: z.enum(['deny-limited', 'deny-all', 'allow-all']).default('deny-limited'),
    /** Events kept in memory while the journal cannot be written (the oldest are dropped beyond it). */
    maxPendingEvents: z.int().min(10).max(100_000).default(1000),
    /** How often writing the journal is retried while it fails. */
    writeRetryMs: z.int().min(100).max(600_000).default(5000),
  }),
  doors: z.array(doorSchema).min(1, { error: 'expected at least one door' }),
  inputs: z.array(inputSchema).default([]),
  keypad: z
    .strictObject({ timeoutMs: z.int().min(1000).max(120_000).default(10_000) })
    .default({ timeoutMs: 10_000 }),
  lockout: z
    .strictObject({
      maxFailures: z.int().min(1).max(100).default(5),
      windowMs: z.int().min(1000).default(60_000),
      lockMs: z.int().min(1000).default(60_000),
      maxLockMs: z.int().min(1000).default(86_400_000),
      resetAfterMs: z.int().min(1000).default(2_592_000_000),
      maxConsecutive: z.int().min(1).max(1000).default(20),
      /** One guess of the budget (maxConsecutive) is forgiven every forgiveMs; grants forgive nothing. */
      forgiveMs: z.int().min(60_000).max(2_592_000_000).default(86_400_000),
      /** A PIN one keystroke off, followed by the right one, gives its guess back (once per pass per forgiveMs). */
      forgiveTypos: z.boolean().default(true),
    })
    .default({
      maxFailures: 5,
      windowMs: 60_000,
      lockMs: 60_000,
      maxLockMs: 86_400_000,
      resetAfterMs: 2_592_000_000,
      maxConsecutive: 20,
      forgiveMs: 86_400_000,
      forgiveTypos: true,
    }),
  /** What time-bound decisions do while the wall clock is untrusted (docs/reliability.md, "Clock trouble"). */
  clock: z
    .strictObject({
      untrustedPolicy: z.enum(['deny', 'allow-non-expiring']).default('allow-non-expiring'),
      nonExpiringMinDays: z.int().min(1).max(3660).default(180),
    })
    .default({ untrustedPolicy: 'allow-non-expiring', nonExpiringMinDays: 180 }),
  /** The local status socket `doorpass status` reads (a unix socket guarded by file permissions). */
  status: z.strictObject({ socket: z.string().min(1).optional() }).default({}),
  /** The cloud's broker. Without it the door runs stand-alone (passes from `passes import`). */
  mqtt: z
    .strictObject({
      url: z.string().regex(/^(mqtts?|wss?|tcp|ssl):\/\/[^\s]+$/, {
        error: 'expected a broker URL such as mqtt://host:1883 or mqtts://host:8883',
      }),
      clientId: z.string().min(1).max(128).optional(),
      username: z.string().min(1).max(256).optional(),
      /** A file holding the password (secrets are files, never values in the config). */
      passwordFile: z.string().min(1).optional(),
      caFile: z.string().min(1).optional(),
      certFile: z.string().min(1).optional(),
      keyFile: z.string().min(1).optional(),
      keepaliveSeconds: z.int().min(5).max(3600).default(30),
      sessionExpirySeconds: z.int().min(0).max(4_294_967_295).default(604_800),
    })
    .optional(),
  cloud: z
    .strictObject({
      publicKeyFile: z.string().min(1),
      /**
       * Refuse cloud messages without `issuedAt` (and `device` on snapshot parts and commands): contract
       * doorpass/v1 minor 1. Absent means true (fail closed); false only while the cloud still speaks minor 0.
       */
      requireBinding: z.boolean().default(true),
      /** How much older than the newest `issuedAt` already accepted a message may be (docs/mqtt.md). */
      maxMessageAgeHours: z.number().min(1).max(8760).default(24),
    })
    .optional(),
  outbox: z
    .strictObject({
      maxEvents: z.int().min(100).max(10_000_000).default(100_000),
      keepUploaded: z.int().min(0).max(1_000_000).default(10_000),
      batchSize: z.int().min(1).max(1000).default(100),
    })
    .default({ maxEvents: 100_000, keepUploaded: 10_000, batchSize: 100 }),
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
  /** The file's text (for positions in later checks). */
  readonly text?: string;
}

/** Every key name the schema knows, for "did you mean". */
const KNOWN_KEYS = [
  'camera',
  'source',
  'command',
  'width',
  'height',
  'pixelFormat',
  'fps',
  'decoder',
  'holdOffMs',
  'roi',
  'x',
  'y',
  'maxWidth',
  'skipUnchanged',
  'invert',
  'stallMs',
  'status',
  'socket',
  'mqtt',
  'url',
  'clientId',
  'username',
  'passwordFile',
  'caFile',
  'certFile',
  'keyFile',
  'keepaliveSeconds',
  'sessionExpirySeconds',
  'cloud',
  'publicKeyFile',
  'outbox',
  'maxEvents',
  'keepUploaded',
  'batchSize',
  'line',
  'chip',
  'offset',
  'activeLow',
  'channel',
  'path',
  'contact',
  'exitButton',
  'input',
  'debounceMs',
  'heldOpenMs',
  'graceMs',
  'baudRate',
  'wiegand',
  'format',
  'mapping',
  'role',
  'vendorId',
  'productId',
  'reportId',
  'readers',
  'address',
  'secure',
  'installKey',
  'reader',
  'output',
  'keypad',
  'timeoutMs',
  'lockout',
  'clock',
  'untrustedPolicy',
  'nonExpiringMinDays',
  'maxConsecutive',
  'maxFailures',
  'windowMs',
  'lockMs',
  'maxLockMs',
  'resetAfterMs',
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
  if (key.length > 64) return ''; // no known key is that long; spares an edit distance over a huge key
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

/** Larger is no config (a site with dozens of doors fits in a few KB): refused before parsing. */
const MAX_CONFIG_CHARS = 1_000_000;

/** Offset of the first key repeated within one map (YAML forbids it), in one pass with a Set per map. */
function duplicateKeyAt(root: unknown): number | undefined {
  const stack: unknown[] = [root];
  for (let node = stack.pop(); stack.length > 0 || node !== undefined; node = stack.pop()) {
    if (isSeq(node)) for (const item of node.items) stack.push(item);
    if (!isMap(node)) continue;
    const seen = new Set<unknown>();
    for (const pair of node.items) {
      const key: unknown = isScalar(pair.key) ? pair.key.value : pair.key;
      if (seen.has(key)) return (pair.key as Node | null)?.range?.[0] ?? 0;
      seen.add(key);
      stack.push(pair.value);
    }
  }
  return undefined;
}

/**
 * Parses and validates config text. Throws a DoorpassError (config.invalid) whose details hold one line per
 * problem: `FILE:LINE:COL: key.path: message`.
 */
export function parseConfig(text: string, file: string): Config {
  const lineCounter = new LineCounter();
  if (text.length > MAX_CONFIG_CHARS) {
    throw new DoorpassError(ErrorCode.ConfigInvalid, `${file} is not a doorpass config`, [
      `${file}: ${text.length} characters; a config file is at most ${MAX_CONFIG_CHARS}`,
    ]);
  }
  // uniqueKeys: false, and duplicateKeyAt() below instead: yaml's own check compares every pair of keys of a
  // map, so a file of 100,000 keys took minutes.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
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
  let raw: unknown;
  try {
    const duplicate = duplicateKeyAt(doc.contents);
    if (duplicate !== undefined) {
      throw new DoorpassError(ErrorCode.ConfigInvalid, `${file} is not valid YAML`, [
        `${where(duplicate)}: Map keys must be unique`,
      ]);
    }
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    if (e instanceof DoorpassError) throw e;
    // yaml throws a plain ReferenceError for an alias bomb ("billion laughs": aliases expanding past
    // maxAliasCount) and a RangeError when nesting exhausts the stack: both are a bad file, not a crash.
    throw new DoorpassError(ErrorCode.ConfigInvalid, `${file} is not valid YAML`, [
      `${file}: ${(e as Error).message}`,
    ]);
  }
  const problems: { at: number; text: string }[] = [];
  const add = (offset: number | undefined, text: string): void => {
    // A hostile file (a megabyte key or value) must not make a megabyte error line.
    const clipped = text.length > 300 ? `${text.slice(0, 300)}…` : text;
    problems.push({ at: offset ?? -1, text: `${where(offset)}: ${clipped}` });
  };
  const result = configSchema.safeParse(raw ?? {});
  if (!result.success) {
    for (const issue of result.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        // The first 20 only: locating each key scans its map, so thousands of them would be quadratic.
        for (const k of issue.keys.slice(0, 20)) {
          const p = keyPath([...issue.path, k]);
          add(locate(doc.contents, issue.path, k), `${p}: unknown key${suggest(k)}`);
        }
        if (issue.keys.length > 20)
          add(locate(doc.contents, issue.path), `${issue.keys.length - 20} more unknown keys`);
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
  const bridgePaths = new Set<string>();
  const bridgeOfDoor = new Map<string, string>();
  const cameraBridges: [number, unknown][] = [];
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
    if (valueAt(inp, ['type']) === 'bridge') {
      const p = valueAt(inp, ['path']);
      if (typeof p === 'string') {
        if (bridgePaths.has(p)) {
          add(
            locate(doc.contents, ['inputs', i, 'path']),
            `inputs[${i}].path: ${p} is used by two bridge inputs`,
          );
        }
        bridgePaths.add(p);
        if (typeof door === 'string') bridgeOfDoor.set(door, bridgeOfDoor.get(door) ?? p);
      }
    }
    if (valueAt(inp, ['type']) === 'camera' && valueAt(inp, ['source', 'type']) === 'bridge') {
      cameraBridges.push([i, valueAt(inp, ['source', 'path'])]);
    }
    if (valueAt(inp, ['type']) === 'hid') {
      const hasIds = valueAt(inp, ['vendorId']) !== undefined && valueAt(inp, ['productId']) !== undefined;
      if (!hasIds && valueAt(inp, ['path']) === undefined) {
        add(
          locate(doc.contents, ['inputs', i]),
          `inputs[${i}]: a hid input needs vendorId and productId, or path`,
        );
      }
    }
  });
  // OSDP buses: each reader's door exists, one address per bus, a secure reader has its key file.
  const osdpReaders: { path: unknown; address: unknown }[] = [];
  rawInputs.forEach((inp, i) => {
    if (valueAt(inp, ['type']) !== 'osdp') return;
    const p = valueAt(inp, ['path']);
    if (typeof p === 'string' && (bridgePaths.has(p) || osdpReaders.some((r) => r.path === p))) {
      add(locate(doc.contents, ['inputs', i, 'path']), `inputs[${i}].path: ${p} is used by another input`);
    }
    const readers = valueAt(inp, ['readers']);
    if (!Array.isArray(readers)) return;
    const seen = new Set<unknown>();
    readers.forEach((rd: unknown, j) => {
      const where = `inputs[${i}].readers[${j}]`;
      const door = valueAt(rd, ['door']);
      if (typeof door === 'string' && !doorIds.has(door)) {
        add(
          locate(doc.contents, ['inputs', i, 'readers', j, 'door']),
          `${where}.door: no door "${door}" (expected one of: ${[...doorIds].join(', ')})`,
        );
      }
      const address = valueAt(rd, ['address']);
      if (seen.has(address)) {
        add(
          locate(doc.contents, ['inputs', i, 'readers', j, 'address']),
          `${where}.address: two readers at address ${String(address)} on one bus`,
        );
      }
      seen.add(address);
      osdpReaders.push({ path: p, address });
      if (valueAt(rd, ['secure']) !== false && valueAt(rd, ['keyFile']) === undefined) {
        add(
          locate(doc.contents, ['inputs', i, 'readers', j]),
          `${where}: a secure reader needs keyFile (its secure channel key), or secure: false for plain mode`,
        );
      }
      if (valueAt(rd, ['secure']) === false && valueAt(rd, ['installKey']) === true) {
        add(
          locate(doc.contents, ['inputs', i, 'readers', j, 'installKey']),
          `${where}.installKey: a key is installed only on a secure reader`,
        );
      }
    });
  });
  for (const [i, p] of cameraBridges) {
    if (typeof p === 'string' && !bridgePaths.has(p)) {
      add(
        locate(doc.contents, ['inputs', i, 'source', 'path']),
        `inputs[${i}].source.path: no bridge input with path ${p}`,
      );
    }
  }
  // Bridge outputs and sensors need a bridge input on their path (or on their door when no path is given);
  // a GPIO line can serve one purpose only.
  const gpioUses = new Map<string, string>();
  rawDoors.forEach((d, i) => {
    const doorId = valueAt(d, ['id']);
    for (const key of ['relay', 'contact', 'exitButton'] as const) {
      const part = valueAt(d, [key]);
      const type = valueAt(part, ['type']);
      const where = `doors[${i}].${key}`;
      if (type === 'bridge') {
        const p = valueAt(part, ['path']);
        const resolved =
          typeof p === 'string' ? p : typeof doorId === 'string' ? bridgeOfDoor.get(doorId) : undefined;
        if (typeof p === 'string' ? !bridgePaths.has(p) : resolved === undefined) {
          add(
            locate(doc.contents, ['doors', i, key]),
            `${where}: no bridge input ${typeof p === 'string' ? `with path ${p}` : `attached to door "${String(doorId)}"`} (add one under inputs, or set ${key}.path)`,
          );
        }
      } else if (type === 'osdp') {
        const p = valueAt(part, ['path']);
        const address = valueAt(part, ['reader']);
        const hits = osdpReaders.filter(
          (r) => r.address === address && (typeof p !== 'string' || r.path === p),
        ).length;
        if (hits !== 1) {
          add(
            locate(doc.contents, ['doors', i, key]),
            hits === 0
              ? `${where}: no OSDP reader at address ${String(address)}${typeof p === 'string' ? ` on ${p}` : ''} under inputs`
              : `${where}: readers at address ${String(address)} on several OSDP buses (set ${key}.path)`,
          );
        }
      } else if (type === 'gpio') {
        const line = valueAt(part, ['line']);
        const k =
          typeof line === 'number'
            ? `gpio ${line}`
            : `${String(valueAt(line, ['chip']))}:${String(valueAt(line, ['offset']))}`;
        const other = gpioUses.get(k);
        if (other !== undefined)
          add(
            locate(doc.contents, ['doors', i, key, 'line']),
            `${where}.line: ${k} is already used by ${other}`,
          );
        else gpioUses.set(k, where);
      }
    }
  });
  if (valueAt(raw, ['mqtt']) !== undefined && valueAt(raw, ['cloud', 'publicKeyFile']) === undefined) {
    add(
      locate(doc.contents, ['mqtt']),
      "cloud.publicKeyFile: missing (with mqtt configured, pass updates and commands must be verified against the cloud's Ed25519 public key)",
    );
  }
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
  const rel = (f: string | undefined): string | undefined =>
    f === undefined ? undefined : path.resolve(base, f);
  const mqttCfg = cfg.mqtt && {
    ...cfg.mqtt,
    ...(cfg.mqtt.passwordFile !== undefined && { passwordFile: rel(cfg.mqtt.passwordFile) }),
    ...(cfg.mqtt.caFile !== undefined && { caFile: rel(cfg.mqtt.caFile) }),
    ...(cfg.mqtt.certFile !== undefined && { certFile: rel(cfg.mqtt.certFile) }),
    ...(cfg.mqtt.keyFile !== undefined && { keyFile: rel(cfg.mqtt.keyFile) }),
  };
  const cloudCfg = cfg.cloud && { ...cfg.cloud, publicKeyFile: path.resolve(base, cfg.cloud.publicKeyFile) };
  const inputs = cfg.inputs.map((inp) =>
    inp.type === 'camera' && inp.source.type === 'files'
      ? { ...inp, source: { ...inp.source, dir: path.resolve(base, inp.source.dir) } }
      : inp.type === 'osdp'
        ? {
            ...inp,
            readers: inp.readers.map((r) => ({
              ...r,
              ...(r.keyFile !== undefined && { keyFile: path.resolve(base, r.keyFile) }),
            })),
          }
        : inp,
  );
  const statusCfg = cfg.status.socket !== undefined ? { socket: path.resolve(base, cfg.status.socket) } : {};
  const storage = {
    ...cfg.storage,
    dir: path.resolve(base, cfg.storage.dir),
    ...(cfg.storage.credentialKeyFile !== undefined && {
      credentialKeyFile: path.resolve(base, cfg.storage.credentialKeyFile),
    }),
  };
  return {
    ...cfg,
    storage,
    inputs,
    status: statusCfg,
    ...(mqttCfg !== undefined && { mqtt: mqttCfg }),
    ...(cloudCfg !== undefined && { cloud: cloudCfg }),
  };
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
  return { file, config: parseConfig(text, file), text };
}

export interface EnvironmentReport {
  readonly errors: string[];
  readonly warnings: string[];
}

/**
 * Checks what the schema cannot: files the config names (keys must exist and not be world-readable; the
 * cloud key must be an Ed25519 public key), serial paths (a missing one is only a warning: a USB bridge may
 * be plugged in later). Messages have the same `FILE:LINE:COL: key.path: message` form as schema errors.
 */
export function checkEnvironment(loaded: LoadedConfig): EnvironmentReport {
  const { config, file } = loaded;
  const lineCounter = new LineCounter();
  const doc = parseDocument(loaded.text ?? '', { lineCounter });
  const at = (segments: readonly PropertyKey[]): string => {
    const offset = locate(doc.contents, segments);
    if (offset === undefined) return file;
    const { line, col } = lineCounter.linePos(offset);
    return `${file}:${line}:${col}`;
  };
  const errors: string[] = [];
  const warnings: string[] = [];
  const secretFile = (segments: readonly PropertyKey[], f: string | undefined, what: string): void => {
    if (f === undefined) return;
    let mode: number;
    try {
      mode = statSync(f).mode;
    } catch {
      errors.push(`${at(segments)}: ${keyPath(segments)}: ${f} does not exist (expected ${what})`);
      return;
    }
    if ((mode & 0o004) !== 0) {
      errors.push(
        `${at(segments)}: ${keyPath(segments)}: ${f} is readable by every user (mode ${(mode & 0o777).toString(8)}); run chmod 640 or 600 on it`,
      );
    }
  };
  const plainFile = (segments: readonly PropertyKey[], f: string | undefined, what: string): void => {
    if (f !== undefined && !existsSync(f))
      errors.push(`${at(segments)}: ${keyPath(segments)}: ${f} does not exist (expected ${what})`);
  };
  secretFile(['storage', 'credentialKeyFile'], config.storage.credentialKeyFile, 'the credential key file');
  secretFile(['mqtt', 'keyFile'], config.mqtt?.keyFile, 'the TLS client key');
  secretFile(['mqtt', 'passwordFile'], config.mqtt?.passwordFile, 'a file holding the broker password');
  plainFile(['mqtt', 'caFile'], config.mqtt?.caFile, 'a CA certificate (PEM)');
  plainFile(['mqtt', 'certFile'], config.mqtt?.certFile, 'a client certificate (PEM)');
  if (config.cloud !== undefined) {
    const f = config.cloud.publicKeyFile;
    if (!existsSync(f))
      errors.push(
        `${at(['cloud', 'publicKeyFile'])}: cloud.publicKeyFile: ${f} does not exist (expected the cloud's Ed25519 public key, PEM)`,
      );
    else {
      try {
        const key = createPublicKey(readFileSync(f, 'utf8'));
        if (key.asymmetricKeyType !== 'ed25519')
          throw new Error(`a ${key.asymmetricKeyType ?? 'unknown'} key`);
      } catch (e) {
        errors.push(
          `${at(['cloud', 'publicKeyFile'])}: cloud.publicKeyFile: ${f} is not an Ed25519 public key in PEM (${(e as Error).message})`,
        );
      }
    }
  }
  if (config.cloud?.requireBinding === false) {
    warnings.push(
      `${at(['cloud', 'requireBinding'])}: cloud.requireBinding: false accepts cloud messages that do not say which device and when they are for: a replayed old snapshot can roll this door back and a command for another door can run here; set it to true once the cloud signs "device" and "issuedAt" (docs/mqtt.md)`,
    );
  }
  config.inputs.forEach((input, i) => {
    if (input.type === 'osdp') {
      input.readers.forEach((r, j) =>
        secretFile(['inputs', i, 'readers', j, 'keyFile'], r.keyFile, "the reader's secure channel key"),
      );
    }
    if (
      (input.type === 'bridge' || input.type === 'hid' || input.type === 'osdp') &&
      input.path !== undefined &&
      !existsSync(input.path)
    ) {
      warnings.push(
        `${at(['inputs', i, 'path'])}: inputs[${i}].path: ${input.path} does not exist (yet); the daemon will keep trying to open it`,
      );
    }
  });
  return { errors, warnings };
}

/**
 * Where the daemon's status socket is: status.socket from the config, else systemd's RuntimeDirectory
 * (/run/doorpass), else the storage dir.
 */
export function statusSocketPath(
  config: Config,
  env: NodeJS.ProcessEnv = process.env,
  client = false,
): string {
  if (config.status.socket !== undefined) return config.status.socket;
  const runtime = env.RUNTIME_DIRECTORY?.split(':')[0];
  if (runtime !== undefined && runtime !== '') return path.join(runtime, 'doorpass.sock');
  // `doorpass status` from a shell has no RUNTIME_DIRECTORY: find the service's socket where the unit puts it.
  if (client && existsSync(SYSTEMD_STATUS_SOCKET)) return SYSTEMD_STATUS_SOCKET;
  return path.join(config.storage.dir, 'doorpass.sock');
}

/** Where the systemd unit's RuntimeDirectory puts the status socket. */
export const SYSTEMD_STATUS_SOCKET = '/run/doorpass/doorpass.sock';
