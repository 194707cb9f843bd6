import t from 'tap';
import { decide, type CredentialType } from '../../src/core/decide.js';
import { ALL_DAYS } from '../../src/core/schedule.js';
import { Zone } from '../../src/core/zone.js';
import {
  accessGroupSchema,
  compilePass,
  compileSchedule,
  formatIssues,
  normalizeCredential,
  passSchema,
  unknownPassFields,
  type CompiledPass,
  type PassDocument,
  type PassPolicy,
} from '../../src/protocol/pass.js';

const DAY_MS = 86_400_000;

/** A minimal valid pass document (raw JSON as the cloud sends it). */
function rawPass(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'pass-1',
    version: 1,
    kind: 'visitor',
    name: 'Plumber',
    issuer: { id: 'u-7', name: 'Ana' },
    credentials: [{ type: 'pin', value: '482913' }],
    doors: ['lobby'],
    validFrom: '2026-05-01T09:00:00Z',
    validUntil: '2026-05-02T09:00:00Z',
    repeat: { mode: 'never' },
    ...over,
  };
}

/** "path: message" lines of a rejected document, or [] when it parses. */
function problems(raw: unknown): string[] {
  const r = passSchema.safeParse(raw);
  return r.success ? [] : formatIssues(r.error);
}

function parse(raw: unknown): PassDocument {
  const r = passSchema.safeParse(raw);
  if (!r.success) throw new Error(`fixture does not parse: ${formatIssues(r.error).join('; ')}`);
  return r.data;
}

function compiled(doc: PassDocument, policy: PassPolicy = { maxValidityMs: 366 * DAY_MS }): CompiledPass {
  const c = compilePass(doc, policy);
  if ('errors' in c) throw new Error(`fixture does not compile: ${c.errors.join('; ')}`);
  return c;
}

/**
 * The problems of `raw`, for an exact strictSame against `expected` where an entry may be a RegExp for the
 * "path: message" text: a problem that matches its RegExp is swapped for it, so a mismatch reads as a diff.
 */
function problemsLike(raw: unknown, expected: readonly (string | RegExp)[]): (string | RegExp)[] {
  return problems(raw).map((a, i) => {
    const e = expected[i];
    return e instanceof RegExp && e.test(a) ? e : a;
  });
}

const INSTANT_MSG = 'expected an ISO-8601 instant with a zone, e.g. 2026-05-01T09:00:00Z';

t.test('a minimal and a full document are accepted', (t) => {
  t.strictSame(problems(rawPass()), []);
  const full = rawPass({
    kind: 'resident',
    issuer: { id: 'u-7', name: 'Ana', unit: '4B' },
    recipient: { name: 'Bo', email: 'bo@example.com', phone: '+1 555 0100' },
    building: 'North',
    apartment: '4B',
    credentials: [
      { type: 'pin', value: '0000' },
      { type: 'card', value: '00012345' },
      { type: 'qr', value: 'dp1:abc' },
    ],
    doors: '*',
    floors: [-2, 0, 4],
    repeat: { mode: 'weekly', days: ['mon', 'fri'], start: '22:00', end: '02:00' },
    accessGroup: 'staff',
    maxUses: 10,
    maxUsesPerDevice: 2,
    uses: { 'door-a': 3, 'door-b': 0 },
    revoked: false,
  });
  t.strictSame(problems(full), []);
  t.end();
});

