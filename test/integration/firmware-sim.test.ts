/**
 * The real bridge firmware in a simulator against the real daemon: firmware-bridge/build/bridge.elf runs in
 * simavr under firmware-bridge/build/bridge-sim, which exposes the MCU's UART as a pty, presses keys on the
 * simulated keypad matrix, pulses the Wiegand lines and reports the relay pin. The built `doorpass run` opens
 * that pty as its bridge. A good PIN and a good card energise relay 1 for the configured pulse, timed by the
 * firmware; a wrong PIN does not. `npm test` builds both with `make -C firmware-bridge all sim test`
 * (scripts/run-tests.mjs) and skips this test, like that step, where avr-gcc or simavr are not installed.
 */
import t from 'tap';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { encodeWiegand } from '../../src/protocol/wiegand.js';
import { runCli, startDaemon } from '../helpers/cli.js';
import { pass, tempSite } from '../helpers/fixtures.js';

const FIRMWARE_DIR = path.resolve(import.meta.dirname, '../../firmware-bridge');
const ELF = path.join(FIRMWARE_DIR, 'build/bridge.elf');
const SIM = path.join(FIRMWARE_DIR, 'build/bridge-sim');
const PULSE_MS = 1500;

function missingToolchain(): string | false {
  const avrGcc = spawnSync('avr-gcc', ['--version'], { stdio: 'ignore' }).status === 0;
  if (avrGcc && existsSync('/usr/include/simavr/sim_avr.h')) return false;
  return (
    'avr-gcc or simavr is not installed (Debian: gcc-avr avr-libc simavr libsimavr-dev libelf-dev; ' +
    'scripts/test.sh installs them), so the firmware cannot be built or simulated'
  );
}

/** bridge-sim as a child process: stdin takes commands, stdout lines are kept and can be awaited. */
class Simulator {
  readonly lines: string[] = [];
  private readonly waiters: {
    re: RegExp;
    from: number;
    resolve: (m: RegExpExecArray) => void;
    reject: (e: Error) => void;
  }[] = [];
  private exit: string | undefined;

