/**
 * Hostile pass documents (the schema, compilePass, the import path into a real SQLite store) and hostile
 * config files (random and mutated YAML, alias bombs, deep nesting, huge and binary files). Properties: the
 * only error that leaves parseConfig / parseSnapshotShape is DoorpassError; schemas and compilation never
 * throw; every pass of an import is accounted for; valid input still round-trips.
 */
import t from 'tap';
import fc from 'fast-check';
import path from 'node:path';
import { parseConfig } from '../../src/app/config.js';
import { importSnapshot, parseSnapshotShape } from '../../src/app/import.js';
import { HmacHasher } from '../../src/adapters/hasher.js';
import { SqlitePassStore } from '../../src/adapters/sqlite/store.js';
import { DoorpassError, ErrorCode } from '../../src/core/errors.js';
import { compilePass, passSchema, unknownPassFields } from '../../src/protocol/pass.js';
import { BASE_CONFIG, MID_2026, pass, tempSite } from '../helpers/fixtures.js';

const POLICY = { maxValidityMs: 366 * 86_400_000 };

/** A pass with some fields replaced by arbitrary JSON (or removed), plus stray keys. */
const mutatedPass = fc
  .record({
    replace: fc.dictionary(
      fc.constantFrom(...Object.keys(pass()), 'maxUses', 'uses', 'floors', 'accessGroup', 'revoked'),
      fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constant(undefined)),
      { maxKeys: 4 },
    ),
    extra: fc.dictionary(
      fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('__proto__', 'constructor', 'prototype')),
      fc.jsonValue({ maxDepth: 2 }),
      { maxKeys: 3 },
    ),
  })
  // Through JSON, as it arrives: a "__proto__" key is then an own property, not the prototype.
  .map(({ replace, extra }) => JSON.parse(JSON.stringify({ ...pass(), ...replace, ...extra })) as unknown);

const validPass = fc
  .record({
    id: fc.string({ minLength: 1, maxLength: 128 }),
    version: fc.integer({ min: 1, max: 1e9 }),
    kind: fc.constantFrom('visitor', 'courier', 'resident', 'staff'),
    pins: fc.uniqueArray(fc.stringMatching(/^\d{4,12}$/), { minLength: 1, maxLength: 4 }),
    cards: fc.array(fc.stringMatching(/^\d{1,40}$/), { maxLength: 3 }),
    days: fc.integer({ min: 1, max: 366 }),
  })
  .map(({ id, version, kind, pins, cards, days }) =>
    pass({
      id,
      version,
      kind,
      credentials: [
        ...pins.map((value) => ({ type: 'pin', value })),
        ...cards.map((value) => ({ type: 'card', value })),
      ],
      validFrom: '2026-01-01T00:00:00Z',
      validUntil: new Date(Date.parse('2026-01-01T00:00:00Z') + days * 86_400_000).toISOString(),
    }),
  );

t.test('property: any JSON as a pass: schema, compilePass and unknownPassFields never throw', (t) => {
  fc.assert(
    fc.property(fc.oneof(mutatedPass, fc.jsonValue({ maxDepth: 4 }), fc.anything()), (raw) => {
      const parsed = passSchema.safeParse(raw);
      unknownPassFields(raw);
      if (!parsed.success) return parsed.error.issues.length > 0;
      const c = compilePass(parsed.data, POLICY);
      if ('errors' in c) return c.errors.length > 0;
      return c.credentials.length >= 1 && c.rule.validUntil > c.rule.validFrom && !('polluted' in {});
    }),
    { numRuns: 5000 },
  );
  t.pass('5000 documents');
  t.end();
});

t.test('property: valid passes round-trip through the schema and compile', (t) => {
  fc.assert(
    fc.property(validPass, (doc) => {
      const parsed = passSchema.safeParse(doc);
      if (!parsed.success) return false;
      const c = compilePass(parsed.data, POLICY);
      return !('errors' in c) && c.rule.id === doc.id && c.credentials.length >= 1;
    }),
    { numRuns: 2000 },
  );
  t.pass('2000 valid passes');
  t.end();
});

