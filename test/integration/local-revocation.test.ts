/**
 * Issue 13, item 6, the way it happens on a site: a running `doorpass run` (subprocess, console input) synced
 * through a real Mosquitto broker by the cloud stand-in; an operator runs `doorpass passes revoke` (another
 * process) for a fired employee; the SD card then damages cache.db; the daemon restarts, rebuilds the cache
 * and the cloud answers with a full snapshot that still holds the pass (the cloud never heard of the local
 * revocation). The card must stay out, and the cloud must receive the `pass.revoked` event exactly once.
 */
import t from 'tap';
import { closeSync, openSync, readdirSync, writeSync } from 'node:fs';
import path from 'node:path';
import { topics } from '../../src/protocol/mqtt.js';
import { keygen, publishDelta, sendSnapshot, type CloudConnection } from '../../src/tools/cloud.js';
import { runCli, startDaemon } from '../helpers/cli.js';
import { pass, tempSite } from '../helpers/fixtures.js';
import { collect, haveMosquitto, startBroker } from '../helpers/mosquitto.js';

const SITE = 'tower-a';
const DEVICE = 'panel-west';
const T = topics(SITE, DEVICE);

const now = Date.now();
const live = {
  validFrom: new Date(now - 3_600_000).toISOString(),
  validUntil: new Date(now + 30 * 86_400_000).toISOString(),
};

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

type Daemon = Awaited<ReturnType<typeof startDaemon>>;

/** Types `line` at the daemon's console and returns the decision it logs for it. */
async function typeAt(d: Daemon, line: string): Promise<{ granted: boolean; reason: string | null }> {
  const before = d.lines.length;
  d.child.stdin.write(`${line}\n`);
  let found: Record<string, unknown> | undefined;
  await until(() => {
    for (const l of d.lines.slice(before)) {
      const j = JSON.parse(l) as Record<string, unknown>;
      if (j.msg === 'access granted' || j.msg === 'access denied') found = j;
    }
    return found !== undefined;
  }, `a decision for ${line}`);
  return { granted: found?.granted === true, reason: (found?.reason as string | null) ?? null };
}

async function stop(d: Daemon): Promise<void> {
  if (d.child.exitCode !== null) return;
  const exited = new Promise((r) => d.child.once('exit', r));
  d.child.kill('SIGTERM');
  await exited;
}

t.test(
  'a locally revoked card stays out after a corrupt cache is rebuilt from the cloud snapshot',
  { skip: !haveMosquitto() && 'mosquitto is not installed (scripts/test.sh installs it)' },
  async (t) => {
    const broker = await startBroker();
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
    const events = await collect(broker.url, T.events);
    const daemons: Daemon[] = [];
    t.teardown(async () => {
      for (const d of daemons) d.child.kill('SIGKILL');
      await events.close();
      await broker.close();
      site.cleanup();
    });
    const c = ['--config', site.configFile];
    const check = async (pin: string): Promise<{ granted?: boolean; reason?: string | null }> => {
      const r = await runCli(['check', '--door', 'lobby', '--pin', pin, '--dry-run', ...c]);
      return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as { granted?: boolean };
    };
    const revokedEvents = (): Record<string, unknown>[] =>
      events.messages
        .flatMap((m) => (JSON.parse(m.payload.toString()) as { events: Record<string, unknown>[] }).events)
        .filter((e) => e.type === 'pass.revoked');

    const first = await startDaemon(site.configFile);
    daemons.push(first);
    await first.waitFor(/connected to the broker/);
    await publishDelta(cloud, {
      upsert: [
        pass({ id: 'fired', kind: 'staff', ...live, credentials: [{ type: 'pin', value: '424242' }] }),
        pass({ id: 'other', ...live, credentials: [{ type: 'pin', value: '515151' }] }),
      ],
      revoke: [],
    });
    await until(async () => (await check('424242')).granted === true, 'the delta applied');
    t.same(await typeAt(first, '424242'), { granted: true, reason: null }, 'the employee still works here');

    // The operator revokes the card on the panel while the daemon runs (another process).
    const rev = await runCli(['passes', 'revoke', 'fired', ...c]);
    t.equal(rev.code, 0, rev.stderr);
    t.match(rev.stdout, /revoked pass fired/);
    t.same(await typeAt(first, '424242'), { granted: false, reason: 'revoked' }, 'the daemon denies at once');
    await until(() => revokedEvents().length > 0, 'pass.revoked reaches the cloud');
    t.match(revokedEvents()[0], { type: 'pass.revoked', device: DEVICE, passId: 'fired', by: 'local' });
    await stop(first);

    // The SD card damages the cache while the panel is off.
    const state = path.join(site.dir, 'state');
    const fd = openSync(path.join(state, 'cache.db'), 'r+');
    writeSync(fd, Buffer.alloc(8192, 0xa5), 0, 8192, 0);
    closeSync(fd);

    const second = await startDaemon(site.configFile);
    daemons.push(second);
    await second.waitFor(/connected to the broker/);
    t.ok(
      readdirSync(state).some((f) => f.startsWith('cache.db.corrupt-')),
      'the cache was found corrupt, moved aside and rebuilt',
    );
    t.equal((await check('515151')).reason, 'unknown_credential', 'the rebuilt cache is empty');
    // The cloud's full snapshot: its state still has the pass, valid (it never heard of the revocation).
    await sendSnapshot(cloud, DEVICE);
    await until(async () => (await check('515151')).granted === true, 'the snapshot applied');
    t.same(await typeAt(second, '424242'), { granted: false, reason: 'revoked' }, 'the fired card stays out');
    t.same(await typeAt(second, '515151'), { granted: true, reason: null }, 'everyone else is served');
    t.equal((await check('424242')).reason, 'revoked');
    // Issue 13 item 7 at the same console: an empty card read is no card 0.
    t.same(await typeAt(second, 'card:'), { granted: false, reason: 'malformed_credential' });

    // Everything the second life journalled is uploaded; the revocation was reported exactly once.
    await until(
      () =>
        events.messages.some((m) =>
          (JSON.parse(m.payload.toString()) as { events: { reason?: string }[] }).events.some(
            (e) => e.reason === 'malformed_credential',
          ),
        ),
      'the last decision reaches the cloud',
    );
    t.equal(revokedEvents().length, 1, 'the cloud heard of the revocation once');
    await stop(second);
  },
);