t.test('credentials', (t) => {
  const cred = (type: string, value: unknown): Record<string, unknown> =>
    rawPass({ credentials: [{ type, value }] });
  const PIN = 'credentials[0].value: a PIN is 4 to 12 digits';
  const CARD = 'credentials[0].value: a card number is decimal digits';
  const QR = 'credentials[0].value: QR text is 1 to 2048 characters';
  // [type, value, expected problems]
  const cases: [string, unknown, string[]][] = [
    ['pin', '1234', []],
    ['pin', '0000', []],
    ['pin', '123456789012', []],
    ['pin', '123', [PIN]],
    ['pin', '1234567890123', [PIN]],
    ['pin', '', [PIN]],
    ['pin', '12a4', [PIN]],
    ['pin', ' 1234', [PIN]],
    ['pin', '1234\n', [PIN]],
    ['pin', '١٢٣٤', [PIN]], // Arabic-Indic digits are not ASCII digits
    ['pin', '１２３４', [PIN]], // full-width digits
    ['pin', '-1234', [PIN]],
    ['card', '0', []],
    ['card', '000123', []],
    ['card', '1'.repeat(40), []],
    ['card', '', [CARD]],
    ['card', '1'.repeat(41), [CARD]],
    ['card', '12AB', [CARD]],
    ['card', '0x12', [CARD]],
    ['card', '-1', [CARD]],
    ['card', '12 34', [CARD]],
    ['card', '1.5', [CARD]],
    ['qr', 'a', []],
    ['qr', 'x'.repeat(2048), []],
    ['qr', 'dp1:Zm9vYmFy\n with spaces and ü', []],
    ['qr', '', [QR]],
    ['qr', 'x'.repeat(2049), [QR]],
  ];
  for (const [type, value, expected] of cases) {
    const shown =
      typeof value === 'string' && value.length > 20 ? `${value.slice(0, 8)}… (${value.length})` : value;
    t.strictSame(problems(cred(type, value)), expected, `${type} ${JSON.stringify(shown)}`);
  }
  const asNumber = [/^credentials\[0\]\.value: /];
  t.strictSame(problemsLike(cred('pin', 1234), asNumber), asNumber, 'a PIN given as a number is rejected');
  const badType = [/^credentials\[0\]\.type: /];
  t.strictSame(problemsLike(cred('nfc', '1234'), badType), badType, 'unknown credential type');
  t.strictSame(problems(rawPass({ credentials: [] })), ['credentials: a pass needs at least one credential']);
  const seventeen = Array.from({ length: 17 }, (_, i) => ({ type: 'pin', value: String(100000 + i) }));
  const tooMany = [/^credentials: /];
  t.strictSame(
    problemsLike(rawPass({ credentials: seventeen }), tooMany),
    tooMany,
    'more than 16 credentials',
  );
  t.strictSame(problems(rawPass({ credentials: seventeen.slice(0, 16) })), [], '16 credentials');
  t.end();
});

t.test('instants', (t) => {
  // [validFrom, accepted?] with validUntil far in the future
  const cases: [string, boolean][] = [
    ['2026-05-01T09:00:00Z', true],
    ['2026-05-01T09:00:00.123Z', true],
    ['2026-05-01T09:00:00.123456789Z', true],
    ['2026-05-01T11:00:00+02:00', true],
    ['2026-05-01T04:00:00-05:00', true],
    ['2026-05-01T09:00:00-00:00', true],
    ['2028-02-29T09:00:00Z', true], // leap day
    ['2026-05-01T09:00:00', false], // no zone: local time of whom?
    ['2026-05-01', false],
    ['2026-05-01 09:00:00Z', false],
    ['2026-05-01T09:00Z', false], // no seconds
    ['2026-05-01T09:00:00+0200', false],
    ['2026-05-01T09:00:00+02', false],
    ['2026-05-01T09:00:00z', false],
    ['2026-05-01t09:00:00Z', false],
    ['2026-02-29T09:00:00Z', false], // not a leap year
    ['2026-04-31T09:00:00Z', false],
    ['2026-13-01T09:00:00Z', false],
    ['2026-05-01T24:00:00Z', false],
    ['2026-05-01T09:60:00Z', false],
    ['2026-05-01T23:59:60Z', false], // leap second
    ['1777626000000', false],
    ['tomorrow', false],
    ['', false],
  ];
  for (const [validFrom, ok] of cases) {
    t.strictSame(
      problems(rawPass({ validFrom, validUntil: '2030-01-01T00:00:00Z' })),
      ok ? [] : [`validFrom: ${INSTANT_MSG}`],
      `validFrom ${JSON.stringify(validFrom)} ${ok ? 'accepted' : 'rejected with one reason'}`,
    );
  }
  t.strictSame(problems(rawPass({ validFrom: 1777626000000 })), [`validFrom: ${INSTANT_MSG}`], 'a number');
  t.strictSame(
    problems(rawPass({ validUntil: undefined })),
    [`validUntil: ${INSTANT_MSG}`],
    'missing validUntil',
  );
  t.strictSame(
    problems(rawPass({ validFrom: 'soon', validUntil: 'later' })),
    [`validFrom: ${INSTANT_MSG}`, `validUntil: ${INSTANT_MSG}`],
    'two bad instants: two reasons, no "validUntil must be after validFrom"',
  );
  t.end();
});