  private constructor(readonly child: ChildProcessWithoutNullStreams) {
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        this.lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
        this.notify();
      }
    });
    child.on('exit', (code, signal) => {
      this.exit = `bridge-sim exited (${code ?? signal ?? '?'})`;
      for (const w of this.waiters.splice(0))
        w.reject(new Error(`${this.exit} before a line matching ${w.re}:\n${this.lines.join('\n')}`));
    });
  }

  static start(): Simulator {
    const child = spawn(SIM, [ELF], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stderr.on('data', (d: Buffer) => process.stderr.write(`bridge-sim: ${d.toString()}`));
    return new Simulator(child);
  }

  send(command: string): void {
    this.child.stdin.write(`${command}\n`);
  }

  private find(re: RegExp, from: number): RegExpExecArray | null {
    for (let i = from; i < this.lines.length; i++) {
      const m = re.exec(this.lines[i] ?? '');
      if (m) return m;
    }
    return null;
  }

  private notify(): void {
    for (const w of [...this.waiters]) {
      const m = this.find(w.re, w.from);
      if (m) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  }

  /** The first line matching `re` at or after line index `from`, waiting up to `timeoutMs` for it. */
  waitFor(re: RegExp, from = 0, timeoutMs = 15_000): Promise<RegExpExecArray> {
    const hit = this.find(re, from);
    if (hit) return Promise.resolve(hit);
    if (this.exit !== undefined)
      return Promise.reject(new Error(`${this.exit} before a line matching ${re}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`bridge-sim: no line matching ${re} in ${timeoutMs} ms:\n${this.lines.join('\n')}`));
      }, timeoutMs);
      const waiter = {
        re,
        from,
        resolve: (m: RegExpExecArray) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** Ends stdin (bridge-sim exits on EOF); kills it if it lingers. */
  async stop(): Promise<void> {
    if (this.exit !== undefined) return;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(timer);
  }
}

/** `promise`, or a rejection naming `what` after `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Simulated milliseconds from a `RELAY 1 ON 1234.567` line. */
const simMs = (m: RegExpExecArray): number => Number(m[1]);

t.test(
  'firmware in simavr + doorpass run: keypad PIN and Wiegand card pulse relay 1, a wrong PIN does not',
  { skip: missingToolchain() },
  async (t) => {
    if (!existsSync(ELF) || !existsSync(SIM)) {
      t.fail(`${ELF} or ${SIM} is missing: run "make -C firmware-bridge all sim" (npm test does)`);
      return;
    }
    const sim = Simulator.start();
    t.teardown(() => sim.stop());
    const pty = (await sim.waitFor(/^PTY (\S+)$/))[1] ?? '';

    const site = tempSite(
      (dir) => `site: { id: tower-a, timezone: America/New_York }
device: { id: panel-west }
storage: { dir: ${JSON.stringify(path.join(dir, 'state'))} }
doors: [ { id: lobby, relay: { type: bridge, channel: 1, pulseMs: ${PULSE_MS} } } ]
inputs: [ { type: bridge, path: ${JSON.stringify(pty)}, baudRate: 115200, door: lobby, wiegand: { format: h10301 } } ]
`,
    );
    t.teardown(() => site.cleanup());
    const now = Date.now();
    const live = {
      validFrom: new Date(now - 3_600_000).toISOString(),
      validUntil: new Date(now + 3_600_000).toISOString(),
    };
    const snap = path.join(site.dir, 'passes.json');
    writeFileSync(
      snap,
      JSON.stringify({
        passes: [
          pass({ id: 'guest', ...live, credentials: [{ type: 'pin', value: '246810' }] }),
          pass({
            id: 'courier',
            kind: 'courier',
            ...live,
            credentials: [{ type: 'card', value: String(7 * 65536 + 4242) }],
          }),
        ],
      }),
    );
    const imported = await runCli(['passes', 'import', snap, '--config', site.configFile]);
    t.equal(imported.code, 0, imported.stderr);

    // The firmware booted (and sent its HELLO) before anyone opened the pty. The daemon sends PING when it
    // opens the port; the firmware's ACK is enough to bring the bridge online.
    const daemon = await startDaemon(site.configFile);
    t.teardown(async () => {
      if (daemon.child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => daemon.child.once('exit', () => resolve()));
      daemon.child.kill('SIGTERM');
      await exited;
    });
    await within(daemon.waitFor(/bridge online/), 15_000, 'the daemon to see the simulated bridge online');

    // A good PIN on the keypad matrix: the firmware scans, debounces, sends KEY frames; the daemon grants
    // and sends RELAY 1 for PULSE_MS; the firmware times the pulse.
    let mark = sim.lines.length;
    sim.send('keys 246810#');
    const on = simMs(await sim.waitFor(/^RELAY 1 ON ([\d.]+)$/, mark));
    const off = simMs(await sim.waitFor(/^RELAY 1 OFF ([\d.]+)$/, mark));
    t.ok(
      off - on >= 0.8 * PULSE_MS && off - on <= PULSE_MS + 50,
      `relay 1 held ${(off - on).toFixed(1)} ms of simulated time for a ${PULSE_MS} ms pulse`,
    );

    // A wrong PIN: the daemon answers with the red LED, and the relay stays off.
    mark = sim.lines.length;
    sim.send('keys 999999#');
    await sim.waitFor(/^DONE keys/, mark);
    await sim.waitFor(/^LED red /, mark);
    sim.send('wait 300');
    await sim.waitFor(/^DONE wait/, mark);
    t.notOk(
      sim.lines.slice(mark).some((l) => l.startsWith('RELAY 1 ON')),
      'no relay pulse for a wrong PIN',
    );

    // A card on the Wiegand reader: D0/D1 pulses on INT0/INT1, 26 raw bits to the daemon, which decodes
    // H10301 and grants.
    const card = encodeWiegand('h10301', 7, 4242);
    const bits = Array.from({ length: card.bitCount }, (_, i) =>
      ((card.data[i >> 3] ?? 0) >> (7 - (i & 7))) & 1 ? '1' : '0',
    ).join('');
    mark = sim.lines.length;
    sim.send(`wiegand ${bits}`);
    const cardOn = simMs(await sim.waitFor(/^RELAY 1 ON ([\d.]+)$/, mark));
    const cardOff = simMs(await sim.waitFor(/^RELAY 1 OFF ([\d.]+)$/, mark));
    t.ok(cardOff - cardOn >= 0.8 * PULSE_MS, `card: relay 1 held ${(cardOff - cardOn).toFixed(1)} ms`);

    const exited = new Promise<number | null>((resolve) => daemon.child.once('exit', resolve));
    daemon.child.kill('SIGTERM');
    const code = await exited;
    t.equal(code, 0, 'doorpass run exits 0 on SIGTERM');
    if (code !== 0) t.comment(daemon.lines.slice(-10).join('\n'));

    const events = await runCli(['events', 'list', '--json', '--config', site.configFile]);
    const access = events.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((e) => String(e.type).startsWith('access.'))
      .map((e) => [e.type, e.credentialType]);
    t.same(access, [
      ['access.granted', 'pin'],
      ['access.denied', 'pin'],
      ['access.granted', 'card'],
    ]);
  },
);
