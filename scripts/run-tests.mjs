#!/usr/bin/env node
// `npm test`: build (which typechecks src and bench), typecheck tests, lint, then the tap suite.
// Ends with a plain "N passed, N failed" line read by CI.
import { spawnSync, spawn } from 'node:child_process';

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

process.stdout.write('\n== tests: tap\n');
const tap = spawn('npx', ['tap', ...process.argv.slice(2)], { stdio: ['inherit', 'pipe', 'inherit'] });
let tail = '';
tap.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  tail = (tail + chunk.toString()).slice(-4000);
});
tap.on('close', (code) => {
  const m = /# \{ total: (\d+), pass: (\d+)(?:, fail: (\d+))?/.exec(tail);
  const total = m ? Number(m[1]) : 0;
  const fail = m ? Number(m[3] ?? total - Number(m[2])) : 1;
  const pass = m ? Number(m[2]) : 0;
  if (code !== 0 && fail === 0) {
    process.stdout.write(`tap exited ${code} with no failing test counted\n${pass} passed, 1 failed\n`);
    process.exit(code ?? 1);
  }
  process.stdout.write(`${pass} passed, ${fail} failed\n`);
  process.exit(code ?? 1);
});
