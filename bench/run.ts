/**
 * `npm run bench`: the figures of the pass cache and the access path, each beside a baseline measured in the
 * same run on the same database, printed as JSON lines on stdout (progress on stderr):
 *
 *   import.100k, import.100k.parse+import   vs sqlite.insert.100k  (bare 100k-row INSERT, one transaction)
 *   rss.100k                                vs rss.empty
 *   decision.p50/p99/per_second             vs sqlite.lookup.*     (bare primary-key lookup, same hashes)
 *   access.p50/p99                          vs commit.p50/p99      (bare one-row durable commit)
 *   startup.ready.100k                      vs startup.cli_version (spawn to "doorpass ready")
 *   bridge.key_to_relay.p50/p99             vs pty.echo.p50/p99    (bench/bridge.ts)
 *   osdp.poll_rtt / osdp.card_to_relay      vs osdp.wire_time.*    (bench/osdp.ts)
 *   mqtt.upload.events_per_second, sync.snapshot.100k, sync.snapshot.decision_gap_max.ms,
 *   sync.revoke_to_deny.p50/p99                                     (bench/mqtt.ts)
 *   qr.*: per-frame decode times, decode rates per distortion, fps, frame-to-relay   (bench/qr.ts)
 *   bruteforce.*: keypad guesses an optimal attacker gets past the lockout, P(PIN found)  (bench/bruteforce.ts)
 *
 * Deterministic where it can be: a fixed instant, a fixed credential key, seeded pass shapes and draws.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { HmacHasher } from '../src/adapters/hasher.js';
import { SqlitePassStore } from '../src/adapters/sqlite/store.js';
import { AccessControl, type AccessAttempt } from '../src/app/access.js';
import { importSnapshot, parseSnapshotShape } from '../src/app/import.js';
import type { Decision } from '../src/core/decide.js';
import { Zone } from '../src/core/zone.js';
import { normalizeCredential } from '../src/protocol/pass.js';
import {
  credentialsOf,
  generateSnapshot,
  unknownCredential,
  type Pair,
  type SampleCredential,
} from './snapshot.js';
import { benchBridge } from './bridge.js';
import { benchOsdp } from './osdp.js';
import { benchBruteForce } from './bruteforce.js';
import { benchMqtt } from './mqtt.js';
import { benchQr } from './qr.js';
import { emit, log, nowNs, percentile, Prng } from './stats.js';

const PASSES = 100_000;
const DECISION_SAMPLES = 100_000;
const DECISION_WARMUP = 20_000;
const ACCESS_SAMPLES = 5_000;
const ACCESS_WARMUP = 200;
const UNKNOWN_SHARE = 0.1;
const SEED = 0x0d00_7a55;
/** Wednesday 2026-05-06 10:00 in Berlin: inside most windows, outside some. */
const NOW = Date.parse('2026-05-06T08:00:00Z');
const ZONE = 'Europe/Berlin';
const DEVICE = 'door-1';
const DAY = 86_400_000;
const MIB = 1024 * 1024;

/** A full garbage collection (the bench is started without --expose-gc). */
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

function rssMiB(): number {
  gc();
  gc();
  return process.memoryUsage().rss / MIB;
}

/**
 * Diagnostic only (stderr): RSS of a fresh Node process that opens the database read-only and reads every
 * pass once (so SQLite's page cache is full), or opens nothing when `dbFile` is null. Tells how much of
 * rss.100k is the database and how much is memory the import freed but the allocator kept.
 */
function freshProcessRssMiB(dbFile: string | null): number | undefined {
  const storeUrl = new URL('../src/adapters/sqlite/store.js', import.meta.url).href;
  const script = `
    const { SqlitePassStore } = await import(${JSON.stringify(storeUrl)});
    const file = process.argv[1];
    if (file !== 'none') {
      const store = new SqlitePassStore(file, { readonly: true });
      let n = 0;
      for (const _ of store.db.prepare('SELECT rule FROM passes').iterate()) n++;
      globalThis.keep = [store, n];
    }
    gc();
    process.stdout.write(String(process.memoryUsage().rss));`;
  const r = spawnSync(
    process.execPath,
    ['--expose-gc', '--input-type=module', '-e', script, dbFile ?? 'none'],
    {
      encoding: 'utf8',
    },
  );
  const rss = Number(r.stdout);
  if (r.status !== 0 || !Number.isFinite(rss) || rss <= 0) {
    log(`fresh-process RSS probe failed: ${(r.stderr ?? '').trim().split('\n').pop() ?? ''}`);
    return undefined;
  }
  return rss / MIB;
}

