/** A socat pseudo-terminal pair in a temporary folder, for the serial benchmarks (bridge, OSDP). */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { log } from './stats.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface PtyPair {
  /** The temporary folder (config files, the state dir); removed afterwards. */
  readonly dir: string;
  /** The daemon's side. */
  readonly host: string;
  /** The simulated device's side. */
  readonly device: string;
}

/** Runs `fn` with a fresh pty pair, then stops socat and removes the folder; skips (logs) without socat. */
export async function withPtyPair(name: string, fn: (pair: PtyPair) => Promise<void>): Promise<void> {
  if (spawnSync('socat', ['-V'], { stdio: 'ignore' }).status !== 0) {
    log(`socat is not installed: skipping ${name}`);
    return;
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), `doorpass-bench-${name}-`));
  const host = path.join(dir, 'host');
  const device = path.join(dir, 'device');
  const socat = spawn('socat', [`pty,raw,echo=0,link=${host}`, `pty,raw,echo=0,link=${device}`], {
    stdio: 'ignore',
  });
  try {
    while (!existsSync(host) || !existsSync(device)) await sleep(10);
    await fn({ dir, host, device });
  } finally {
    socat.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}
