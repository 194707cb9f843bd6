import { SqlitePassStore } from '../dist/src/adapters/sqlite/store.js';
import { HmacHasher } from '../dist/src/adapters/hasher.js';
import { PassSync } from '../dist/src/app/sync.js';
import { AccessControl } from '../dist/src/app/access.js';
import { Zone } from '../dist/src/core/zone.js';
import { snapshotParts } from '../dist/src/tools/cloud.js';
import { snapshotPartSchema } from '../dist/src/protocol/mqtt.js';
import { generateSnapshot } from '../dist/bench/snapshot.js';
import fs from 'node:fs';
const dir = '/tmp/wa/gap'; fs.rmSync(dir, { recursive: true, force: true });
const store = new SqlitePassStore(dir);
const hasher = new HmacHasher(Buffer.alloc(32, 3));
const now = Date.parse('2026-05-06T08:00:00Z');
const quiet = { info(){}, warn(){}, error(){}, debug(){}, trace(){}, fatal(){}, child(){ return quiet; } };
const clock = { now: () => now, monotonic: () => performance.now(), after: (ms, fn) => { const t = setTimeout(fn, ms); return { cancel: () => clearTimeout(t) }; } };
for (const m of ['swapStage','cleanupStep','checkpointCache','beginStage','counts']) { const f = store[m].bind(store); store[m] = (...a) => { const t = performance.now(); const r = f(...a); const d = performance.now() - t; if (d > 15) console.log(m, d.toFixed(1)); return r; }; }
const sync = new PassSync(store, hasher, () => ({ maxValidityMs: 366 * 86400000 }), clock, quiet, () => {});
const access = new AccessControl(store, hasher, new Zone('Europe/Berlin'), 'door-1');
const gen = generateSnapshot(100000, now, 7);
const texts = snapshotParts({ seq: 1, passes: gen.snapshot.passes, accessGroups: gen.snapshot.accessGroups });
const seq2 = snapshotParts({ seq: 2, passes: gen.snapshot.passes, accessGroups: gen.snapshot.accessGroups });
async function run(texts, label) {
  let done = false; const gaps = []; let last = performance.now();
  const probe = (async () => { while (!done) { const due = performance.now() + 5; await new Promise(r => setTimeout(r, 5)); access.attempt({ type: 'pin', value: '999999', door: 'x', now }); const t = performance.now(); gaps.push([t - due, t]); } })();
  const t0 = performance.now();
  for (const text of texts) { const t1 = performance.now(); sync.onSnapshotPart(snapshotPartSchema.parse(JSON.parse(text))); const d = performance.now() - t1; if (d > 20) console.log('onSnapshotPart took', d.toFixed(1)); await new Promise(r => setImmediate(r)); }
  await sync.idle(); done = true; await probe;
  gaps.sort((a,b)=>b[0]-a[0]);
  console.log(label, 'total', ((performance.now()-t0)/1000).toFixed(2), 's; top gaps', gaps.slice(0,8).map(g=>g[0].toFixed(1)+'@'+(g[1]-t0).toFixed(0)).join(' '));
}
await run(texts, 'fresh');
await run(seq2, 'replace');