t.test('property: importing hostile snapshots into a real store accounts for every pass', (t) => {
  const site = tempSite();
  const store = new SqlitePassStore(path.join(site.dir, 'd.db'));
  t.teardown(() => {
    store.close();
    site.cleanup();
  });
  const hasher = new HmacHasher(Buffer.alloc(32, 3));
  fc.assert(
    fc.property(
      fc.array(fc.oneof(mutatedPass, validPass, fc.jsonValue({ maxDepth: 2 })), { maxLength: 8 }),
      fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 3 }),
      (passes, accessGroups) => {
        const r = importSnapshot(store, hasher, { passes, accessGroups }, { policy: POLICY, now: MID_2026 });
        const passRejects = r.rejected.filter((x) => x.what === 'pass').length;
        return r.added + r.updated + r.ignored + passRejects === passes.length && !('polluted' in {});
      },
    ),
    { numRuns: 1500 },
  );
  t.pass('1500 snapshots');
  t.end();
});

t.test('property: parseSnapshotShape throws only DoorpassError snapshot.invalid', (t) => {
  fc.assert(
    fc.property(fc.anything(), (raw) => {
      try {
        parseSnapshotShape(raw, 'x.json');
        return true;
      } catch (e) {
        return e instanceof DoorpassError && e.code === ErrorCode.SnapshotInvalid;
      }
    }),
    { numRuns: 3000 },
  );
  t.pass('3000 values');
  t.end();
});

// ---------------------------------------------------------------------------------------------------------
// The config file.

const VALID = BASE_CONFIG('/var/lib/doorpass');

/** parseConfig: a Config, or a DoorpassError config.invalid with short detail lines; anything else fails. */
function outcome(text: string): string {
  try {
    parseConfig(text, 'f.yaml');
    return 'ok';
  } catch (e) {
    if (!(e instanceof DoorpassError))
      return `threw ${(e as Error).constructor.name}: ${(e as Error).message}`;
    if (e.code !== ErrorCode.ConfigInvalid) return `code ${e.code}`;
    const long = e.details.find((d) => d.length > 400);
    return long === undefined ? 'invalid' : `a ${long.length}-character detail line`;
  }
}

const yamlMutation = fc.oneof(
  fc.record({
    op: fc.constant('set' as const),
    at: fc.nat(),
    ch: fc.constantFrom(...':{}[]&*!|>-#\'"%@` \n\t,?'),
  }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), s: fc.string({ maxLength: 10 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 10 }) }),
  fc.record({ op: fc.constant('duplicate' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 80 }) }),
);
type YamlMutation = typeof yamlMutation extends fc.Arbitrary<infer M> ? M : never;

function mutateYaml(text: string, ms: readonly YamlMutation[]): string {
  let s = text;
  for (const m of ms) {
    const at = m.at % (s.length + 1);
    if (m.op === 'set') s = s.slice(0, at) + m.ch + s.slice(at + 1);
    else if (m.op === 'insert') s = s.slice(0, at) + m.s + s.slice(at);
    else if (m.op === 'delete') s = s.slice(0, at) + s.slice(at + m.n);
    else s = s.slice(0, at + m.n) + s.slice(at);
  }
  return s;
}

t.test('the valid config parses (the mutations start from a good file)', (t) => {
  t.equal(outcome(VALID), 'ok');
  t.end();
});

t.test('property: random and mutated config text gives a Config or config.invalid, nothing else', (t) => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ maxLength: 400 }),
        fc.string({ unit: 'binary', maxLength: 400 }),
        fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b).toString('utf8')),
        fc.array(yamlMutation, { minLength: 1, maxLength: 5 }).map((ms) => mutateYaml(VALID, ms)),
      ),
      (text) => {
        const o = outcome(text);
        return o === 'ok' || o === 'invalid';
      },
    ),
    { numRuns: 3000 },
  );
  t.pass('3000 files');
  t.end();
});

