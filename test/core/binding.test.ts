/**
 * core/binding.ts: who and when a cloud message is for, as pure functions over (message, kind, context).
 */
import t from 'tap';
import {
  believed,
  FUTURE_TOLERANCE_MS,
  judgeBinding,
  nextNewest,
  type BindingContext,
} from '../../src/core/binding.js';

const H = 3_600_000;
const NOW = Date.parse('2026-06-15T16:00:00Z');
const at = (ms: number): string => new Date(ms).toISOString();
const ctx = (over: Partial<BindingContext> = {}): BindingContext => ({
  device: 'panel-west',
  requireBinding: true,
  maxAgeMs: 24 * H,
  newest: null,
  trustedNow: NOW,
  ...over,
});

t.test(
  'device: another device is refused whatever requireBinding says; absent only when not required',
  (t) => {
    for (const kind of ['snapshot', 'command'] as const) {
      for (const requireBinding of [true, false]) {
        t.match(
          judgeBinding({ device: 'panel-east', issuedAt: at(NOW) }, kind, ctx({ requireBinding })),
          { ok: false, reason: 'wrong_device', detail: /panel-east.*panel-west/ },
          `${kind}, requireBinding ${requireBinding}`,
        );
      }
      t.match(judgeBinding({ issuedAt: at(NOW) }, kind, ctx()), { ok: false, reason: 'missing_binding' });
      t.same(judgeBinding({ issuedAt: at(NOW) }, kind, ctx({ requireBinding: false })), {
        ok: true,
        issuedAt: NOW,
      });
    }
    t.same(
      judgeBinding({ device: 'panel-east', issuedAt: at(NOW) }, 'delta', ctx()),
      { ok: true, issuedAt: NOW },
      'a delta is for the whole site: its device (if any) is not judged',
    );
    t.end();
  },
);

t.test('issuedAt: required when binding is; absent accepted (null) otherwise', (t) => {
  t.match(judgeBinding({}, 'delta', ctx()), { ok: false, reason: 'missing_binding', detail: /issuedAt/ });
  t.match(judgeBinding({ device: 'panel-west' }, 'command', ctx()), { reason: 'missing_binding' });
  t.same(judgeBinding({}, 'delta', ctx({ requireBinding: false })), { ok: true, issuedAt: null });
  t.match(judgeBinding({ issuedAt: 'yesterday' }, 'delta', ctx({ requireBinding: false })), {
    ok: false,
    reason: 'missing_binding',
  });
  t.end();
});

t.test('stale: older than the newest accepted by more than the tolerance, whatever the clock', (t) => {
  const newest = NOW - H;
  for (const trustedNow of [NOW, null]) {
    t.match(judgeBinding({ issuedAt: at(newest - 24 * H - 1) }, 'delta', ctx({ newest, trustedNow })), {
      ok: false,
      reason: 'stale',
      detail: /newest already accepted/,
    });
    t.same(judgeBinding({ issuedAt: at(newest - 24 * H) }, 'delta', ctx({ newest, trustedNow })), {
      ok: true,
      issuedAt: newest - 24 * H,
    });
  }
  t.end();
});

t.test(
  'stale by the trusted clock: snapshot parts and commands, not deltas; not without a trusted clock',
  (t) => {
    const old = { device: 'panel-west', issuedAt: at(NOW - 25 * H) };
    t.match(judgeBinding(old, 'snapshot', ctx()), { ok: false, reason: 'stale', detail: /trusted clock/ });
    t.match(judgeBinding(old, 'command', ctx()), { ok: false, reason: 'stale' });
    t.same(judgeBinding(old, 'delta', ctx()), { ok: true, issuedAt: NOW - 25 * H }, 'queued deltas pass');
    t.same(judgeBinding(old, 'snapshot', ctx({ trustedNow: null })), { ok: true, issuedAt: NOW - 25 * H });
    t.end();
  },
);

t.test('a cloud clock far ahead cannot freeze the device once its own clock is trusted', (t) => {
  const absurd = NOW + 365 * 24 * H;
  // Recorded while the clock was untrusted: nothing caps it then.
  t.equal(nextNewest(null, absurd, null), absurd);
  // Later, with a trusted clock, it counts as at most now + tolerance: today's messages still pass.
  t.same(judgeBinding({ issuedAt: at(NOW) }, 'delta', ctx({ newest: absurd })), { ok: true, issuedAt: NOW });
  t.equal(nextNewest(absurd, NOW, NOW), NOW + FUTURE_TOLERANCE_MS, 'and the stored value heals');
  t.equal(believed(absurd, NOW), NOW + FUTURE_TOLERANCE_MS);
  t.equal(nextNewest(null, absurd, NOW), NOW + FUTURE_TOLERANCE_MS, 'a future issuedAt is capped');
  t.equal(nextNewest(NOW, NOW - H, NOW), NOW, 'never lowered by an older message');
  t.equal(nextNewest(NOW - H, NOW, NOW), NOW);
  t.end();
});
