/**
 * systemd notifications without a native module: each message is sent by the `systemd-notify` tool
 * (package systemd, present wherever systemd runs), so a Pi needs no compiler. It does nothing when
 * NOTIFY_SOCKET is not set (not started by systemd), and it fails softly: a lost notification is logged
 * once, never thrown. The unit needs NotifyAccess=all, since the sender is a child process.
 */
import { spawn } from 'node:child_process';
import type { Logger } from '../ports/io.js';

export interface Notifier {
  readonly enabled: boolean;
  /** Watchdog interval requested by systemd (WATCHDOG_USEC), halved; null when there is no watchdog. */
  readonly watchdogIntervalMs: number | null;
  ready(status?: string): void;
  status(text: string): void;
  watchdog(): void;
  stopping(): void;
}

/** A notifier that sends nothing (in-process daemons in tests and the soak, whatever NOTIFY_SOCKET says). */
export const NO_NOTIFIER: Notifier = {
  enabled: false,
  watchdogIntervalMs: null,
  ready: () => undefined,
  status: () => undefined,
  watchdog: () => undefined,
  stopping: () => undefined,
};

export function systemdNotifier(
  log: Logger,
  env: NodeJS.ProcessEnv = process.env,
  command = 'systemd-notify',
): Notifier {
  const enabled = typeof env.NOTIFY_SOCKET === 'string' && env.NOTIFY_SOCKET !== '';
  const usec = Number(env.WATCHDOG_USEC);
  const pidOk = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === process.pid;
  const watchdogIntervalMs =
    enabled && Number.isFinite(usec) && usec > 0 && pidOk ? Math.max(500, Math.floor(usec / 2000)) : null;
  let warned = false;
  const send = (...fields: string[]): void => {
    if (!enabled) return;
    try {
      const child = spawn(command, [`--pid=${process.pid}`, ...fields], { stdio: 'ignore', env });
      child.on('error', (err) => {
        if (!warned) log.warn({ err: err.message }, 'cannot notify systemd (is systemd-notify installed?)');
        warned = true;
      });
      child.unref();
    } catch (err) {
      if (!warned) log.warn({ err: (err as Error).message }, 'cannot notify systemd');
      warned = true;
    }
  };
  return {
    enabled,
    watchdogIntervalMs,
    ready: (status) => send('READY=1', ...(status !== undefined ? [`STATUS=${status}`] : [])),
    status: (text) => send(`STATUS=${text}`),
    watchdog: () => send('WATCHDOG=1'),
    stopping: () => send('STOPPING=1'),
  };
}