t.test('validUntil must be after validFrom (compared as instants)', (t) => {
  const AFTER = 'validUntil: validUntil must be after validFrom';
  // [validFrom, validUntil, expected problems]
  const cases: [string, string, string[]][] = [
    ['2026-05-01T09:00:00Z', '2026-05-01T09:00:00.001Z', []],
    ['2026-05-01T09:00:00Z', '2026-05-01T09:00:00Z', [AFTER]],
    ['2026-05-01T09:00:00Z', '2026-04-30T09:00:00Z', [AFTER]],
    // Same instant written in two offsets: equal, so rejected.
    ['2026-05-01T09:00:00Z', '2026-05-01T11:00:00+02:00', [AFTER]],
    // Lexically later, but 10:00+02:00 is 08:00Z: before validFrom.
    ['2026-05-01T09:00:00Z', '2026-05-01T10:00:00+02:00', [AFTER]],
    // Lexically earlier, but 06:00-05:00 is 11:00Z: after.
    ['2026-05-01T09:00:00Z', '2026-05-01T06:00:00-05:00', []],
  ];
  for (const [validFrom, validUntil, expected] of cases)
    t.strictSame(problems(rawPass({ validFrom, validUntil })), expected, `${validFrom} .. ${validUntil}`);
  t.strictSame(
    problems(rawPass({ validUntil: '2026-04-01T00:00:00Z', credentials: [{ type: 'pin', value: '12' }] })),
    ['credentials[0].value: a PIN is 4 to 12 digits', AFTER],
    'reported alongside an unrelated problem',
  );
  t.end();
});

