/**
 * A broker, a site with a console input and the cloud stand-in's keys, and the daemon's log read as JSON:
 * shared by the integration tests of large snapshots and imports.
 */
import type { Test } from 'tap';
import Database from 'better-sqlite3';
import { statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { readStatus } from '../../src/adapters/status-socket.js';
import { loadConfig, statusSocketPath } from '../../src/app/config.js';
import { topics } from '../../src/protocol/mqtt.js';
import { keygen, sendSnapshot, type CloudConnection } from '../../src/tools/cloud.js';
import { scanDir, type Secrets } from './at-rest.js';
import { runCli, startDaemon } from './cli.js';
import { tempSite, type Json } from './fixtures.js';
import { collect, startBroker, type Broker } from './mosquitto.js';

export const SITE = 'tower-a';
export const DEVICE = 'panel-west';
export const T = topics(SITE, DEVICE);
export const BIG = 100_000;
export const OLD_PIN = '314159';
export const now = Date.now();
export const live = {
  validFrom: new Date(now - 3_600_000).toISOString(),
  validUntil: new Date(now + 3_600_000).toISOString(),
};

export async function until(
  cond: () => boolean | Promise<boolean>,
  what: string,
  ms = 60_000,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function rig(t: Test) {
  const broker: Broker = await startBroker();
  const site = tempSite((dir) => {
    keygen(path.join(dir, 'keys'));
    return `site: { id: ${SITE}, timezone: America/New_York }
device: { id: ${DEVICE} }
storage: { dir: ${JSON.stringify(path.join(dir, 'state'))} }
doors: [ { id: lobby, relay: { type: log } } ]
inputs: [ { type: console, door: lobby } ]
mqtt: { url: ${JSON.stringify(broker.url)} }
cloud: { publicKeyFile: ${JSON.stringify(path.join(dir, 'keys', 'cloud.pub.pem'))} }
`;
  });
  const cloud: CloudConnection = {
    url: broker.url,
    site: SITE,
    keyFile: path.join(site.dir, 'keys', 'cloud.key.pem'),
    stateFile: path.join(site.dir, 'cloud-state.json'),
  };
  const stateDir = path.join(site.dir, 'state');
  /** Sets the stand-in's full state (seq and passes) and sends it as a snapshot; returns the parts count. */
  const snapshot = (seq: number, passes: readonly Json[]): Promise<number> => {
    const state = {
      seq,
      passes: Object.fromEntries(passes.map((p) => [String(p['id']), p])),
      accessGroups: {},
    };
    writeFileSync(cloud.stateFile, JSON.stringify(state));
    return sendSnapshot(cloud, DEVICE);
  };
  const check = async (pin: string): Promise<Record<string, unknown>> => {
    const r = await runCli([
      'check',
      '--door',
      'lobby',
      '--pin',
      pin,
      '--dry-run',
      '--config',
      site.configFile,
    ]);
    return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
  };
  // The daemon asks for a resync once its subscriptions are granted: until then a publish would be lost.
  const syncRequests = await collect(broker.url, T.syncRequest);
  /** Starts `doorpass run` and resolves once it is subscribed (its sync request arrived). */
  const start = async (): Promise<Daemon> => {
    const before = syncRequests.messages.length;
    const daemon = await startDaemon(site.configFile);
    await until(() => syncRequests.messages.length > before, 'the daemon subscribed (its sync request)');
    return daemon;
  };
  t.teardown(async () => {
    await syncRequests.close();
    await broker.close();
    site.cleanup();
  });
  return { broker, site, cloud, stateDir, snapshot, check, start };
}

export type Daemon = Awaited<ReturnType<typeof startDaemon>>;

export function msgs(d: Daemon): { msg: string; line: Json }[] {
  return d.lines.flatMap((l) => {
    try {
      const j = JSON.parse(l) as Json;
      return [{ msg: String(j['msg']), line: j }];
    } catch {
      return [];
    }
  });
}

/** Types `pin` on the daemon's console until stop() and counts the decisions logged for it. */
export function typist(d: Daemon, pins: () => string, everyMs = 15) {
  let running = true;
  const loop = (async () => {
    while (running && d.child.exitCode === null && d.child.stdin.writable) {
      d.child.stdin.write(`${pins()}\n`);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

export function assertNoSecrets(t: Test, dir: string, secrets: Secrets, when: string): void {
  const { files, hits } = scanDir(dir, secrets);
  t.ok(
    files.length >= 2,
    `${when}: scanned ${files.length} files (${files.map((f) => path.basename(f)).join(', ')})`,
  );
  t.same(hits.slice(0, 10), [], `${when}: no PIN, card number or QR text in any file under storage.dir`);
}

export function applied(d: Daemon, seq: number): boolean {
  return msgs(d).some((m) => m.msg === 'snapshot applied' && m.line['seq'] === seq);
}

export function decisions(d: Daemon): { msg: string; line: Json }[] {
  return msgs(d).filter((m) => m.msg === 'access granted' || m.msg === 'access denied');
}

/** The log entries after the first `from` (with seq) and before the first `to` (with seq) after it. */
export function between(d: Daemon, from: string, seq: number, to: string): { msg: string; line: Json }[] {
  const all = msgs(d);
  const i = all.findIndex((m) => m.msg === from && m.line['seq'] === seq);
  const j = all.findIndex((m, k) => k > i && m.msg === to && m.line['seq'] === seq);
  return i < 0 || j < 0 ? [] : all.slice(i + 1, j);
}

export function walSize(dir: string): number {
  try {
    return statSync(path.join(dir, 'cache.db-wal')).size;
  } catch {
    return 0;
  }
}

/** Tables of a stage (of process `pid` if given), or swapped out, still in cache.db. */
export function stageTables(dir: string, pid?: number): number {
  const db = new Database(path.join(dir, 'cache.db'), { readonly: true, fileMustExist: true });
  try {
    return (
      db
        .prepare<[string], { n: number }>(
          "SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table' AND name GLOB ?",
        )
        .get(pid === undefined ? '*_p*x*' : `*_p${pid}x*`)?.n ?? 0
    );
  } finally {
    db.close();
  }
}

/**
 * Asks the daemon for its status over its socket (as `doorpass status` does, with its 3 s answer timeout)
 * again and again until stop(); counts the answers and the requests that got none.
 */
export function statusPoller(configFile: string) {
  const { config } = loadConfig(configFile);
  const socket = statusSocketPath(config, process.env, true);
  let running = true;
  const result = { answered: 0, unanswered: [] as string[] };
  const loop = (async () => {
    while (running) {
      try {
        await readStatus(socket);
        result.answered++;
      } catch (e) {
        result.unanswered.push((e as Error).message);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return result;
    },
  };
}
