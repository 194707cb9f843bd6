import t, { type Test } from 'tap';
import path from 'node:path';
import { AccessControl } from '../../src/app/access.js';
import { importSnapshot } from '../../src/app/import.js';
import { HmacHasher } from '../../src/adapters/hasher.js';
import { SqlitePassStore } from '../../src/adapters/sqlite/store.js';
import { isAccessEvent } from '../../src/core/events.js';
import { Zone } from '../../src/core/zone.js';
import { MID_2026, pass, tempSite, type Json } from '../helpers/fixtures.js';

const policy = { maxValidityMs: 366 * 86_400_000 };

function setup(t: Test, passes: Json[], groups: Json[] = [], device = 'panel-west') {
  const site = tempSite();
  const store = new SqlitePassStore(path.join(site.dir, 'd'));
  const hasher = new HmacHasher(Buffer.alloc(32, 7));
  const zone = new Zone('America/New_York');
  const report = importSnapshot(store, hasher, { passes, accessGroups: groups }, { policy, now: MID_2026 });
  t.same(report.rejected, [], 'fixture passes import cleanly');
  const access = new AccessControl(store, hasher, zone, device);
  t.teardown(() => {
    store.close();
    site.cleanup();
  });
  return { store, hasher, zone, access, site };
}

t.test(
  'a single-use pass opens once, then is refused with use_limit; both attempts are journalled',
  async (t) => {
    const { access, store } = setup(t, [pass({ maxUses: 1 })]);
    const a = access.attempt({ type: 'pin', value: '123456', door: 'lobby', now: MID_2026 });
    t.equal(a.decision.granted, true);
    const b = access.attempt({ type: 'pin', value: '123456', door: 'lobby', now: MID_2026 + 1000 });
    t.same(
      { granted: b.decision.granted, reason: b.decision.reason },
      { granted: false, reason: 'use_limit' },
    );
    const events = store.listEvents(10).filter(isAccessEvent);
    t.equal(events.length, 2);
    t.same(
      events.map((e) => [e.type, e.passId, e.reason, e.credentialType, e.door, e.device]),
      [
        ['access.granted', 'p1', null, 'pin', 'lobby', 'panel-west'],
        ['access.denied', 'p1', 'use_limit', 'pin', 'lobby', 'panel-west'],
      ],
    );
    t.ok((events[0]?.id ?? '') < (events[1]?.id ?? ''), 'event ids sort in order');
    t.notMatch(JSON.stringify(events), /123456/, 'no event carries the PIN');
  },
);

t.test('per-device limit counts this device; total limit adds the uses other devices reported', async (t) => {
  const { access } = setup(t, [
    pass({ id: 'dev', maxUsesPerDevice: 2, credentials: [{ type: 'pin', value: '1111' }] }),
    pass({ id: 'tot', maxUses: 3, uses: { 'panel-east': 2 }, credentials: [{ type: 'pin', value: '2222' }] }),
  ]);
  const at = (v: string, n: number) =>
    access.attempt({ type: 'pin', value: v, door: 'lobby', now: MID_2026 + n }).decision;
  t.equal(at('1111', 1).granted, true);
  t.equal(at('1111', 2).granted, true);
  t.equal(at('1111', 3).reason, 'device_use_limit');
  t.equal(at('2222', 1).granted, true, 'third use overall (2 elsewhere + 1 here)');
  t.equal(at('2222', 2).reason, 'use_limit');
});

t.test(
  'a cloud update merges uses as a grow-only counter: a single-use pass used elsewhere is refused here',
  async (t) => {
    const { access, store, hasher } = setup(t, [pass({ maxUses: 1 })]);
    importSnapshot(
      store,
      hasher,
      { passes: [pass({ version: 2, maxUses: 1, uses: { 'panel-east': 1 } })], accessGroups: [] },
      { policy, now: MID_2026 },
    );
    t.equal(
      access.evaluate({ type: 'pin', value: '123456', door: 'lobby', now: MID_2026 }).reason,
      'use_limit',
    );
    // A later update with a smaller count never lowers the counter.
    importSnapshot(
      store,
      hasher,
      { passes: [pass({ version: 3, maxUses: 1, uses: { 'panel-east': 0 } })], accessGroups: [] },
      { policy, now: MID_2026 },
    );
    t.equal(
      access.evaluate({ type: 'pin', value: '123456', door: 'lobby', now: MID_2026 }).reason,
      'use_limit',
    );
  },
);

