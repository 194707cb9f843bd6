/**
 * `npm run soak`: the daemon (startDaemon, in this process) under sustained load from several inputs for
 * SOAK_SECONDS (default 600) at SOAK_RATE credential checks per second (default 200), then a broker outage
 * of SOAK_OUTAGE_EVENTS events (default 100,000; 0 skips it) drained once the broker is back.
 *
 * Inputs: two serial bridges on socat ptys (a keypad at the lobby typing PINs key by key, a Wiegand reader
 * at the garage), played by this process, and the console input (an "attacker" with many unknown
 * credentials, so lockouts happen). A mix of grants, denials (unknown, wrong door, revoked, expired) and
 * lockouts. Events are uploaded to a local Mosquitto throughout.
 *
 * Prints JSON figure lines like `npm run bench` (stdout; progress on stderr) and a final verdict line:
 *
 *   soak.decision.p50/p99      vs soak.commit.p50/p99  (a bare one-row durable commit on the same disk)
 *   soak.checks_per_second     vs soak.target_per_second
 *   soak.rss.middle/end        vs soak.rss.start       (after a full GC)
 *   soak.heap.middle/end       vs soak.heap.start
 *   soak.outage.drain_events_per_second vs soak.outage.fill_events_per_second
 *   {"verdict":"pass"|"fail", ...}
 *
 * Decision time is AccessPipeline.handle (or .deny for a locked-out input): decide, count, journal, commit.
 */
import { PassThrough, Writable } from 'node:stream';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SerialPort } from 'serialport';
import { createLogger, openSite, startDaemon } from '../src/app/compose.js';
import { loadConfig } from '../src/app/config.js';
import { importSnapshot } from '../src/app/import.js';
import type { Decision } from '../src/core/decide.js';
import { Deframer, encodeFrame, nextSeq, type BridgeMessage } from '../src/protocol/bridge.js';
import { encodeWiegand } from '../src/protocol/wiegand.js';
import { keygen } from '../src/tools/cloud.js';
import { haveMosquitto, startBroker, type Broker } from '../test/helpers/mosquitto.js';
import { halves, runOutage, sampleMemory, type MemorySample } from '../test/helpers/outage.js';
import { haveSocat, ptyPair, type PtyPair } from '../test/helpers/pty.js';
import { emit, log, nowNs, percentile, Prng } from './stats.js';
import { NO_NOTIFIER } from '../src/adapters/sd-notify.js';

const SECONDS = Number(process.env['SOAK_SECONDS'] ?? '600');
const RATE = Number(process.env['SOAK_RATE'] ?? '200');
const OUTAGE_EVENTS = Number(process.env['SOAK_OUTAGE_EVENTS'] ?? '100000');
const SEED = 0x50a4;
const DAY = 86_400_000;
/** Flat: after a full GC, the second half's mean exceeds the first half's by less than this. */
const FLAT_HEAP_MIB = 8;
const FLAT_RSS_MIB = 48;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Plays a bridge microcontroller on the device end of a pty: ACKs commands, counts RELAY pulses. */
class BridgePlayer {
  /** RELAY frames that open (retransmissions included). */
  relays = 0;
  private seq = 0;
  private readonly deframer = new Deframer({ direction: 'host->bridge' });
  private heartbeat: NodeJS.Timeout | undefined;

  private constructor(private readonly port: SerialPort) {
    port.on('error', (err: Error) => log(`bridge player: ${err.message}`));
    port.on('data', (chunk: Buffer) => {
      for (const r of this.deframer.push(new Uint8Array(chunk))) {
        if (r.kind !== 'frame') continue;
        this.send({ type: 'ack', seq: r.seq });
        if (r.message.type === 'relay' && r.message.ms > 0) this.relays++;
      }
    });
  }