t.test('repeat', (t) => {
  const HHMM = 'expected "HH:MM" (00:00 to 23:59)';
  // [repeat, expected problems]
  const cases: [unknown, (string | RegExp)[]][] = [
    [{ mode: 'never' }, []],
    [{ mode: 'daily', start: '09:00', end: '17:00' }, []],
    [{ mode: 'daily', start: '22:00', end: '02:00' }, []],
    [{ mode: 'daily', start: '00:00', end: '00:00' }, []],
    [{ mode: 'daily', start: '23:59', end: '00:00' }, []],
    [{ mode: 'weekly', days: ['mon'], start: '09:00', end: '17:00' }, []],
    [{ mode: 'weekly', days: ['sun', 'mon', 'sat'], start: '09:00', end: '17:00' }, []],
    [
      {
        mode: 'weekly',
        days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
        start: '09:00',
        end: '17:00',
      },
      [],
    ],
    [{ mode: 'weekly', days: [], start: '09:00', end: '17:00' }, ['repeat.days: expected at least one day']],
    [
      { mode: 'weekly', days: ['mon', 'mon'], start: '09:00', end: '17:00' },
      ['repeat.days: a day is listed twice'],
    ],
    [
      { mode: 'weekly', days: ['mon', 'tue', 'mon'], start: '09:00', end: '17:00' },
      ['repeat.days: a day is listed twice'],
    ],
    [{ mode: 'weekly', days: ['Mon'], start: '09:00', end: '17:00' }, [/^repeat\.days\[0\]: /]],
    [{ mode: 'weekly', days: ['monday'], start: '09:00', end: '17:00' }, [/^repeat\.days\[0\]: /]],
    [{ mode: 'weekly', days: 'mon', start: '09:00', end: '17:00' }, [/^repeat\.days: /]],
    [{ mode: 'weekly', start: '09:00', end: '17:00' }, [/^repeat\.days: /]],
    [{ mode: 'daily', start: '24:00', end: '17:00' }, [`repeat.start: ${HHMM}`]],
    [{ mode: 'daily', start: '9:00', end: '17:00' }, [`repeat.start: ${HHMM}`]],
    [{ mode: 'daily', start: '09:00', end: '17:60' }, [`repeat.end: ${HHMM}`]],
    [{ mode: 'daily', start: '09:00', end: '5pm' }, [`repeat.end: ${HHMM}`]],
    [{ mode: 'daily', start: '09:00:00', end: '17:00:00' }, [`repeat.start: ${HHMM}`, `repeat.end: ${HHMM}`]],
    [{ mode: 'weekly', days: ['fri'], start: '22:00', end: '2:00' }, [`repeat.end: ${HHMM}`]],
    [{ mode: 'daily', start: '09:00' }, [/^repeat\.end: /]],
    [{ mode: 'monthly' }, [/^repeat\.mode: /]],
    [{}, [/^repeat\.mode: /]],
  ];
  for (const [repeat, expected] of cases)
    t.strictSame(problemsLike(rawPass({ repeat }), expected), expected, JSON.stringify(repeat));
  const required = [/^repeat: /];
  t.strictSame(problemsLike(rawPass({ repeat: undefined }), required), required, 'repeat is required');
  t.end();
});

t.test('other fields', (t) => {
  // [override, expected problems (RegExp on "path: message")]
  const cases: [Record<string, unknown>, RegExp[]][] = [
    [{ doors: [] }, [/^doors: /]],
    [{ doors: 'all' }, [/^doors: /]],
    [{ doors: [''] }, [/^doors/]],
    [{ doors: ['x'.repeat(65)] }, [/^doors/]],
    [{ floors: [1.5] }, [/^floors\[0\]: /]],
    [{ floors: [-21] }, [/^floors\[0\]: /]],
    [{ floors: [301] }, [/^floors\[0\]: /]],
    [{ maxUses: 0 }, [/^maxUses: /]],
    [{ maxUses: 1.5 }, [/^maxUses: /]],
    [{ maxUsesPerDevice: 0 }, [/^maxUsesPerDevice: /]],
    [{ version: 0 }, [/^version: /]],
    [{ kind: 'guest' }, [/^kind: /]],
    [{ id: '' }, [/^id: /]],
    [{ id: 'x'.repeat(129) }, [/^id: /]],
    [{ accessGroup: '' }, [/^accessGroup: /]],
    [{ uses: { 'door-a': -1 } }, [/^uses\.door-a: /]],
    [{ revoked: 'yes' }, [/^revoked: /]],
    [{ issuer: undefined }, [/^issuer: /]],
  ];
  for (const [over, expected] of cases)
    t.strictSame(problemsLike(rawPass(over), expected), expected, JSON.stringify(over));
  for (const raw of [null, 'pass', 42, [], undefined])
    t.strictSame(problems(raw).length, 1, `a non-object (${JSON.stringify(raw)}) is one problem, no crash`);
  t.strictSame(problems(rawPass({ floors: [-20, 300] })), [], 'floor bounds are inclusive');
  t.end();
});

