/**
 * `npm run soak` for 5 seconds (and a 2,000-event outage), so the soak keeps working: it runs the built
 * dist/bench/soak.js, prints figure lines like the bench and a passing verdict with every kind of decision.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { haveMosquitto } from '../helpers/mosquitto.js';
import { haveSocat } from '../helpers/pty.js';

const SOAK = path.resolve(import.meta.dirname, '../../dist/bench/soak.js');

t.test(
  'npm run soak, 5 seconds',
  { skip: (!haveMosquitto() || !haveSocat()) && 'mosquitto and socat are needed' },
  async (t) => {
    if (!existsSync(SOAK)) throw new Error(`${SOAK} is missing: run "npm run build" first`);
    const { code, stdout, stderr } = await new Promise<{
      code: number | null;
      stdout: string;
      stderr: string;
    }>((resolve, reject) => {
      const child = spawn(process.execPath, [SOAK], {
        env: { ...process.env, SOAK_SECONDS: '5', SOAK_OUTAGE_EVENTS: '2000' },
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', reject);
      child.on('close', (c) => resolve({ code: c, stdout: out, stderr: err }));
    });
    const lines = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const figures = lines.filter((l) => 'name' in l);
    for (const f of figures) {
      t.same(Object.keys(f), ['name', 'value', 'unit', 'baseline', 'baselineValue', 'ratio'], String(f.name));
      t.ok(Number.isFinite(f.value) && (f.value as number) > 0, `${String(f.name)} = ${String(f.value)}`);
    }
    t.same(
      figures.map((f) => f.name),
      [
        'soak.decision.p50',
        'soak.decision.p99',
        'soak.checks_per_second',
        'soak.rss.middle',
        'soak.rss.end',
        'soak.heap.middle',
        'soak.heap.end',
        'soak.outage.drain_events_per_second',
        'soak.outage.heap.second_half',
        'soak.outage.rss.second_half',
      ],
    );
    const verdict = lines.at(-1) as {
      verdict: string;
      sent: number;
      decisions: number;
      outcomes: Record<string, number>;
      failures: string[];
      outage: { arrivedInOrder: boolean };
    };
    t.equal(verdict.verdict, 'pass', 'the verdict is pass', { failures: verdict.failures, stderr });
    t.equal(code, 0);
    t.equal(verdict.sent, 1000, '200 checks/s for 5 s offered');
    t.equal(verdict.decisions, verdict.sent, 'every attempt decided');
    for (const kind of ['granted', 'unknown_credential', 'locked_out', 'revoked', 'expired'])
      t.ok((verdict.outcomes[kind] ?? 0) > 0, `${kind} in the mix`);
    t.ok(verdict.outage.arrivedInOrder, 'the outage drained completely and in order');
  },
);
