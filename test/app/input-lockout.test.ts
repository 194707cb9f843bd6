/**
 * The input controller's lockouts through the real parts (AccessControl on a SQLite store, the journal, the
 * pipeline), as the person at the door meets them: per factor, fed only by guesses, never reset by a grant,
 * persisted per factor, and migrated from the per-input state saved before.
 */
import t, { type Test } from 'tap';
import path from 'node:path';
import { AccessControl } from '../../src/app/access.js';
import { importSnapshot } from '../../src/app/import.js';
import { InputController, type LockoutPersistence } from '../../src/app/input-controller.js';
import { Journal } from '../../src/app/journal.js';
import { AccessPipeline } from '../../src/app/pipeline.js';
import { HmacHasher } from '../../src/adapters/hasher.js';
import { SqlitePassStore } from '../../src/adapters/sqlite/store.js';
import { DEFAULT_KEYPAD } from '../../src/core/keypad.js';
import { DEFAULT_LOCKOUT, type LockoutConfig } from '../../src/core/lockout.js';
import { Zone } from '../../src/core/zone.js';
import { FakeClock, FakeSource, recordingLogger } from '../helpers/fakes.js';
import { MID_2026, pass, tempSite } from '../helpers/fixtures.js';

const hasher = new HmacHasher(Buffer.alloc(32, 3));
const DAY = 86_400_000;

/** One input ('bridge' at the lobby) over a store holding a resident, a card, a QR pass and an early guest. */
function rig(t: Test, opts: { dir?: string; config?: LockoutConfig; persistence?: LockoutPersistence } = {}) {
  const site = tempSite();
  t.teardown(site.cleanup);
  const dir = opts.dir ?? path.join(site.dir, 'd');
  const store = new SqlitePassStore(dir);
  const clock = new FakeClock(MID_2026);
  const log = recordingLogger();
  const journal = new Journal(store, 'panel-west', clock, log);
  const access = new AccessControl(store, hasher, new Zone('America/New_York'), 'panel-west', journal.ids);
  importSnapshot(
    store,
    hasher,
    {
      passes: [
        pass({ id: 'resident', credentials: [{ type: 'pin', value: '123456' }] }),
        pass({ id: 'card', credentials: [{ type: 'card', value: '4242' }] }),
        pass({ id: 'qr', credentials: [{ type: 'qr', value: 'DP1-resident-qr' }] }),
        // A guest who comes a day early: the PIN matches a pass that is not valid yet.
        pass({
          id: 'guest',
          credentials: [{ type: 'pin', value: '555000' }],
          validFrom: new Date(MID_2026 + DAY).toISOString(),
        }),
        pass({ id: 'once', credentials: [{ type: 'pin', value: '606060' }], maxUses: 1 }),
      ],
      accessGroups: [],
    },
    { policy: { maxValidityMs: 366 * DAY }, now: MID_2026 },
  );
  const pipeline = new AccessPipeline(access, new Map(), clock, log);
  const source = new FakeSource('bridge');
  const persistence: LockoutPersistence = opts.persistence ?? {
    load: (key) => store.getMeta(key),
    save: (key, value) => store.setMeta(key, value),
  };
  const build = () =>
    new InputController(
      source,
      'lobby',
      pipeline,
      journal,
      clock,
      log,
      DEFAULT_KEYPAD,
      opts.config ?? DEFAULT_LOCKOUT,
      persistence,
    );
  const input = build();
  source.start(input);
  let closed = false;
  t.teardown(() => {
    if (!closed) store.close();
    closed = true;
  });
  const wrongPins = (n: number, from = 0) => {
    for (let i = 0; i < n; i++) source.type(`${900000 + from + i}#`);
  };
  return { store, clock, log, input, source, access, wrongPins, dir, build };
}