function sorted(samples: Float64Array): Float64Array {
  return samples.slice().sort();
}

/** Generates the snapshot and writes it as JSON; the generated objects are garbage once this returns. */
function writeSnapshot(file: string): Uint8Array {
  log(`generating ${PASSES} passes`);
  const generated = generateSnapshot(PASSES, NOW, SEED);
  writeFileSync(file, JSON.stringify(generated.snapshot));
  return generated.pairs;
}

/** Imports a generated 100k-pass snapshot (figures import.100k*); returns each pass's credential pair. */
function importPhase(store: SqlitePassStore, hasher: HmacHasher, dir: string): Uint8Array {
  const db = store.db;
  const snapshotFile = path.join(dir, 'snapshot.json');
  const pairs = writeSnapshot(snapshotFile);

  // Baseline: 100k plain rows, one transaction, same database.
  db.exec('CREATE TABLE bench_insert (id INTEGER PRIMARY KEY, name TEXT NOT NULL, n INTEGER NOT NULL)');
  const insertRow = db.prepare<[number, string, number]>(
    'INSERT INTO bench_insert (id, name, n) VALUES (?, ?, ?)',
  );
  const t = nowNs();
  db.transaction(() => {
    for (let i = 0; i < PASSES; i++) insertRow.run(i, `row-${i}`, i * 7);
  }).immediate();
  const insertS = (nowNs() - t) / 1e9;
  db.exec('DROP TABLE bench_insert');
  log(`sqlite.insert.100k ${insertS.toFixed(3)} s`);

  const text = readFileSync(snapshotFile, 'utf8');
  log(`snapshot file ${(text.length / MIB).toFixed(1)} MiB`);
  const t0 = nowNs();
  const snapshot = parseSnapshotShape(JSON.parse(text), snapshotFile);
  const t1 = nowNs();
  const report = importSnapshot(store, hasher, snapshot, {
    policy: { maxValidityMs: 366 * DAY },
    now: NOW,
  });
  const t2 = nowNs();
  if (report.added !== PASSES || report.rejected.length > 0) {
    throw new Error(
      `import did not add every pass: added ${report.added}, rejected ${report.rejected.length}` +
        (report.rejected[0] ? ` (first: ${report.rejected[0].reasons.join('; ')})` : ''),
    );
  }
  const importS = (t2 - t1) / 1e9;
  log(`import: parse ${((t1 - t0) / 1e6).toFixed(0)} ms, importSnapshot ${(importS * 1000).toFixed(0)} ms`);
  emit('import.100k', importS, 's', 'sqlite.insert.100k', insertS);
  emit('import.100k.parse+import', (t2 - t0) / 1e9, 's', 'sqlite.insert.100k', insertS);
  return pairs;
}

/**
 * `doorpass run` from spawn to "doorpass ready" with the 100k-pass database, against `doorpass --version`
 * (Node start-up and loading the CLI) as the baseline: startup.ready.100k.
 */
async function startupPhase(dir: string): Promise<void> {
  const cli = path.resolve(import.meta.dirname, '../src/cli/main.js');
  const keyFile = path.join(dir, 'bench.key');
  writeFileSync(keyFile, `${Buffer.alloc(32, 0x5a).toString('hex')}\n`, { mode: 0o600 });
  const configFile = path.join(dir, 'bench.yaml');
  writeFileSync(
    configFile,
    `site: { id: bench, timezone: ${ZONE} }\ndevice: { id: ${DEVICE} }\n` +
      `storage: { dir: ${JSON.stringify(dir)}, credentialKeyFile: ${JSON.stringify(keyFile)} }\n` +
      `doors: [ { id: lobby, relay: { type: log } } ]\ninputs: []\nlog: { level: info }\n`,
  );
  const time = (args: string[], until: RegExp | null): Promise<number> =>
    new Promise((resolve, reject) => {
      const t0 = nowNs();
      const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (until !== null && until.test(out)) {
          const ms = (nowNs() - t0) / 1e6;
          child.kill('SIGTERM');
          resolve(ms);
        }
      });
      child.on('error', reject);
      child.on('exit', () => {
        if (until === null) resolve((nowNs() - t0) / 1e6);
        else if (!until.test(out)) reject(new Error(`doorpass run exited before ready: ${out}`));
      });
    });
  const ready: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < 5; i++) {
    bare.push(await time(['--version'], null));
    ready.push(await time(['run', '--config', configFile], /doorpass ready/));
  }
  const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] ?? 0;
  emit('startup.ready.100k', median(ready), 'ms', 'startup.cli_version', median(bare));
}

