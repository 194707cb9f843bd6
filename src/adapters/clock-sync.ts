/**
 * Is the system clock NTP-synchronised? Asks systemd-timesyncd the two ways it answers, without a native
 * module: its flag file `/run/systemd/timesync/synchronized` (created on the first synchronisation after
 * boot, touched on each one after), then `timedatectl show -p NTPSynchronized --value` (the kernel's sync
 * status, whichever NTP client set it). Absence of both (no systemd, a container) is "unknown", never an
 * error. Also the build time, a weak floor for the clock: the modification time of this module's file.
 */
import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const TIMESYNC_FLAG_FILE = '/run/systemd/timesync/synchronized';

/** Reports true / false, or null when it cannot tell. Never rejects. */
export interface NtpProbe {
  check(): Promise<boolean | null>;
}

export interface TimesyncProbeOptions {
  readonly flagFile?: string;
  /** The timedatectl executable, or null not to ask it. */
  readonly timedatectl?: string | null;
  readonly timeoutMs?: number;
}

export function timesyncProbe(options: TimesyncProbeOptions = {}): NtpProbe {
  const flagFile = options.flagFile ?? TIMESYNC_FLAG_FILE;
  const timedatectl = options.timedatectl === undefined ? 'timedatectl' : options.timedatectl;
  const timeout = options.timeoutMs ?? 2000;
  return {
    async check(): Promise<boolean | null> {
      try {
        await stat(flagFile);
        return true;
      } catch {
        // no flag file: not synchronised since boot by timesyncd, or timesyncd is not in use
      }
      if (timedatectl === null) return null;
      return new Promise((resolve) => {
        execFile(
          timedatectl,
          ['show', '-p', 'NTPSynchronized', '--value'],
          { timeout, encoding: 'utf8' },
          (err, stdout) => {
            if (err !== null) return resolve(null);
            const v = stdout.trim();
            resolve(v === 'yes' ? true : v === 'no' ? false : null);
          },
        );
      });
    },
  };
}

/** Instants before this are not build times (npm packs files with a 1985 mtime). */
const PLAUSIBLE_BUILD = Date.parse('2024-01-01T00:00:00Z');

/** The build (or install) time of this code: the mtime of the given file (default: this module); null if implausible. */
export function buildTime(file: string = fileURLToPath(import.meta.url)): number | null {
  try {
    const ms = statSync(file).mtimeMs;
    return ms >= PLAUSIBLE_BUILD ? Math.floor(ms) : null;
  } catch {
    return null;
  }
}
