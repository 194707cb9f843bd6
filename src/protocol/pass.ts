/**
 * The pass document (docs/pass-format.md): the contract with the cloud. One zod schema is the source of the
 * TypeScript type and of the validation; compilePass() turns a valid document into the credential-free rule
 * that decide() reads and the credential list the store hashes.
 */
import { z } from 'zod';
import type { CredentialType, PassRule } from '../core/decide.js';
import { ALL_DAYS, dayMask, parseHhmm, WEEKDAYS, type Schedule } from '../core/schedule.js';

const instant = z.iso.datetime({
  offset: true,
  error: 'expected an ISO-8601 instant with a zone, e.g. 2026-05-01T09:00:00Z',
});
const hhmm = z
  .string()
  .refine((s) => parseHhmm(s) !== undefined, { error: 'expected "HH:MM" (00:00 to 23:59)' });
const weekday = z.enum(WEEKDAYS);
const days = z
  .array(weekday)
  .min(1, { error: 'expected at least one day' })
  .refine((d) => new Set(d).size === d.length, { error: 'a day is listed twice' });
const id = z.string().min(1).max(128);

/** A UTF-16 surrogate without its pair: not Unicode text. UTF-8 (what the hash reads) would make it U+FFFD. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Whether `text` holds a lone surrogate (so it has no UTF-8 form: '\uD800' would hash like '\uFFFD'). */
export function hasLoneSurrogate(text: string): boolean {
  return LONE_SURROGATE.test(text);
}

export const credentialSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('pin'),
    value: z.string().regex(/^\d{4,12}$/, { error: 'a PIN is 4 to 12 digits' }),
  }),
  z.object({
    type: z.literal('card'),
    value: z.string().regex(/^\d{1,40}$/, { error: 'a card number is decimal digits' }),
  }),
  z.object({
    type: z.literal('qr'),
    // Both bounds carry the message: an empty QR used to get zod's generic "Too small" text.
    value: z
      .string()
      .min(1, { error: 'QR text is 1 to 2048 characters' })
      .max(2048, { error: 'QR text is 1 to 2048 characters' })
      // Two different QR texts must never share a hash: a lone surrogate would collide with U+FFFD.
      .refine((s) => !hasLoneSurrogate(s), {
        error: 'QR text contains a lone UTF-16 surrogate (not Unicode text; it would be read as U+FFFD)',
      }),
  }),
]);

export const repeatSchema = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('never') }),
  z.object({ mode: z.literal('daily'), start: hhmm, end: hhmm }),
  z.object({ mode: z.literal('weekly'), days, start: hhmm, end: hhmm }),
]);

export const passSchema = z
  .object({
    id,
    version: z.int().min(1),
    kind: z.enum(['visitor', 'courier', 'resident', 'staff']),
    name: z.string().max(256),
    issuer: z.object({
      id: z.string().max(128),
      name: z.string().max(256),
      unit: z.string().max(64).optional(),
    }),
    recipient: z
      .object({
        name: z.string().max(256).optional(),
        email: z.string().max(256).optional(),
        phone: z.string().max(64).optional(),
      })
      .optional(),
    building: z.string().max(128).optional(),
    apartment: z.string().max(64).optional(),
    credentials: z.array(credentialSchema).min(1, { error: 'a pass needs at least one credential' }).max(16),
    doors: z.union([
      z.literal('*'),
      z.array(z.string().min(1).max(64)).min(1, { error: 'list at least one door, or "*"' }),
    ]),
    floors: z.array(z.int().min(-20).max(300)).max(300).optional(),
    validFrom: instant,
    validUntil: instant,
    repeat: repeatSchema,
    accessGroup: id.optional(),
    maxUses: z.int().min(1).optional(),
    maxUsesPerDevice: z.int().min(1).optional(),
    uses: z.record(z.string().min(1).max(128), z.int().min(0)).optional(),
    revoked: z.boolean().optional(),
  })
  .refine((p) => Date.parse(p.validUntil) > Date.parse(p.validFrom), {
    error: 'validUntil must be after validFrom',
    path: ['validUntil'],
    // Compare only two well-formed instants: a malformed validFrom/validUntil used to add this issue too,
    // a second, misleading reason. `continue` keeps zod's default (skip after an aborting issue, e.g. not an
    // object); when both instants pass their check the comparison still runs, so NaN is still rejected.
    when: (payload) =>
      payload.issues.every(
        (i) => i.continue === true && i.path?.[0] !== 'validFrom' && i.path?.[0] !== 'validUntil',
      ),
  });
export type PassDocument = z.infer<typeof passSchema>;
export type Credential = z.infer<typeof credentialSchema>;

export const accessGroupSchema = z.object({
  id,
  name: z.string().max(256),
  schedule: z.array(z.object({ days, start: hhmm, end: hhmm })).max(64),
});
export type AccessGroup = z.infer<typeof accessGroupSchema>;

/** Known keys, to count (not reject) fields a newer cloud may send. */
const KNOWN: Record<string, ReadonlySet<string>> = {
  pass: new Set(Object.keys(passSchema.shape)),
  issuer: new Set(['id', 'name', 'unit']),
  recipient: new Set(['name', 'email', 'phone']),
  credential: new Set(['type', 'value']),
};
/**
 * Keys of each repeat mode. Per mode, not their union: zod drops e.g. `days` from a daily repeat, so it must be
 * counted as unknown (a cloud meaning "daily, but only on these days" would otherwise be ignored silently).
 */