t.test('accessGroupSchema', (t) => {
  const ok = accessGroupSchema.safeParse({
    id: 'night',
    name: 'Night shift',
    schedule: [{ days: ['mon', 'tue'], start: '22:00', end: '06:00' }],
  });
  t.ok(ok.success, 'a valid group');
  t.ok(accessGroupSchema.safeParse({ id: 'g', name: 'none', schedule: [] }).success, 'an empty schedule');
  for (const schedule of [
    [{ days: [], start: '22:00', end: '06:00' }],
    [{ days: ['mon', 'mon'], start: '22:00', end: '06:00' }],
    [{ days: ['mon'], start: '22:00', end: '24:00' }],
  ])
    t.notOk(accessGroupSchema.safeParse({ id: 'g', name: 'g', schedule }).success, JSON.stringify(schedule));
  t.end();
});

t.test('unknownPassFields', (t) => {
  // [raw, expected unknown paths]
  const cases: [string, unknown, string[]][] = [
    ['not an object', 'pass', []],
    ['null', null, []],
    ['an array', [rawPass({ colour: 'red' })], []],
    ['a clean pass', rawPass(), []],
    ['a full clean pass', rawPass({ recipient: { name: 'Bo' }, uses: { 'any-device-id': 1 } }), []],
    ['top level', rawPass({ colour: 'red', priority: 1 }), ['colour', 'priority']],
    ['issuer', rawPass({ issuer: { id: 'u', name: 'n', avatar: 'x' } }), ['issuer.avatar']],
    ['recipient', rawPass({ recipient: { name: 'Bo', locale: 'de' } }), ['recipient.locale']],
    [
      'repeat (weekly)',
      rawPass({ repeat: { mode: 'weekly', days: ['mon'], start: '09:00', end: '10:00', tz: 'UTC' } }),
      ['repeat.tz'],
    ],
    // Keys of another mode are dropped by the schema, so they are unknown too.
    [
      'repeat (daily with days)',
      rawPass({ repeat: { mode: 'daily', days: ['mon'], start: '09:00', end: '10:00' } }),
      ['repeat.days'],
    ],
    [
      'repeat (never with a window)',
      rawPass({ repeat: { mode: 'never', start: '09:00', end: '10:00' } }),
      ['repeat.start', 'repeat.end'],
    ],
    // An unknown mode (the document is rejected anyway) is scanned against the keys of every mode.
    [
      'repeat with a mode no one knows',
      rawPass({ repeat: { mode: 'constructor', days: [], x: 1 } }),
      ['repeat.x'],
    ],
    [
      'credentials',
      rawPass({
        credentials: [
          { type: 'pin', value: '1234' },
          { type: 'card', value: '99', facility: 12, bits: 26 },
        ],
      }),
      ['credentials[1].facility', 'credentials[1].bits'],
    ],
    [
      'everywhere at once, in scan order',
      rawPass({
        extra: true,
        issuer: { id: 'u', name: 'n', a: 1 },
        recipient: { b: 2 },
        repeat: { mode: 'never', c: 3 },
        credentials: [{ type: 'qr', value: 'q', d: 4 }],
      }),
      ['extra', 'issuer.a', 'recipient.b', 'repeat.c', 'credentials[0].d'],
    ],
    [
      'nested non-objects are skipped',
      rawPass({ issuer: 'ana', recipient: null, repeat: [], credentials: 'x' }),
      [],
    ],
  ];
  for (const [desc, raw, expected] of cases) t.strictSame(unknownPassFields(raw), expected, desc);
  t.end();
});

t.test('normalizeCredential', (t) => {
  const cases: [CredentialType, string, string][] = [
    ['card', '123', '123'],
    ['card', '000123', '123'],
    ['card', '0', '0'],
    ['card', '0000', '0'],
    ['card', '1000', '1000'],
    ['card', '0102', '102'],
    ['pin', '0123', '0123'], // a PIN's leading zeros are digits the user types
    ['pin', '0000', '0000'],
    ['qr', '000abc', '000abc'],
    ['qr', ' Mixed Case ', ' Mixed Case '],
  ];
  for (const [type, value, expected] of cases)
    t.equal(
      normalizeCredential(type, value),
      expected,
      `${type} ${JSON.stringify(value)} -> ${JSON.stringify(expected)}`,
    );
  t.end();
});

