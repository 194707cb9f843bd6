#!/usr/bin/env node
// `npm test`: build (which typechecks src and bench), typecheck tests, lint, then the tap suite.
// Ends with a plain "N passed, N failed" line read by CI.
import { spawnSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

const step = (name, cmd, args) => {
  process.stdout.write(`\n== ${name}: ${cmd} ${args.join(' ')}\n`);
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status !== 0) {
    process.stdout.write(`\n${name} failed (exit ${r.status ?? r.signal})\n0 passed, 1 failed\n`);
    process.exit(1);
  }
};

step('build', 'npx', ['tsc', '-p', 'tsconfig.build.json']);
step('typecheck', 'npx', ['tsc', '-p', 'tsconfig.json', '--noEmit']);
step('lint', 'npx', ['eslint', '.']);
step('format', 'npx', ['prettier', '--check', '--log-level', 'warn', '.']);

// The bridge firmware (docs/firmware-bridge.md): the ATmega328P build, its simavr harness and its host unit
// tests, when the AVR toolchain and simavr are installed (scripts/test.sh installs them). The tap suite's
// test/integration/firmware-sim.test.ts then runs the built firmware against the daemon.
const haveAvrGcc = spawnSync('avr-gcc', ['--version'], { stdio: 'ignore' }).status === 0;
if (haveAvrGcc && existsSync('/usr/include/simavr/sim_avr.h')) {
  step('firmware', 'make', ['-C', 'firmware-bridge', 'all', 'sim', 'test']);
} else {
  process.stdout.write(
    '\n== firmware: SKIPPED: avr-gcc or the simavr headers are not installed ' +
      '(Debian: gcc-avr avr-libc simavr libsimavr-dev libelf-dev); the firmware simulation test skips too\n',
  );
}

process.stdout.write('\n== tests: tap\n');
const tap = spawn('npx', ['tap', ...process.argv.slice(2)], { stdio: ['inherit', 'pipe', 'inherit'] });
let tail = '';
tap.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  tail = (tail + chunk.toString()).slice(-4000);
});
tap.on('close', (code) => {
  // tap's closing summary, e.g. "# { total: 12, pass: 10, fail: 1, skip: 1 }": read each count by name (a
  // skipped test is neither passed nor failed).
  const summary = /# \{ total: (\d+)[^}]*\}/.exec(tail)?.[0];
  const count = (name) => Number(new RegExp(`${name}: (\\d+)`).exec(summary ?? '')?.[1] ?? 0);
  const pass = count('pass');
  const fail = summary === undefined ? 1 : count('fail');
  const skip = count('skip');
  if (code !== 0 && fail === 0) {
    process.stdout.write(`tap exited ${code} with no failing test counted\n${pass} passed, 1 failed\n`);
    process.exit(code ?? 1);
  }
  process.stdout.write(`${pass} passed, ${fail} failed${skip > 0 ? `, ${skip} skipped` : ''}\n`);
  process.exit(code ?? 1);
});