t.test('five wrong PINs lock the keypad only: a card and a QR code still open at once', async (t) => {
  const { input, source, wrongPins, store } = rig(t);
  wrongPins(5);
  const st = input.status();
  t.equal(st.lockedOut, true, 'the input reports a lockout');
  t.equal(st.lockouts.pin.lockedOut, true);
  t.equal(st.lockouts.pin.lockedForMs, 60_000);
  t.same(st.lockouts.card, { lockedOut: false, lockedForMs: 0, guessesLeft: 20 });
  t.same(st.lockouts.qr, { lockedOut: false, lockedForMs: 0, guessesLeft: 20 });
  t.equal(input.credential('card', '4242').granted, true, 'the card opens');
  t.equal(input.credential('qr', 'DP1-resident-qr').granted, true, 'the QR code opens');
  source.feedbacks = [];
  source.type('123456#');
  t.same(source.feedbacks.at(-1), 'locked_out', 'the keypad itself is locked, even for the right PIN');
  const ev = store.listEvents(50).find((e) => e.type === 'input.locked_out');
  t.match(ev, {
    type: 'input.locked_out',
    source: 'bridge',
    door: 'lobby',
    factor: 'pin',
    lockedForMs: 60_000,
  });
  t.match(ev, { detail: 'pin: 5 guesses within 60 s; locked for 60 s' });
});

t.test('wrong cards lock the card reader, not the keypad', async (t) => {
  const { input } = rig(t);
  for (let i = 0; i < 5; i++) input.credential('card', String(1000 + i));
  t.equal(input.status().lockouts.card.lockedOut, true);
  t.equal(input.credential('card', '4242').reason, 'locked_out');
  t.equal(input.status().lockouts.pin.lockedOut, false);
  t.equal(input.credential('pin', '123456').granted, true);
});

t.test('four wrong PINs, own PIN, four wrong…: locks no later than without the valid PIN', async (t) => {
  const a = rig(t);
  a.wrongPins(4);
  a.source.type('123456#');
  t.equal(a.source.feedbacks.at(-1), 'accept', 'the own PIN opens');
  a.wrongPins(1, 4);
  t.equal(a.input.status().lockouts.pin.lockedOut, true, 'the 5th wrong PIN locks, grant or not');
  a.source.type('123456#');
  t.equal(a.source.feedbacks.at(-1), 'locked_out');
  // Own QR in between instead: the same.
  const b = rig(t);
  b.wrongPins(4);
  t.equal(b.input.credential('qr', 'DP1-resident-qr').granted, true);
  b.wrongPins(1, 4);
  t.equal(b.input.status().lockouts.pin.lockedOut, true, 'own QR bought nothing');
  // Slowly (never 5 a minute), with the own PIN after every 4: the budget still runs out at 20.
  const c = rig(t);
  let guesses = 0;
  while (!c.input.status().lockouts.pin.lockedOut && guesses < 100) {
    c.wrongPins(1, guesses++);
    if (guesses % 4 === 0) c.source.type('123456#');
    c.clock.advance(20_000);
  }
  t.equal(guesses, 20, 'locked at the 20th guess, own PIN five times in between');
});

t.test('a guest who matches a pass (early, used up) never locks the keypad', async (t) => {
  const { input, source } = rig(t);
  for (let i = 0; i < 8; i++) source.type('555000#');
  t.equal(input.credential('pin', '555000').reason, 'not_yet_valid');
  t.equal(input.credential('pin', '606060').granted, true);
  for (let i = 0; i < 8; i++) t.equal(input.credential('pin', '606060').reason, 'use_limit');
  t.same(input.status().lockouts.pin, { lockedOut: false, lockedForMs: 0, guessesLeft: 20 });
  source.type('123456#');
  t.equal(source.feedbacks.at(-1), 'accept', 'residents still get in');
});

t.test(
  'clock_untrusted counts like unknown_credential (the lockout must not reveal which PINs exist)',
  async (t) => {
    const known = rig(t);
    known.access.clockTrust = () => ({ policy: 'deny', floor: MID_2026, nonExpiringMinMs: 180 * DAY });
    for (let i = 0; i < 4; i++) t.equal(known.input.credential('pin', '123456').reason, 'clock_untrusted');
    const unknown = rig(t);
    unknown.access.clockTrust = known.access.clockTrust;
    for (let i = 0; i < 4; i++)
      t.equal(unknown.input.credential('pin', `99999${i}`).reason, 'unknown_credential');
    t.same(known.input.status().lockouts.pin, unknown.input.status().lockouts.pin, 'indistinguishable');
    known.input.credential('pin', '123456');
    unknown.input.credential('pin', '999994');
    t.equal(known.input.status().lockouts.pin.lockedOut, true);
    t.equal(unknown.input.status().lockouts.pin.lockedOut, true);
  },
);

