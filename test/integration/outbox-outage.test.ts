/**
 * A broker outage for a simulated day of traffic (100,000 access attempts) with the real store, access
 * control, journal, uploader and MQTT link, and a real Mosquitto that is down meanwhile (test/helpers/
 * outage.ts). Nothing is lost within the bound, memory stays flat, and once the broker is back every event
 * arrives in journal order; with a bound below the total the oldest are dropped and reported. The drain
 * rate is reported (here and by `npm run soak`), never asserted.
 */
import t from 'tap';
import { haveMosquitto } from '../helpers/mosquitto.js';
import { halves, runOutage, type OutageResult } from '../helpers/outage.js';

// A day of events and its drain take longer than tap's 120 s default on a loaded machine.
t.setTimeout(300_000);

const skip = !haveMosquitto() && 'mosquitto is not installed (scripts/test.sh installs it)';

function figures(r: OutageResult): string {
  const [heap1, heap2] = halves(r.memory, 'heapMiB');
  const [rss1, rss2] = halves(r.memory, 'rssMiB');
  return JSON.stringify({
    generated: r.generated,
    grants: r.grants,
    dropped: r.dropped,
    depthBeforeDrain: r.depthBeforeDrain,
    drainEventsPerSecond: Math.round(r.drain.perSecond),
    drainMs: r.drain.ms,
    heapMiB: [heap1.toFixed(1), heap2.toFixed(1)],
    rssMiB: [rss1.toFixed(1), rss2.toFixed(1)],
    heapAfterDrainMiB: r.memoryAfterDrain.heapMiB.toFixed(1),
    wireDuplicates: r.wire.duplicates,
  });
}

t.test('100,000 events with the broker down, outbox bound above the total', { skip }, async (t) => {
  const r = await runOutage({ events: 100_000, maxOutbox: 200_000 });
  t.comment(figures(r));
  t.ok(r.idsIncreasing, 'ids from one factory strictly increase (the journal order)');
  t.ok(r.grants > 0 && r.denials > 0, `${r.grants} grants, ${r.denials} denials`);
  t.equal(r.dropped, 0, 'nothing dropped within the bound');
  t.equal(r.depthBeforeDrain, 100_000, 'every event waited in the outbox');
  t.equal(r.wire.accessEvents, 100_000, 'every event reached the broker');
  t.ok(r.wire.inOrder, 'in journal order (first sighting of each id)');
  t.ok(r.wire.matchesNewest, 'exactly the events generated, in the order generated');
  t.ok(r.wire.lastIdMatches, 'the last event generated is the last received');
  t.equal(r.wire.droppedEvents, 0, 'no outbox_dropped event');

  // Flat memory: after a full GC, the second half of the outage uses no more than the first half plus a
  // little (the numbers are in the comment above). 100,000 events kept in memory would be tens of MiB.
  const [heap1, heap2] = halves(r.memory, 'heapMiB');
  const [rss1, rss2] = halves(r.memory, 'rssMiB');
  t.ok(heap2 - heap1 < 4, `heap used ${heap1.toFixed(1)} -> ${heap2.toFixed(1)} MiB`);
  t.ok(rss2 - rss1 < 24, `RSS ${rss1.toFixed(1)} -> ${rss2.toFixed(1)} MiB`);
});

t.test('50,000 events with the bound at 20,000: the oldest are dropped and reported', { skip }, async (t) => {
  const r = await runOutage({ events: 50_000, maxOutbox: 20_000, samples: 5 });
  t.comment(figures(r));
  t.ok(r.dropped >= 30_000, `${r.dropped} dropped`);
  t.ok(r.depthBeforeDrain <= 20_000 + 50, `outbox ${r.depthBeforeDrain} at the bound`);
  t.ok(
    r.wire.accessEvents + r.dropped >= 50_000,
    'every access event that did not arrive was counted as dropped',
  );
  t.ok(r.wire.accessEvents >= 20_000 - 50, `${r.wire.accessEvents} access events arrived`);
  t.ok(r.wire.droppedEvents >= 1, `${r.wire.droppedEvents} device.outbox_dropped events arrived`);
  t.ok(r.wire.droppedReported > 0 && r.wire.droppedReported <= r.dropped, 'drops are reported');
  // A device.outbox_dropped event dropped by a later trim hands its count on to the next one.
  t.equal(r.wire.droppedReported, r.dropped, 'every drop is reported (sum of outbox_dropped counts)');
  t.ok(r.wire.inOrder, 'in order');
  t.ok(r.wire.matchesNewest, 'the newest events were kept, none in between lost');
  t.ok(r.wire.lastIdMatches, 'the last event generated is the last received');
});
