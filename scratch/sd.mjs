import { SqlitePassStore } from '../dist/src/adapters/sqlite/store.js';
import { HmacHasher } from '../dist/src/adapters/hasher.js';
import { AccessControl } from '../dist/src/app/access.js';
import { Zone } from '../dist/src/core/zone.js';
import fs from 'node:fs';
const now = Date.parse('2026-05-06T08:00:00Z');
for (const sd of ['OFF', 'ON', 'OFF', 'ON']) {
  const dir = '/tmp/wa/sd-' + sd; fs.rmSync(dir, { recursive: true, force: true });
  const store = new SqlitePassStore(dir);
  store.db.pragma(`main.secure_delete = ${sd}`);
  const access = new AccessControl(store, new HmacHasher(Buffer.alloc(32, 1)), new Zone('Europe/Berlin'), 'd');
  const times = []; const acks = [];
  for (let i = 0; i < 3000; i++) {
    const t = process.hrtime.bigint(); access.attempt({ type: 'pin', value: '1234567', door: 'x', now }); times.push(Number(process.hrtime.bigint() - t) / 1e3);
    if (i % 100 === 99) { const t2 = process.hrtime.bigint(); store.outboxAck(i + 1, 50); acks.push(Number(process.hrtime.bigint() - t2) / 1e3); }
  }
  times.sort((a, b) => a - b); acks.sort((a, b) => a - b);
  console.log(`journal secure_delete=${sd}: access p50 ${times[1500].toFixed(0)} us p99 ${times[2970].toFixed(0)} us; outboxAck(100 deleted) p50 ${acks[15].toFixed(0)} us`);
  store.close();
}