t.test('compilePass: maximum validity', (t) => {
  const policy: PassPolicy = { maxValidityMs: 30 * DAY_MS }; // site.maxPassDays = 30
  const from = '2026-05-01T00:00:00Z';
  // [validUntil, expected errors (undefined = compiles)]
  const cases: [string, string[] | undefined][] = [
    ['2026-05-31T00:00:00Z', undefined], // exactly 30 days
    [
      '2026-05-31T00:00:00.001Z',
      ['validUntil: the pass is valid for 31 days, longer than site.maxPassDays (30)'],
    ],
    [
      '2026-05-31T12:00:00Z',
      ['validUntil: the pass is valid for 31 days, longer than site.maxPassDays (30)'],
    ],
    [
      '2026-07-30T00:00:00Z',
      ['validUntil: the pass is valid for 90 days, longer than site.maxPassDays (30)'],
    ],
    // Offsets are instants: 2026-05-31T02:00:00+02:00 is exactly 30 days after `from`.
    ['2026-05-31T02:00:00+02:00', undefined],
  ];
  for (const [validUntil, expected] of cases) {
    const c = compilePass(parse(rawPass({ validFrom: from, validUntil })), policy);
    if (expected === undefined) t.notOk('errors' in c, `${validUntil}: compiles`);
    else t.strictSame('errors' in c ? c.errors : c, expected, `${validUntil}: rejected`);
  }
  t.end();
});

t.test('compilePass: the rule', (t) => {
  const c = compiled(parse(rawPass()));
  t.strictSame(
    c.rule,
    {
      id: 'pass-1',
      revoked: false,
      validFrom: Date.parse('2026-05-01T09:00:00Z'),
      validUntil: Date.parse('2026-05-02T09:00:00Z'),
      doors: ['lobby'],
    },
    'a minimal pass: no optional keys, repeat "never" compiles to no repeat',
  );
  t.notOk('repeat' in c.rule);
  t.notOk('floors' in c.rule);

  const full = compiled(
    parse(
      rawPass({
        validFrom: '2026-05-01T11:00:00+02:00',
        doors: '*',
        floors: [3, 4],
        accessGroup: 'staff',
        maxUses: 5,
        maxUsesPerDevice: 2,
        revoked: true,
      }),
    ),
  );
  t.strictSame(
    full.rule,
    {
      id: 'pass-1',
      revoked: true,
      validFrom: Date.parse('2026-05-01T09:00:00Z'),
      validUntil: Date.parse('2026-05-02T09:00:00Z'),
      doors: '*',
      floors: [3, 4],
      accessGroup: 'staff',
      maxUses: 5,
      maxUsesPerDevice: 2,
    },
    'every optional field carried over; instants with an offset are epoch ms',
  );

  // [repeat, compiled schedule]
  const repeats: [unknown, unknown][] = [
    [{ mode: 'daily', start: '09:00', end: '17:00' }, [{ days: ALL_DAYS, start: 540, end: 1020 }]],
    [{ mode: 'daily', start: '22:00', end: '02:00' }, [{ days: ALL_DAYS, start: 1320, end: 120 }]],
    [{ mode: 'daily', start: '00:00', end: '00:00' }, [{ days: ALL_DAYS, start: 0, end: 0 }]],
    [{ mode: 'weekly', days: ['mon'], start: '08:30', end: '12:00' }, [{ days: 0b1, start: 510, end: 720 }]],
    [
      { mode: 'weekly', days: ['fri', 'mon'], start: '22:00', end: '02:00' },
      [{ days: 0b1_0001, start: 1320, end: 120 }],
    ],
    [
      { mode: 'weekly', days: ['sat', 'sun'], start: '23:59', end: '23:59' },
      [{ days: 0b110_0000, start: 1439, end: 1439 }],
    ],
  ];
  for (const [repeat, schedule] of repeats)
    t.strictSame(compiled(parse(rawPass({ repeat }))).rule.repeat, schedule, JSON.stringify(repeat));
  t.end();
});

