/**
 * The composition root: the one place that builds adapters from the config and wires them to the app.
 * The CLI calls openSite() for one-shot commands and runDaemon() for `doorpass run`.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import pretty from 'pino-pretty';
import { ConsoleInput } from '../adapters/console-input.js';
import { HmacHasher, loadOrCreateKey } from '../adapters/hasher.js';
import { LogRelay } from '../adapters/log-relay.js';
import { DATABASE_FILE, SqlitePassStore } from '../adapters/sqlite/store.js';
import { DoorpassError, ErrorCode } from '../core/errors.js';
import { Zone } from '../core/zone.js';
import type { CredentialSource, Logger } from '../ports/io.js';
import type { PassStore } from '../ports/store.js';
import { AccessControl } from './access.js';
import type { Config, LoadedConfig } from './config.js';
import { AccessPipeline } from './pipeline.js';
import { RelayPulse, systemClock } from './relay.js';

export interface Site {
  readonly config: Config;
  readonly store: PassStore;
  readonly hasher: HmacHasher;
  readonly zone: Zone;
  readonly access: AccessControl;
  close(): void;
}

export function credentialKeyFile(config: Config): string {
  return config.storage.credentialKeyFile ?? path.join(config.storage.dir, 'credential.key');
}

/** Opens the database and the credential key named by the config (creating both on first use). */
export function openSite(loaded: LoadedConfig): Site {
  const { config } = loaded;
  try {
    mkdirSync(config.storage.dir, { recursive: true, mode: 0o750 });
  } catch (e) {
    throw new DoorpassError(
      ErrorCode.StoreUnavailable,
      `storage.dir: cannot create ${config.storage.dir}: ${(e as Error).message}`,
    );
  }
  // The key is generated only in the storage dir; a key file the config names must already exist.
  const key = loadOrCreateKey(credentialKeyFile(config), config.storage.credentialKeyFile === undefined);
  const store = new SqlitePassStore(path.join(config.storage.dir, DATABASE_FILE));
  const hasher = new HmacHasher(key);
  const zone = new Zone(config.site.timezone);
  const access = new AccessControl(store, hasher, zone, config.device.id);
  return { config, store, hasher, zone, access, close: () => store.close() };
}

export function createLogger(
  level: string,
  destination: NodeJS.WritableStream = process.stdout,
): Logger & pino.Logger {
  const isTty = (destination as { isTTY?: boolean }).isTTY === true;
  return pino(
    {
      level,
      base: undefined,
      // Defence in depth: if a credential value ever reaches a log call under these keys, it is censored.
      redact: {
        paths: ['value', 'pin', 'card', 'qr', '*.value', '*.pin', '*.card', '*.qr'],
        censor: '[redacted]',
      },
    },
    isTty ? pretty({ colorize: true, destination }) : destination,
  );
}

export interface DaemonOptions {
  readonly logLevel?: string;
  readonly stdin?: NodeJS.ReadableStream;
  readonly logger?: Logger & pino.Logger;
}

export interface RunningDaemon {
  readonly pipeline: AccessPipeline;
  /** Stops inputs, releases relays and closes the database. Idempotent. */
  stop(): Promise<void>;
}

/** Builds and starts the daemon from the config. */
export function startDaemon(loaded: LoadedConfig, options: DaemonOptions = {}): RunningDaemon {
  const { config } = loaded;
  const log = options.logger ?? createLogger(options.logLevel ?? config.log.level);
  const site = openSite(loaded);
  const relays = new Map<string, RelayPulse>();
  for (const door of config.doors) {
    relays.set(door.id, new RelayPulse(new LogRelay(door.id, log), systemClock, door.relay.pulseMs));
  }
  const pipeline = new AccessPipeline(site.access, relays, systemClock, log);
  const inputs: CredentialSource[] = config.inputs.map(
    (input) => new ConsoleInput(input.door, (options.stdin ?? process.stdin) as NodeJS.ReadStream),
  );
  for (const input of inputs) input.start((c) => pipeline.handle(c));
  const counts = site.store.counts();
  log.info(
    {
      site: config.site.id,
      device: config.device.id,
      timezone: config.site.timezone,
      passes: counts.passes,
      doors: config.doors.map((d) => d.id),
      inputs: inputs.map((i) => i.name),
    },
    'doorpass ready',
  );
  // The daemon lives until it is stopped, even when every input has ended (e.g. console stdin closed).
  const keepAlive = setInterval(() => undefined, 3_600_000);
  let stopping: Promise<void> | undefined;
  return {
    pipeline,
    stop: () =>
      (stopping ??= (async () => {
        clearInterval(keepAlive);
        await Promise.allSettled(inputs.map((i) => i.stop()));
        for (const r of relays.values()) r.close();
        site.close();
        log.info({ decisions: pipeline.decisionCount }, 'doorpass stopped');
      })()),
  };
}
