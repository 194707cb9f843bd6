/**
 * Credential values that could only ever match by a collision inside the hash: a QR text with a lone UTF-16
 * surrogate (UTF-8, which the HMAC reads, turns it into U+FFFD) and an empty card number (normalised to card
 * 0). Refused at import (a snapshot file written by hand, read as `passes import` reads it) and at the door
 * (the access step, and a console line typed into the running daemon's input).
 */
import t, { type Test } from 'tap';
import { createHmac } from 'node:crypto';
import { writeFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { AccessControl } from '../../src/app/access.js';
import { importSnapshot, parseSnapshotShape } from '../../src/app/import.js';
import { InputController } from '../../src/app/input-controller.js';
import { Journal } from '../../src/app/journal.js';
import { AccessPipeline } from '../../src/app/pipeline.js';
import { ConsoleInput } from '../../src/adapters/console-input.js';
import { HmacHasher } from '../../src/adapters/hasher.js';
import { SqlitePassStore } from '../../src/adapters/sqlite/store.js';
import type { CredentialType } from '../../src/core/decide.js';
import { isAccessEvent } from '../../src/core/events.js';
import { DEFAULT_KEYPAD } from '../../src/core/keypad.js';
import { DEFAULT_LOCKOUT } from '../../src/core/lockout.js';
import { Zone } from '../../src/core/zone.js';
import { credentialValueProblem } from '../../src/protocol/pass.js';
import { FakeClock, recordingLogger } from '../helpers/fakes.js';
import { MID_2026, pass, tempSite } from '../helpers/fixtures.js';

const policy = { maxValidityMs: 366 * 86_400_000 };
const hasher = new HmacHasher(Buffer.alloc(32, 3));
const DEVICE = 'panel-west';

function setup(t: Test) {
  const site = tempSite();
  const store = new SqlitePassStore(path.join(site.dir, 'state'));
  t.teardown(() => {
    store.close();
    site.cleanup();
  });
  /** Writes the snapshot as a file (JSON escapes and all) and imports it the way `passes import` does. */
  const importFile = (text: string) => {
    const file = path.join(site.dir, 'snapshot.json');
    writeFileSync(file, text);
    const shape = parseSnapshotShape(JSON.parse(readFileSync(file, 'utf8')), file);
    return importSnapshot(store, hasher, shape, { policy, now: MID_2026 });
  };
  const access = new AccessControl(store, hasher, new Zone('America/New_York'), DEVICE);
  let n = 0;
  const present = (type: CredentialType, value: string) =>
    access.attempt({ type, value, door: 'lobby', now: MID_2026 + n++, source: 'test' }).decision;
  return { store, importFile, present, dir: site.dir };
}

t.test(
  'a QR text with a lone surrogate is rejected at import; U+FFFD stays a valid, distinct value',
  async (t) => {
    const { importFile, present, store } = setup(t);
    // As a cloud or a hand-written file would carry it: JSON escapes are the only way to write one.
    const r = importFile(`{"passes": [
    ${JSON.stringify(pass({ id: 'replacement', credentials: [{ type: 'qr', value: 'GATE-\uFFFD' }] }))},
    ${JSON.stringify(pass({ id: 'lone-high', credentials: [{ type: 'qr', value: 'x' }] })).replace('"value":"x"', '"value":"GATE-\\ud800"')},
    ${JSON.stringify(pass({ id: 'lone-low', credentials: [{ type: 'qr', value: 'x' }] })).replace('"value":"x"', '"value":"\\udc00tail"')},
    ${JSON.stringify(pass({ id: 'pair', credentials: [{ type: 'qr', value: 'x' }] })).replace('"value":"x"', '"value":"emoji \\ud83d\\ude00"')}
  ]}`);
    t.equal(r.added, 2, 'U+FFFD and a proper surrogate pair (an emoji) are fine');
    t.same(
      r.rejected.map((x) => [x.id, x.reasons]),
      [
        [
          'lone-high',
          [
            'credentials[0].value: QR text contains a lone UTF-16 surrogate (not Unicode text; it would be read as U+FFFD)',
          ],
        ],
        [
          'lone-low',
          [
            'credentials[0].value: QR text contains a lone UTF-16 surrogate (not Unicode text; it would be read as U+FFFD)',
          ],
        ],
      ],
      'each refused with a clear reason',
    );
    t.same(
      store.listPasses({}).map((p) => p.id),
      ['pair', 'replacement'],
    );
    t.equal(present('qr', 'GATE-\uFFFD').granted, true, 'U+FFFD opens its own pass');
    t.equal(present('qr', 'emoji \uD83D\uDE00').granted, true);
    // Before the fix this opened the U+FFFD pass: '\uD800' and '\uFFFD' had the same hash.
    t.same(
      present('qr', 'GATE-\uD800'),
      { granted: false, reason: 'malformed_credential', passId: null },
      'a lone surrogate at the door is refused, not matched to the U+FFFD pass',
    );
    t.same(present('qr', 'GATE-\uDFFF'), { granted: false, reason: 'malformed_credential', passId: null });
    t.equal(present('qr', 'emoji \uD83D').reason, 'malformed_credential', 'half of a pair');
    const denied = store
      .listEvents(20)
      .filter(isAccessEvent)
      .filter((e) => e.reason === 'malformed_credential');
    t.equal(denied.length, 3, 'each refusal is journalled with its own reason');
    t.same(
      denied.map((e) => [e.credentialType, e.passId]),
      [
        ['qr', null],
        ['qr', null],
        ['qr', null],
      ],
    );
  },
);

t.test(
  'the hasher never maps a lone surrogate onto U+FFFD (defence in depth), and never throws',
  async (t) => {
    const h = (v: string) => hasher.hash('qr', v).toString('hex');
    t.not(h('\uD800'), h('\uFFFD'));
    t.not(h('a\uDC00b'), h('a\uFFFDb'));
    t.not(h('\uD800'), h('\uDBFF'), 'two lone surrogates stay distinct from each other');
    t.equal(h('\uD83D\uDE00'), h('\uD83D\uDE00'), 'a pair hashes as its UTF-8');
    t.equal(h('\uFFFD'), h('\uFFFD'));
    t.equal(
      hasher.hash('qr', 'plain \uD83D\uDE00').toString('hex'),
      createHmac('sha256', Buffer.alloc(32, 3)).update('qr\u0000plain \u{1F600}', 'utf8').digest('hex'),
      'well-formed values hash as documented (HMAC over UTF-8 type 0x00 value): stored hashes stay valid',
    );
  },
);

t.test('an empty card number is refused at import and at the door; card 0 stays valid', async (t) => {
  const { importFile, present } = setup(t);
  const r = importFile(
    JSON.stringify({
      passes: [
        pass({ id: 'empty', credentials: [{ type: 'card', value: '' }] }),
        pass({ id: 'zero', credentials: [{ type: 'card', value: '000' }] }),
      ],
    }),
  );
  t.equal(r.added, 1);
  t.same(
    r.rejected.map((x) => [x.id, x.reasons]),
    [['empty', ['credentials[0].value: a card number is decimal digits']]],
  );
  t.equal(present('card', '0').granted, true, 'card 0 (written 000) is a card like any other');
  // Before the fix an empty read normalised to card 0 and opened the door.
  t.same(present('card', ''), { granted: false, reason: 'malformed_credential', passId: null });
  t.equal(present('card', '   ').reason, 'malformed_credential', 'blank too');
  t.equal(present('pin', '').reason, 'unknown_credential', 'an empty PIN matches nothing (no collision)');
});

/** A console input at the lobby door, with the real access pipeline, over a store holding card 0. */
function consoleAtDoor(t: Test) {
  const { importFile, store } = setup(t);
  importFile(JSON.stringify({ passes: [pass({ id: 'zero', credentials: [{ type: 'card', value: '0' }] })] }));
  const clock = new FakeClock(MID_2026);
  const log = recordingLogger();
  const journal = new Journal(store, DEVICE, clock, log);
  const access = new AccessControl(store, hasher, new Zone('America/New_York'), DEVICE, journal.ids);
  const pipeline = new AccessPipeline(access, new Map(), clock, log);
  const tty = new PassThrough();
  const source = new ConsoleInput(tty);
  const input = new InputController(
    source,
    'lobby',
    pipeline,
    journal,
    clock,
    log,
    DEFAULT_KEYPAD,
    DEFAULT_LOCKOUT,
  );
  source.start(input);
  t.teardown(() => input.stop());
  return { tty, pipeline, store };
}

t.test('a console line "card:" typed at the door is denied malformed_credential', async (t) => {
  const { tty, pipeline } = consoleAtDoor(t);
  tty.write('card:\ncard:0\n');
  await new Promise((r) => setImmediate(r));
  t.same(
    pipeline.recent.map((d) => [d.credentialType, d.granted, d.reason]),
    [
      ['card', false, 'malformed_credential'],
      ['card', true, null],
    ],
  );
});

t.test('malformed values are guesses: they count towards the input lockout', async (t) => {
  const { tty, pipeline } = consoleAtDoor(t);
  // Empty card reads probe nothing, but a reader spewing them is a reader being attacked or broken: the same
  // budget as any guess (otherwise they would be free attempts beside the real ones).
  tty.write(`${'card:\n'.repeat(DEFAULT_LOCKOUT.maxFailures)}card:0\n`);
  await new Promise((r) => setImmediate(r));
  t.same(
    pipeline.recent.map((d) => d.reason),
    [...Array<string>(DEFAULT_LOCKOUT.maxFailures).fill('malformed_credential'), 'locked_out'],
  );
});

t.test('credentialValueProblem', async (t) => {
  t.equal(credentialValueProblem('qr', '\uFFFD'), undefined);
  t.match(credentialValueProblem('qr', 'a\uD800'), /lone UTF-16 surrogate/);
  t.match(credentialValueProblem('pin', '\uDC00'), /lone UTF-16 surrogate/);
  t.match(credentialValueProblem('card', ''), /card number is empty/);
  t.match(credentialValueProblem('card', ' \t'), /card number is empty/);
  t.equal(credentialValueProblem('card', '0'), undefined);
  t.equal(credentialValueProblem('qr', ' '), undefined, 'a blank QR is text (it matches nothing)');
});