  static async open(p: string): Promise<BridgePlayer> {
    const port = new SerialPort({ path: p, baudRate: 115200, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
    return new BridgePlayer(port);
  }

  boot(): void {
    this.port.write(Buffer.from([0]));
    this.send({ type: 'hello', protocol: 1, firmware: 'soak' });
    this.heartbeat = setInterval(() => this.send({ type: 'heartbeat', uptimeMs: 1000 }), 1000);
  }

  send(m: BridgeMessage): void {
    if (!this.port.isOpen) return;
    this.port.write(Buffer.from(encodeFrame(this.seq, m)));
    this.seq = nextSeq(this.seq);
  }

  close(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    return new Promise((resolve) => (this.port.isOpen ? this.port.close(() => resolve()) : resolve()));
  }
}

/** A bare one-row durable commit (WAL, synchronous=FULL), the baseline of a decision's commit. */
function commitBaseline(dir: string): Float64Array {
  const db = new Database(path.join(dir, 'baseline.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, body TEXT NOT NULL)');
  const ins = db.prepare<[number, string]>('INSERT INTO t (at, body) VALUES (?, ?)');
  const one = db.transaction((at: number) => ins.run(at, `commit ${at}`));
  const n = 1000;
  const out = new Float64Array(n);
  for (let i = 0; i < n + 50; i++) {
    const a = nowNs();
    one.immediate(i);
    if (i >= 50) out[i - 50] = nowNs() - a;
  }
  db.close();
  return out.sort();
}

function passDoc(id: string, credentials: { type: string; value: string }[], extra: Record<string, unknown>) {
  const now = Date.now();
  return {
    id,
    version: 1,
    kind: 'visitor',
    name: id,
    issuer: { id: 'res-1', name: 'Dana' },
    credentials,
    doors: '*',
    validFrom: new Date(now - DAY).toISOString(),
    validUntil: new Date(now + 30 * DAY).toISOString(),
    repeat: { mode: 'never' },
    ...extra,
  };
}

async function main(): Promise<void> {
  const started = nowNs();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'doorpass-soak-'));
  const closers: (() => Promise<void> | void)[] = [() => rmSync(dir, { recursive: true, force: true })];
  const failures: string[] = [];
  try {
    log(`soak: ${SECONDS} s at ${RATE} checks/s; temp dir ${dir}`);
    const commit = commitBaseline(dir);

    let broker: Broker | undefined;
    if (haveMosquitto()) {
      broker = await startBroker();
      const b = broker;
      closers.unshift(() => b.close());
    } else log('mosquitto is not installed: no event upload during the soak');
    const ptys: PtyPair[] = [];
    if (haveSocat()) {
      for (let i = 0; i < 2; i++) {
        const p = await ptyPair();
        ptys.push(p);
        closers.unshift(() => p.close());
      }
    } else log('socat is not installed: console input only');
    const [lobbyPty, garagePty] = ptys;

    const keys = keygen(path.join(dir, 'keys'));
    const configFile = path.join(dir, 'doorpass.yaml');
    const relay = (pty: PtyPair | undefined, channel: number): string =>
      pty === undefined
        ? '{ type: log }'
        : `{ type: bridge, path: ${JSON.stringify(pty.host)}, channel: ${channel} }`;
    writeFileSync(
      configFile,
      `site: { id: soak, timezone: Europe/Berlin, maxPassDays: 366 }
device: { id: soak-door }
storage: { dir: ${JSON.stringify(path.join(dir, 'state'))} }
status: { socket: ${JSON.stringify(path.join(dir, 'status.sock'))} }
doors:
  - { id: lobby, relay: ${relay(lobbyPty, 1)} }
  - { id: garage, relay: ${relay(garagePty, 1)} }
inputs:
  - { type: console, door: lobby }
${lobbyPty ? `  - { type: bridge, path: ${JSON.stringify(lobbyPty.host)}, door: lobby }\n` : ''}${garagePty ? `  - { type: bridge, path: ${JSON.stringify(garagePty.host)}, door: garage, wiegand: { format: h10301 } }\n` : ''}lockout: { maxFailures: 10, windowMs: 1000, lockMs: 1000, maxLockMs: 2000, resetAfterMs: 10000, maxConsecutive: 100 }
${broker ? `mqtt: { url: ${JSON.stringify(broker.url)} }\ncloud: { publicKeyFile: ${JSON.stringify(keys.publicFile)} }\n` : ''}log: { level: info }
`,
    );
    const loaded = loadConfig(configFile);

    // Passes: residents (PINs), couriers (cards, garage only), a revoked and an expired pass.
    const residents = 500;
    const passes: unknown[] = [];
    for (let i = 0; i < residents; i++)
      passes.push(passDoc(`r${i}`, [{ type: 'pin', value: String(100000 + i) }], {}));
    for (let i = 0; i < residents; i++)
      passes.push(
        passDoc(
          `c${i}`,
          [
            { type: 'card', value: String(7 * 65536 + i) },
            { type: 'qr', value: `QR-${i}` },
          ],
          {
            doors: ['garage'],
          },
        ),
      );
    passes.push(passDoc('gone', [{ type: 'pin', value: '999999' }], { revoked: true }));
    passes.push(
      passDoc('old', [{ type: 'pin', value: '888888' }], {
        validFrom: new Date(Date.now() - 10 * DAY).toISOString(),
        validUntil: new Date(Date.now() - DAY).toISOString(),
      }),
    );
    const site = openSite(loaded);
    const report = importSnapshot(
      site.store,
      site.hasher,
      { passes, accessGroups: [] },
      { policy: { maxValidityMs: 366 * DAY }, now: Date.now() },
    );
    site.close();
    log(`imported ${report.added} passes (${report.rejected.length} rejected)`);

    // The daemon, logging at info to nowhere (each decision is still formatted and written).
    const sink = new Writable({ write: (_c, _e, cb) => cb() });
    const stdin = new PassThrough();
    const daemon = startDaemon(loaded, {
      logger: createLogger('info', sink),
      stdin,
      notifier: NO_NOTIFIER,
      version: 'soak',
    });
    closers.unshift(() => daemon.stop());

    // Decision time: every decision goes through the pipeline's handle() or deny().
    const capacity = Math.ceil(RATE * SECONDS * 1.1) + 10_000;
    const decisionNs = new Float64Array(capacity);
    let decisions = 0;
    let lastDecisionAt = 0;
    const outcomes = new Map<string, number>();
    const pipeline = daemon.pipeline;
    const time = (f: () => Decision): Decision => {
      const a = nowNs();
      const d = f();
      if (decisions < capacity) decisionNs[decisions] = nowNs() - a;
      decisions++;
      lastDecisionAt = Date.now();
      const key = d.granted ? 'granted' : (d.reason ?? 'denied');
      outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
      return d;
    };
    const handle = pipeline.handle.bind(pipeline);
    const deny = pipeline.deny.bind(pipeline);
    pipeline.handle = (c) => time(() => handle(c));
    pipeline.deny = (c, r) => time(() => deny(c, r));

    const players: BridgePlayer[] = [];
    for (const p of ptys) {
      const player = await BridgePlayer.open(p.device);
      players.push(player);
      closers.unshift(() => player.close());
    }
    await sleep(300); // the daemon opens its ports and pings
    for (const p of players) p.boot();
    await sleep(500);

    // ---- load -------------------------------------------------------------------------------------------
    const rng = new Prng(SEED);
    const [lobby, garage] = players;
    const keypad = (): void => {
      const r = rng.next();
      const pin =
        r < 0.85
          ? String(100000 + rng.int(0, residents - 1))
          : r < 0.9
            ? '999999'
            : r < 0.95
              ? '888888'
              : rng.digits(6);
      for (const k of `${pin}#`) lobby?.send({ type: 'key', key: k as '0' });
    };
    const card = (): void => {
      const r = rng.next();
      // Known cards (garage: granted), unknown cards.
      const n = r < 0.9 ? rng.int(0, residents - 1) : residents + rng.int(0, 60_000);
      const w = encodeWiegand('h10301', 7, n);
      garage?.send({ type: 'wiegand', bitCount: w.bitCount, data: w.data });
    };
    const consoleLine = (): void => {
      const r = rng.next();
      const line =
        r < 0.05
          ? `pin:${100000 + rng.int(0, residents - 1)}`
          : r < 0.1
            ? `qr:QR-${rng.int(0, residents - 1)}` // a garage pass at the lobby: wrong door
            : r < 0.15
              ? `card:${7 * 65536 + rng.int(0, residents - 1)}`
              : `pin:${rng.digits(6)}`; // guessing, until the input locks out
      stdin.write(`${line}\n`);
    };
    const sources = [
      ...(lobby ? [keypad] : []),
      ...(garage ? [card] : []),
      consoleLine,
      ...(lobby ? [] : [consoleLine]),
      ...(garage ? [] : [consoleLine]),
    ];

    const memory: MemorySample[] = [sampleMemory(0)];
    const sampleEvery = Math.max(1, Math.floor(SECONDS / 40));
    let sent = 0;
    const t0 = Date.now();
    const end = t0 + SECONDS * 1000;
    let nextSample = t0 + sampleEvery * 1000;
    let nextProgress = t0 + 30_000;
    while (Date.now() < end) {
      const due = Math.floor(((Date.now() - t0) / 1000) * RATE);
      while (sent < due) {
        (sources[sent % sources.length] as () => void)();
        sent++;
      }
      if (Date.now() >= nextSample) {
        memory.push(sampleMemory(sent));
        nextSample += sampleEvery * 1000;
      }
      if (Date.now() >= nextProgress) {
        const m = memory.at(-1);
        log(
          `${Math.round((Date.now() - t0) / 1000)} s: ${sent} sent, ${decisions} decided, ` +
            `rss ${m?.rssMiB.toFixed(1)} MiB, heap ${m?.heapMiB.toFixed(1)} MiB, outbox ${daemon.status().outbox}`,
        );
        nextProgress += 30_000;
      }
      await sleep(5);
    }
    // Exactly RATE x SECONDS attempts are offered; the last ones are in flight (pty, readline).
    while (sent < RATE * SECONDS) {
      (sources[sent % sources.length] as () => void)();
      sent++;
    }
    for (let i = 0; i < 300 && decisions < sent; i++) await sleep(10);
    const elapsedS = Math.max(SECONDS, (lastDecisionAt - t0) / 1000);
    memory.push(sampleMemory(sent));
    await sleep(300);
    const relayFrames = players.reduce((s, p) => s + p.relays, 0);
    const st = daemon.localStatus();
    log(
      `outcomes ${JSON.stringify(Object.fromEntries(outcomes))}; relay frames ${relayFrames}; ` +
        `outbox depth ${st.outbox.depth}, uploaded ${st.outbox.uploaded}, dropped ${st.outbox.dropped}`,
    );
    await daemon.stop();

    const sorted = decisionNs.slice(0, Math.min(decisions, capacity)).sort();
    const p50 = percentile(sorted, 50) / 1e3;
    const p99 = percentile(sorted, 99) / 1e3;
    emit('soak.decision.p50', p50, 'us', 'soak.commit.p50', percentile(commit, 50) / 1e3);
    emit('soak.decision.p99', p99, 'us', 'soak.commit.p99', percentile(commit, 99) / 1e3);
    emit('soak.checks_per_second', decisions / elapsedS, 'checks/s', 'soak.target_per_second', RATE);
    const first = memory[0] as MemorySample;
    const middle = memory[Math.floor(memory.length / 2)] as MemorySample;
    const last = memory.at(-1) as MemorySample;
    emit('soak.rss.middle', middle.rssMiB, 'MiB', 'soak.rss.start', first.rssMiB);
    emit('soak.rss.end', last.rssMiB, 'MiB', 'soak.rss.start', first.rssMiB);
    emit('soak.heap.middle', middle.heapMiB, 'MiB', 'soak.heap.start', first.heapMiB);
    emit('soak.heap.end', last.heapMiB, 'MiB', 'soak.heap.start', first.heapMiB);
    const [heap1, heap2] = halves(memory, 'heapMiB');
    const [rss1, rss2] = halves(memory, 'rssMiB');
    const memoryFlat = heap2 - heap1 < FLAT_HEAP_MIB && rss2 - rss1 < FLAT_RSS_MIB;
    if (!memoryFlat)
      failures.push(
        `memory grew: heap ${heap1.toFixed(1)} -> ${heap2.toFixed(1)}, rss ${rss1.toFixed(1)} -> ${rss2.toFixed(1)} MiB`,
      );
    if (decisions < sent) failures.push(`${sent - decisions} of ${sent} attempts not decided`);
    if (decisions / elapsedS < RATE * 0.95)
      failures.push(`rate ${(decisions / elapsedS).toFixed(1)}/s below ${RATE}`);
    for (const want of ['granted', 'unknown_credential', 'locked_out']) {
      if ((outcomes.get(want) ?? 0) === 0) failures.push(`no ${want} decision in the mix`);
    }
    if (broker && st.outbox.depth > 2 * RATE)
      failures.push(`outbox not keeping up: depth ${st.outbox.depth}`);

    // ---- outage ------------------------------------------------------------------------------------------
    let outage: Record<string, unknown> | undefined;
    if (OUTAGE_EVENTS > 0 && broker) {
      log(`outage: ${OUTAGE_EVENTS} events with the broker down`);
      const fill0 = nowNs();
      const r = await runOutage({ events: OUTAGE_EVENTS, maxOutbox: OUTAGE_EVENTS * 2, progress: log });
      const fillS = (nowNs() - fill0) / 1e9 - r.drain.ms / 1000;
      emit(
        'soak.outage.drain_events_per_second',
        r.drain.perSecond,
        'events/s',
        'soak.outage.fill_events_per_second',
        OUTAGE_EVENTS / Math.max(0.001, fillS),
      );
      const [oh1, oh2] = halves(r.memory, 'heapMiB');
      const [or1, or2] = halves(r.memory, 'rssMiB');
      emit('soak.outage.heap.second_half', oh2, 'MiB', 'soak.outage.heap.first_half', oh1);
      emit('soak.outage.rss.second_half', or2, 'MiB', 'soak.outage.rss.first_half', or1);
      const complete = r.wire.accessEvents === OUTAGE_EVENTS && r.wire.inOrder && r.wire.matchesNewest;
      if (!complete) failures.push(`outage: ${r.wire.accessEvents} of ${OUTAGE_EVENTS} arrived in order`);
      outage = {
        events: OUTAGE_EVENTS,
        arrivedInOrder: complete,
        drainMs: r.drain.ms,
        wireDuplicates: r.wire.duplicates,
      };
    }

    const verdict = {
      verdict: failures.length === 0 ? 'pass' : 'fail',
      seconds: SECONDS,
      targetRate: RATE,
      sent,
      decisions,
      outcomes: Object.fromEntries(outcomes),
      relayFrames,
      decisionP50Us: Math.round(p50),
      decisionP99Us: Math.round(p99),
      memory: {
        flat: memoryFlat,
        heapMiB: {
          start: +first.heapMiB.toFixed(1),
          middle: +middle.heapMiB.toFixed(1),
          end: +last.heapMiB.toFixed(1),
        },
        rssMiB: {
          start: +first.rssMiB.toFixed(1),
          middle: +middle.rssMiB.toFixed(1),
          end: +last.rssMiB.toFixed(1),
        },
        halvesHeapMiB: [+heap1.toFixed(1), +heap2.toFixed(1)],
        halvesRssMiB: [+rss1.toFixed(1), +rss2.toFixed(1)],
      },
      uploaded: st.outbox.uploaded,
      ...(outage && { outage }),
      failures,
    };
    process.stdout.write(`${JSON.stringify(verdict)}\n`);
    if (failures.length > 0) process.exitCode = 1;
  } finally {
    for (const c of closers) {
      try {
        await c();
      } catch (err) {
        log(`cleanup: ${(err as Error).message}`);
      }
    }
    log(`done in ${((nowNs() - started) / 1e9).toFixed(1)} s`);
  }
}

await main();
