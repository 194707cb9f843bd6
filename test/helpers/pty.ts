/** Pseudo-terminal pairs from socat, opened by tests with the real serialport binding. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export function haveSocat(): boolean {
  return spawnSync('socat', ['-V'], { stdio: 'ignore' }).status === 0;
}

export interface PtyPair {
  /** The end the daemon opens (the "host" side). */
  readonly host: string;
  /** The end the test opens, playing the bridge. */
  readonly device: string;
  /** Kills socat: both ends disappear (a USB bridge unplugged). */
  unplug(): Promise<void>;
  /** Starts socat again on the same paths (plugged back in). */
  plug(): Promise<void>;
  close(): Promise<void>;
}

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export async function ptyPair(): Promise<PtyPair> {
  const dir = mkdtempSync(path.join(tmpdir(), 'doorpass-pty-'));
  const host = path.join(dir, 'host');
  const device = path.join(dir, 'device');
  let proc: ChildProcess | undefined;
  const plug = async (): Promise<void> => {
    proc = spawn('socat', [`pty,raw,echo=0,link=${host}`, `pty,raw,echo=0,link=${device}`], {
      stdio: 'ignore',
    });
    await waitFor(() => existsSync(host) && existsSync(device), 5000, 'socat ptys');
  };
  const unplug = async (): Promise<void> => {
    const p = proc;
    proc = undefined;
    if (p === undefined || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGTERM');
    });
    await waitFor(() => !existsSync(host) && !existsSync(device), 5000, 'socat to remove its links');
  };
  await plug();
  return {
    host,
    device,
    plug,
    unplug,
    close: async () => {
      await unplug();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