t.test('compilePass: credentials normalised and deduplicated', (t) => {
  const c = compiled(
    parse(
      rawPass({
        credentials: [
          { type: 'pin', value: '1234' },
          { type: 'pin', value: '1234' },
          { type: 'card', value: '000123' },
          { type: 'card', value: '123' },
          { type: 'card', value: '0123' },
          { type: 'pin', value: '0123' },
          { type: 'card', value: '1234' },
          { type: 'qr', value: 'ABC' },
          { type: 'qr', value: 'abc' },
          { type: 'qr', value: 'ABC' },
          { type: 'card', value: '0000' },
          { type: 'card', value: '0' },
        ],
      }),
    ),
  );
  t.strictSame(
    c.credentials,
    [
      { type: 'pin', value: '1234' },
      { type: 'card', value: '123' },
      { type: 'pin', value: '0123' },
      { type: 'card', value: '1234' },
      { type: 'qr', value: 'ABC' },
      { type: 'qr', value: 'abc' },
      { type: 'card', value: '0' },
    ],
    'first occurrence kept, in order; same value under another type is another credential',
  );
  t.equal(c.doc.credentials.length, 12, 'the document itself is kept as sent');
  t.end();
});

t.test('compileSchedule', (t) => {
  t.strictSame(compileSchedule([]), []);
  t.strictSame(
    compileSchedule([
      { days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '08:00', end: '18:00' },
      { days: ['sat'], start: '22:00', end: '04:00' },
    ]),
    [
      { days: 0b001_1111, start: 480, end: 1080 },
      { days: 0b010_0000, start: 1320, end: 240 },
    ],
  );
  t.end();
});

t.test('a compiled pass decides as its document says', (t) => {
  const zone = new Zone('Europe/Berlin');
  const c = compiled(
    parse(
      rawPass({
        validFrom: '2026-10-01T00:00:00+02:00',
        validUntil: '2026-11-01T00:00:00+01:00',
        doors: ['lobby'],
        repeat: { mode: 'weekly', days: ['sat'], start: '23:00', end: '03:00' },
        maxUses: 1,
      }),
    ),
  );
  const base = { pass: c.rule, usage: { own: 0, others: 0 }, group: undefined, door: 'lobby', zone };
  // [instant, local time, expected reason (null = granted)]
  const cases: [string, string, string | null][] = [
    ['2026-10-24T21:30:00Z', 'Sat Oct 24 23:30 CEST', null],
    ['2026-10-25T01:30:00Z', 'Sun Oct 25 02:30 CET (second pass)', null],
    ['2026-10-25T02:00:00Z', 'Sun Oct 25 03:00 CET', 'outside_schedule'],
    ['2026-10-23T21:30:00Z', 'Fri Oct 23 23:30 CEST', 'outside_schedule'],
    ['2026-09-26T21:30:00Z', 'Sat Sep 26 23:30 CEST, before validFrom', 'not_yet_valid'],
    ['2026-10-31T23:00:00Z', 'Sun Nov 1 00:00 CET = validUntil', 'expired'],
  ];
  for (const [iso, local, reason] of cases)
    t.equal(
      decide({ ...base, now: Date.parse(iso) }).reason,
      reason,
      `${iso} (${local}) -> ${reason ?? 'granted'}`,
    );
  t.equal(
    decide({ ...base, now: Date.parse('2026-10-24T21:30:00Z'), usage: { own: 0, others: 1 } }).reason,
    'use_limit',
    'single use, already used on another door',
  );
  t.end();
});