async function main(): Promise<void> {
  const started = nowNs();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'doorpass-bench-'));
  log(`temp dir ${dir}`);
  let store: SqlitePassStore | undefined;
  try {
    store = new SqlitePassStore(path.join(dir, 'state'), { synchronous: 'FULL' });
    const db = store.db;
    const hasher = new HmacHasher(Buffer.alloc(32, 0x5a));
    const zone = new Zone(ZONE);
    const access = new AccessControl(store, hasher, zone, DEVICE);
    // Touch the code paths once on the empty database, so rss.empty includes the loaded code.
    access.evaluate({ type: 'pin', value: '0000', door: 'lobby', now: NOW });
    const rssEmpty = rssMiB();
    log(`rss.empty ${rssEmpty.toFixed(1)} MiB`);

    // ---- 1. import ------------------------------------------------------------------------------------
    // In its own function, so the snapshot (objects and text) is unreachable once it returns.
    const pairs = importPhase(store, hasher, dir);

    // ---- 2. memory ------------------------------------------------------------------------------------
    // The parsed snapshot is garbage now; what stays is the open database (and a 100 KB array of pass kinds).
    const rss100k = rssMiB();
    const heap = process.memoryUsage();
    log(
      `rss.100k ${rss100k.toFixed(1)} MiB (V8 heap used ${(heap.heapUsed / MIB).toFixed(1)} of ` +
        `${(heap.heapTotal / MIB).toFixed(1)} MiB, external ${(heap.external / MIB).toFixed(1)} MiB)`,
    );
    emit('rss.100k', rss100k, 'MiB', 'rss.empty', rssEmpty);
    const freshEmpty = freshProcessRssMiB(null);
    const fresh100k = freshProcessRssMiB(store.dir);
    if (freshEmpty !== undefined && fresh100k !== undefined) {
      log(
        `diagnostic: a fresh process is ${freshEmpty.toFixed(1)} MiB, ${fresh100k.toFixed(1)} MiB with the ` +
          `100k db open and every pass read once (rss.100k - rss.empty beyond that is import garbage kept by the allocator)`,
      );
    }

    // ---- 3. the decision --------------------------------------------------------------------------------
    const rng = new Prng(SEED ^ 0x5eed);
    const draw = (): SampleCredential => {
      if (rng.chance(UNKNOWN_SHARE)) return unknownCredential(rng);
      const i = rng.int(0, pairs.length - 1);
      const c = rng.pick(credentialsOf(pairs[i] as Pair, i));
      // Some card readers send fixed-width numbers with leading zeros.
      return c.type === 'card' && rng.chance(0.2) ? { type: 'card', value: `00${c.value}` } : c;
    };
    const doors = ['lobby', 'lobby', 'lobby', 'garage'];
    const attempts: AccessAttempt[] = [];
    for (let i = 0; i < DECISION_WARMUP + DECISION_SAMPLES; i++) {
      const c = draw();
      attempts.push({ type: c.type, value: c.value, door: rng.pick(doors), now: NOW + i * 10 });
    }
    // The baseline looks up the same credentials, hashed beforehand: the bare indexed read.
    const hashes = attempts.map((a) => hasher.hash(a.type, normalizeCredential(a.type, a.value)));
    const lookup = db.prepare<[Uint8Array], { pass_id: string }>(
      'SELECT pass_id FROM credentials WHERE hash = ?',
    );

    log('decision warm-up');
    let found = 0;
    const outcomes = new Map<string, number>();
    for (let i = 0; i < DECISION_WARMUP; i++) {
      if (lookup.get(hashes[i] as Uint8Array) !== undefined) found++;
      access.evaluate(attempts[i] as AccessAttempt);
    }

    // Per-call latency, lookup and decision interleaved in blocks so drift (page cache, CPU frequency,
    // neighbours) hits both alike.
    const lookupNs = new Float64Array(DECISION_SAMPLES);
    const decisionNs = new Float64Array(DECISION_SAMPLES);
    const BLOCK = 5_000;
    log(`decision: ${DECISION_SAMPLES} timed calls each`);
    for (let start = 0; start < DECISION_SAMPLES; start += BLOCK) {
      const end = Math.min(DECISION_SAMPLES, start + BLOCK);
      for (let i = start; i < end; i++) {
        const h = hashes[DECISION_WARMUP + i] as Uint8Array;
        const a = nowNs();
        const row = lookup.get(h);
        lookupNs[i] = nowNs() - a;
        if (row !== undefined) found++;
      }
      for (let i = start; i < end; i++) {
        const attempt = attempts[DECISION_WARMUP + i] as AccessAttempt;
        const a = nowNs();
        const d: Decision = access.evaluate(attempt);
        decisionNs[i] = nowNs() - a;
        const key = d.granted ? 'granted' : d.reason;
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
      }
    }
    log(`decision outcomes ${JSON.stringify(Object.fromEntries(outcomes))}; lookups found ${found}`);

    // Throughput: tight loops over the same samples, no per-call clock.
    let sink = 0;
    let t = nowNs();
    for (let i = DECISION_WARMUP; i < attempts.length; i++) {
      if (lookup.get(hashes[i] as Uint8Array) !== undefined) sink++;
    }
    const lookupPerS = DECISION_SAMPLES / ((nowNs() - t) / 1e9);
    t = nowNs();
    for (let i = DECISION_WARMUP; i < attempts.length; i++) {
      if (access.evaluate(attempts[i] as AccessAttempt).granted) sink++;
    }
    const decisionPerS = DECISION_SAMPLES / ((nowNs() - t) / 1e9);
    log(`throughput loops done (${sink})`);

    const lookupSorted = sorted(lookupNs);
    const decisionSorted = sorted(decisionNs);
    emit(
      'decision.p50',
      percentile(decisionSorted, 50) / 1e3,
      'us',
      'sqlite.lookup.p50',
      percentile(lookupSorted, 50) / 1e3,
    );
    emit(
      'decision.p99',
      percentile(decisionSorted, 99) / 1e3,
      'us',
      'sqlite.lookup.p99',
      percentile(lookupSorted, 99) / 1e3,
    );
    emit('decision.per_second', decisionPerS, 'ops/s', 'sqlite.lookup.per_second', lookupPerS);

    // ---- 4. the full access attempt (durable) ------------------------------------------------------------
    db.exec('CREATE TABLE bench_commit (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, body TEXT NOT NULL)');
    const commitRow = db.prepare<[number, string]>('INSERT INTO bench_commit (at, body) VALUES (?, ?)');
    const commitOne = db.transaction((at: number) => commitRow.run(at, `commit ${at}`));
    const accessAttempts = attempts.slice(0, ACCESS_WARMUP + ACCESS_SAMPLES);
    const accessNs = new Float64Array(ACCESS_SAMPLES);
    const commitNs = new Float64Array(ACCESS_SAMPLES);
    const accessOutcomes = new Map<string, number>();
    log(`access: ${ACCESS_SAMPLES} durable attempts, each beside one bare commit`);
    for (let i = 0; i < accessAttempts.length; i++) {
      const attempt = { ...(accessAttempts[i] as AccessAttempt), now: NOW + 3_600_000 + i * 1000 };
      // Alternate which goes first so neither always follows the other's fsync.
      const accessFirst = i % 2 === 0;
      let commitT = 0;
      if (!accessFirst) {
        const a = nowNs();
        commitOne.immediate(attempt.now);
        commitT = nowNs() - a;
      }
      const a = nowNs();
      const outcome = access.attempt(attempt);
      const accessT = nowNs() - a;
      if (accessFirst) {
        const b = nowNs();
        commitOne.immediate(attempt.now);
        commitT = nowNs() - b;
      }
      if (i >= ACCESS_WARMUP) {
        accessNs[i - ACCESS_WARMUP] = accessT;
        commitNs[i - ACCESS_WARMUP] = commitT;
        const key = outcome.decision.granted ? 'granted' : outcome.decision.reason;
        accessOutcomes.set(key, (accessOutcomes.get(key) ?? 0) + 1);
      }
    }
    log(`access outcomes ${JSON.stringify(Object.fromEntries(accessOutcomes))}`);
    const accessSorted = sorted(accessNs);
    const commitSorted = sorted(commitNs);
    emit(
      'access.p50',
      percentile(accessSorted, 50) / 1e3,
      'us',
      'commit.p50',
      percentile(commitSorted, 50) / 1e3,
    );
    emit(
      'access.p99',
      percentile(accessSorted, 99) / 1e3,
      'us',
      'commit.p99',
      percentile(commitSorted, 99) / 1e3,
    );
    log(`events journalled: ${store.counts().events}`);
    await startupPhase(dir);
  } finally {
    store?.close();
    rmSync(dir, { recursive: true, force: true });
    log(`done in ${((nowNs() - started) / 1e9).toFixed(1)} s; removed ${dir}`);
  }
}

await main();
await benchBridge();
await benchOsdp();
await benchMqtt();
await benchQr();
benchBruteForce();