t.test(
  'a typo corrected at once gives its guess back, once a day per pass; the burst rule still counts',
  async (t) => {
    const { input, source, clock } = rig(t);
    source.type('123457#'); // one digit off
    source.type('123456#');
    t.equal(input.status().lockouts.pin.guessesLeft, 20, 'forgiven');
    source.type('123457#');
    t.not((input as unknown as { typos: { last: unknown } }).typos.last, null, 'the wrong PIN, in memory');
    clock.advance(30_000);
    t.equal(
      (input as unknown as { typos: { last: unknown } }).typos.last,
      null,
      'dropped after the 30 s it can serve',
    );
    clock.advance(60_000);
    source.type('124356#'); // swapped
    source.type('123456#');
    t.equal(input.status().lockouts.pin.guessesLeft, 18, 'not twice a day for the same pass');
    clock.advance(60_000);
    source.type('654321#'); // not a typo of it
    source.type('123456#');
    t.equal(input.status().lockouts.pin.guessesLeft, 17);
    clock.advance(DAY);
    // A day later, typos are forgiven again, but five within a minute still lock (the burst rule never gives back).
    for (let i = 0; i < 5; i++) {
      source.type('123457#');
      if (i < 4) source.type('123456#');
    }
    t.equal(input.status().lockouts.pin.lockedOut, true);
  },
);

t.test(
  'malformed entries are guesses of their factor: an over-long entry, a garbled card read',
  async (t) => {
    const { input, source } = rig(t);
    source.type('1234567890123'); // 13 digits: refused at once
    t.equal(input.status().lockouts.pin.guessesLeft, 19);
    input.readError('wiegand 26-bit parity: bad parity', 'card');
    t.equal(input.status().lockouts.card.guessesLeft, 19);
    input.readError('camera decoder error: worker exited');
    t.equal(input.status().lockouts.qr.guessesLeft, 20, 'device trouble counts toward nothing');
    t.equal(input.status().readErrors, 2);
    for (let i = 0; i < 4; i++) input.readError('wiegand 26-bit parity: bad parity', 'card');
    t.equal(input.status().lockouts.card.lockedOut, true);
    source.feedbacks = [];
    input.readError('wiegand 26-bit parity: bad parity', 'card');
    t.same(source.feedbacks, ['locked_out'], 'a locked factor shows amber');
  },
);

t.test(
  'lockouts persist per factor; the per-input state saved before the upgrade applies to every factor',
  async (t) => {
    const site = tempSite();
    t.teardown(site.cleanup);
    const dir = path.join(site.dir, 'up');
    const old = new SqlitePassStore(dir);
    // What the previous version saved 20 s into a 240 s lockout (level 3, 12 failures in a row).
    old.setMeta(
      'lockout.bridge.lobby',
      JSON.stringify({ v: 1, remainingMs: 220_000, level: 3, consecutive: 12 }),
    );
    old.close();
    const a = rig(t, { dir });
    const st = a.input.status();
    for (const f of ['pin', 'card', 'qr'] as const) {
      t.equal(st.lockouts[f].lockedOut, true, `${f}: still locked after the upgrade`);
      t.equal(st.lockouts[f].lockedForMs, 220_000, `${f}: for what was left`);
      t.equal(st.lockouts[f].guessesLeft, 8, `${f}: 12 guesses spent`);
    }
    t.match(JSON.parse(a.store.getMeta('lockout.bridge.lobby/card') ?? '{}'), {
      v: 2,
      remainingMs: 220_000,
      level: 3,
      spent: 12,
    });
    t.match(
      JSON.parse(a.store.getMeta('lockout.bridge.lobby') ?? '{}'),
      { remainingMs: 0, level: 0, consecutive: 0 },
      'old key neutralised',
    );
    a.clock.advance(100_000);
    await a.input.stop();
    a.store.close();
    // Restarted (as the same version): the old key is not applied again, each factor has its own rest.
    const b = rig(t, { dir });
    t.equal(b.input.status().lockouts.qr.lockedForMs, 120_000, 'what was left at the stop');
    b.clock.advance(120_000);
    t.equal(b.input.status().lockedOut, false);
    for (let i = 0; i < 5; i++) b.input.credential('pin', `99999${i}`);
    t.equal(b.input.status().lockouts.pin.lockedForMs, 8 * 60_000, 'the level survived: 4th burst = 8 min');
    t.equal(b.input.status().lockouts.card.lockedOut, false);
  },
);