t.test('alias bombs, deep nesting, huge and binary files are config.invalid, not a crash or a hang', (t) => {
  const laughs =
    'a: &a ["x","x","x","x","x","x","x","x","x"]\n' +
    ['b', 'c', 'd', 'e', 'f', 'g', 'h', 'i']
      .map(
        (k, i) =>
          `${k}: &${k} [${Array<string>(9)
            .fill(`*${'abcdefgh'[i] ?? 'a'}`)
            .join(',')}]`,
      )
      .join('\n');
  const cases: Record<string, string> = {
    'billion laughs': laughs,
    'billion laughs inside a known key': `${VALID}\nx: &x [1,1,1,1,1,1,1,1,1,1]\ny: &y [*x,*x,*x,*x,*x,*x,*x,*x,*x,*x]\nz: &z [*y,*y,*y,*y,*y,*y,*y,*y,*y,*y]\nsite: [*z,*z,*z,*z,*z,*z,*z,*z,*z,*z]\n`,
    'alias bomb through merge keys': `a: &a {x: 1}\nb: &b {<<: [${Array<string>(200).fill('*a').join(',')}]}\n`,
    'self-referencing alias': 'a: &a [*a]\n',
    '100k nested flow sequences': '['.repeat(100_000) + ']'.repeat(100_000),
    '20k nested flow maps': '{a: '.repeat(20_000) + '1' + '}'.repeat(20_000),
    '3000 nested block maps': Array.from({ length: 3000 }, (_, i) => `${' '.repeat(i)}k:`).join('\n'),
    '500 nested flow sequences under site': `${VALID.replace(/site: .*\n/, '')}site: ${'['.repeat(500)}${']'.repeat(500)}\n`,
    '20 MB value': `${VALID.replace(/site: .*\n/, '')}site: { id: "${'x'.repeat(20_000_000)}", timezone: UTC }\n`,
    '1 MB unknown key': `${VALID}${'k'.repeat(1_000_000)}: 1\n`,
    '100k keys': Array.from({ length: 100_000 }, (_, i) => `k${i}: ${i}`).join('\n'),
    binary: Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 7919) % 256)).toString('latin1'),
    'NUL bytes': `${VALID}\u0000\u0000`,
    'a BOM and CRLF': `\uFEFF${VALID.replace(/\n/g, '\r\n')}`,
    'prototype keys': `${VALID}__proto__: { polluted: 1 }\nconstructor: { prototype: { polluted: 1 } }\n`,
    'a YAML tag': `${VALID}x: !!js/function "function(){}"\n`,
    'multiple documents': `${VALID}\n---\n${VALID}`,
  };
  for (const [name, text] of Object.entries(cases)) {
    const o = outcome(text);
    t.ok(o === 'invalid' || (o === 'ok' && name === 'a BOM and CRLF'), `${name}: ${o}`);
  }
  t.notOk('polluted' in {}, 'Object.prototype untouched');
  t.end();
});

t.test('a duplicate key is still refused with its position (checked in one pass, not by yaml)', (t) => {
  t.throws(() => parseConfig(`${VALID}doors: []\n`, 'f.yaml'), {
    code: ErrorCode.ConfigInvalid,
    details: ['f.yaml:6:1: Map keys must be unique'],
  });
  t.throws(() => parseConfig(`${VALID}keypad: { timeoutMs: 5000, timeoutMs: 6000 }\n`, 'f.yaml'), {
    code: ErrorCode.ConfigInvalid,
    details: ['f.yaml:6:28: Map keys must be unique'],
  });
  t.equal(outcome(`${VALID}x: [{a: 1}, {a: 1}]\n`), 'invalid', 'equal keys in different maps are fine');
  t.end();
});