t.test('evaluate (dry run) counts no use and writes no event', async (t) => {
  const { access, store } = setup(t, [pass({ maxUses: 1 })]);
  for (let i = 0; i < 3; i++)
    t.equal(access.evaluate({ type: 'pin', value: '123456', door: 'lobby', now: MID_2026 }).granted, true);
  t.equal(store.counts().events, 0);
});

t.test(
  'access group schedule: courier key admitted only inside the group window, in the site zone',
  async (t) => {
    const groups = [
      {
        id: 'couriers',
        name: 'Couriers',
        schedule: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '08:00', end: '18:00' }],
      },
    ];
    const { access } = setup(
      t,
      [pass({ kind: 'courier', accessGroup: 'couriers', credentials: [{ type: 'card', value: '000123' }] })],
      groups,
    );
    const check = (iso: string) =>
      access.evaluate({ type: 'card', value: '123', door: 'lobby', now: Date.parse(iso) });
    t.equal(check('2026-06-15T12:30:00Z').granted, true, 'Monday 08:30 EDT');
    t.equal(check('2026-06-15T11:30:00Z').reason, 'outside_schedule', 'Monday 07:30 EDT');
    t.equal(check('2026-06-13T16:00:00Z').reason, 'outside_schedule', 'Saturday noon');
    t.equal(
      access.evaluate({ type: 'card', value: '0000123', door: 'lobby', now: MID_2026 }).granted,
      true,
      'leading zeros ignored',
    );
  },
);

t.test('a pass naming an unknown access group is refused (fail-secure)', async (t) => {
  const { access } = setup(t, [pass({ accessGroup: 'ghost' })]);
  t.equal(
    access.evaluate({ type: 'pin', value: '123456', door: 'lobby', now: MID_2026 }).reason,
    'outside_schedule',
  );
});

t.test('revocation is immediate and final', async (t) => {
  const { access, store, hasher } = setup(t, [pass()]);
  t.equal(store.revokePass('p1', MID_2026), true);
  t.equal(access.evaluate({ type: 'pin', value: '123456', door: 'lobby', now: MID_2026 }).reason, 'revoked');
  importSnapshot(
    store,
    hasher,
    { passes: [pass({ version: 5 })], accessGroups: [] },
    { policy, now: MID_2026 },
  );
  t.equal(
    access.evaluate({ type: 'pin', value: '123456', door: 'lobby', now: MID_2026 }).reason,
    'revoked',
    'a newer version does not un-revoke',
  );
  t.equal(store.revokePass('nope', MID_2026), false);
});

t.test('credential types are distinct: PIN 123456 is not card 123456', async (t) => {
  const { access } = setup(t, [pass()]);
  t.equal(
    access.evaluate({ type: 'card', value: '123456', door: 'lobby', now: MID_2026 }).reason,
    'unknown_credential',
  );
  t.equal(
    access.evaluate({ type: 'qr', value: '123456', door: 'lobby', now: MID_2026 }).reason,
    'unknown_credential',
  );
});

t.test('door list and floors', async (t) => {
  const { access, store } = setup(t, [pass({ doors: ['garage'], floors: [3, 12] })]);
  t.equal(
    access.evaluate({ type: 'pin', value: '123456', door: 'lobby', now: MID_2026 }).reason,
    'door_not_allowed',
  );
  const ok = access.attempt({ type: 'pin', value: '123456', door: 'garage', now: MID_2026 });
  t.same(ok.decision, { granted: true, reason: null, passId: 'p1', floors: [3, 12] });
  t.same(
    store.listEvents(1).filter(isAccessEvent)[0]?.floors,
    [3, 12],
    'floors are journalled with the grant',
  );
});