const KNOWN_REPEAT: ReadonlyMap<unknown, ReadonlySet<string>> = new Map([
  ['never', new Set(['mode'])],
  ['daily', new Set(['mode', 'start', 'end'])],
  ['weekly', new Set(['mode', 'days', 'start', 'end'])],
]);
const ANY_REPEAT: ReadonlySet<string> = new Set(['mode', 'start', 'end', 'days']);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Paths of the fields of a raw pass that the schema does not know (they are ignored and counted). */
export function unknownPassFields(raw: unknown): string[] {
  if (!isObject(raw)) return [];
  const out: string[] = [];
  const scan = (obj: unknown, known: ReadonlySet<string> | undefined, path: string): void => {
    if (!isObject(obj) || known === undefined) return;
    for (const k of Object.keys(obj)) if (!known.has(k)) out.push(path ? `${path}.${k}` : k);
  };
  scan(raw, KNOWN.pass, '');
  scan(raw.issuer, KNOWN.issuer, 'issuer');
  scan(raw.recipient, KNOWN.recipient, 'recipient');
  if (isObject(raw.repeat)) scan(raw.repeat, KNOWN_REPEAT.get(raw.repeat.mode) ?? ANY_REPEAT, 'repeat');
  if (Array.isArray(raw.credentials))
    raw.credentials.forEach((c, i) => scan(c, KNOWN.credential, `credentials[${i}]`));
  return out;
}

/** Formats zod issues as "path: message" strings, e.g. `credentials[0].value: a PIN is 4 to 12 digits`. */
export function formatIssues(error: z.ZodError, prefix = ''): string[] {
  return error.issues.map((i) => {
    const path = i.path.reduce<string>(
      (acc, seg) =>
        typeof seg === 'number' ? `${acc}[${seg}]` : acc ? `${acc}.${String(seg)}` : String(seg),
      prefix,
    );
    return path ? `${path}: ${i.message}` : i.message;
  });
}

/**
 * Why a presented value cannot be a credential at all, or undefined. Such a value matches no pass (import
 * refuses the same values), and hashing it could even collide: a lone surrogate reads as U+FFFD, and an
 * empty card number normalises to card 0. The access step denies it `malformed_credential` before any lookup.
 */
export function credentialValueProblem(type: CredentialType, value: string): string | undefined {
  if (hasLoneSurrogate(value)) return 'the value contains a lone UTF-16 surrogate (not Unicode text)';
  if (type === 'card' && value.trim() === '') return 'the card number is empty';
  return undefined;
}

/** Canonical credential value: card numbers lose leading zeros (a reader's "000123" is card 123). */
export function normalizeCredential(type: CredentialType, value: string): string {
  if (type === 'card') {
    const stripped = value.replace(/^0+/, '');
    return stripped === '' ? '0' : stripped;
  }
  return value;
}

export function compileSchedule(
  windows: readonly { days: readonly (typeof WEEKDAYS)[number][]; start: string; end: string }[],
): Schedule {
  return windows.map((w) => ({
    days: dayMask(w.days),
    start: parseHhmm(w.start) ?? 0,
    end: parseHhmm(w.end) ?? 0,
  }));
}

export interface PassPolicy {
  /** Longest validity a pass may have (site.maxPassDays), in ms. */
  readonly maxValidityMs: number;
}

export interface CompiledPass {
  readonly doc: PassDocument;
  readonly rule: PassRule;
  readonly credentials: readonly { readonly type: CredentialType; readonly value: string }[];
}

/** Validates a pass against the site policy and compiles it; returns the reasons it is rejected otherwise. */
export function compilePass(
  doc: PassDocument,
  policy: PassPolicy,
): CompiledPass | { readonly errors: string[] } {
  const validFrom = Date.parse(doc.validFrom);
  const validUntil = Date.parse(doc.validUntil);
  if (validUntil - validFrom > policy.maxValidityMs) {
    const days = Math.ceil((validUntil - validFrom) / 86_400_000);
    const maxDays = Math.floor(policy.maxValidityMs / 86_400_000);
    return {
      errors: [`validUntil: the pass is valid for ${days} days, longer than site.maxPassDays (${maxDays})`],
    };
  }
  const r = doc.repeat;
  const repeat: Schedule | undefined =
    r.mode === 'never'
      ? undefined
      : r.mode === 'daily'
        ? [{ days: ALL_DAYS, start: parseHhmm(r.start) ?? 0, end: parseHhmm(r.end) ?? 0 }]
        : compileSchedule([r]);
  const seen = new Set<string>();
  const credentials: { type: CredentialType; value: string }[] = [];
  for (const c of doc.credentials) {
    const value = normalizeCredential(c.type, c.value);
    const key = `${c.type}\u0000${value}`;
    if (seen.has(key)) continue;
    seen.add(key);
    credentials.push({ type: c.type, value });
  }
  const rule: PassRule = {
    id: doc.id,
    revoked: doc.revoked === true,
    validFrom,
    validUntil,
    doors: doc.doors,
    ...(doc.floors !== undefined && { floors: doc.floors }),
    ...(repeat !== undefined && { repeat }),
    ...(doc.accessGroup !== undefined && { accessGroup: doc.accessGroup }),
    ...(doc.maxUses !== undefined && { maxUses: doc.maxUses }),
    ...(doc.maxUsesPerDevice !== undefined && { maxUsesPerDevice: doc.maxUsesPerDevice }),
  };
  return { doc, rule, credentials };
}

/** A snapshot: what `passes import` reads and what the cloud sends in full. */
export const snapshotShape = z.object({
  passes: z.array(z.unknown(), { error: 'expected "passes" to be an array of pass documents' }),
  accessGroups: z.array(z.unknown(), { error: 'expected "accessGroups" to be an array' }).optional(),
});
