/**
 * The composition root: the one place that builds adapters from the config and wires them to the app.
 * The CLI calls openSite() for one-shot commands and runDaemon() for `doorpass run`.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import pretty from 'pino-pretty';
import { BridgeInput, BridgeRelay, BridgeSensor } from '../adapters/bridge/devices.js';
import { BridgeLink } from '../adapters/bridge/link.js';
import { OsdpBus, type KeyInstallRecord } from '../adapters/osdp/bus.js';
import { OsdpReaderInput, OsdpRelay, OsdpSensor } from '../adapters/osdp/devices.js';
import { readScbk } from '../adapters/osdp/keys.js';
import { CameraInput } from '../adapters/camera/camera-input.js';
import { ConsoleInput } from '../adapters/console-input.js';
import {
  GpioRelayLine,
  GpioSensor,
  onoffFactory,
  resolveGpioLine,
  type GpioFactory,
} from '../adapters/gpio.js';
import { HmacHasher, loadOrCreateKey } from '../adapters/hasher.js';
import { HidInput, nodeHidBackend, type HidBackend } from '../adapters/hid-input.js';
import { LogRelayLine } from '../adapters/log-relay.js';
import { MqttCloudLink } from '../adapters/mqtt/link.js';
import { systemdNotifier, type Notifier } from '../adapters/sd-notify.js';
import { buildTime, timesyncProbe } from '../adapters/clock-sync.js';
import { StatusServer } from '../adapters/status-socket.js';
export { readStatus } from '../adapters/status-socket.js';
import { loadPublicKey } from '../adapters/mqtt/signature.js';
import { SqlitePassStore } from '../adapters/sqlite/store.js';
import { DoorpassError, ErrorCode } from '../core/errors.js';
import { Zone } from '../core/zone.js';
import { DEFAULT_KEYPAD } from '../core/keypad.js';
import { DEFAULT_LOCKOUT } from '../core/lockout.js';
import type { Clock, CredentialSource, DoorSensor, Logger, Relay } from '../ports/io.js';
import type { PassStore, StoreFileHealth, StoreIncident } from '../ports/store.js';
import { UlidFactory } from './ids.js';
import { journalIncidents, StorageGuard, type StorageStatus } from './storage.js';
import { AccessControl } from './access.js';
import { statusSocketPath, type Config, type GpioLineSpec, type LoadedConfig } from './config.js';
import { DoorController } from './door-controller.js';
import { InputController, type InputStatus, type LockoutPersistence } from './input-controller.js';
import { Journal } from './journal.js';
import { CloudAgent } from './cloud.js';
import { PassSync } from './sync.js';
import { EventUploader } from './uploader.js';
import { topics, type DeviceStatus } from '../protocol/mqtt.js';

const OFFLINE_STATUS = JSON.stringify({ online: false });
import { AccessPipeline } from './pipeline.js';
import { RelayPulse, systemClock } from './relay.js';
import { ClockGuard, type ClockStatus, type NtpStatusSource } from './clock-guard.js';

export interface Site {
  readonly config: Config;
  readonly store: PassStore;
  readonly hasher: HmacHasher;
  readonly zone: Zone;
  readonly access: AccessControl;
  /** Store files found corrupt at open (moved aside, recreated, journalled). */
  readonly incidents: readonly StoreIncident[];
  close(): void;
}

export function credentialKeyFile(config: Config): string {
  return config.storage.credentialKeyFile ?? path.join(config.storage.dir, 'credential.key');
}

/**
 * Opens the database and the credential key named by the config (creating both on first use).
 * `integrityCheck` runs PRAGMA quick_check on both files (~0.3 s per 100k passes here): the daemon does at
 * start; one-shot commands skip it (a file that is not a database is still caught, and moved aside).
 */
export function openSite(loaded: LoadedConfig, opts: { integrityCheck?: boolean } = {}): Site {
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
  const store = new SqlitePassStore(config.storage.dir, { integrityCheck: opts.integrityCheck ?? false });
  const incidents = store.takeIncidents();
  const ids = new UlidFactory();
  journalIncidents(store, config.device.id, ids, incidents, Date.now());
  const hasher = new HmacHasher(key);
  const zone = new Zone(config.site.timezone);
  const access = new AccessControl(store, hasher, zone, config.device.id, ids);
  return { config, store, hasher, zone, access, incidents, close: () => store.close() };
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
  readonly clock?: Clock;
  /** Injected hardware backends (tests pass fakes shaped like onoff's Gpio and node-hid's HID). */
  readonly gpio?: GpioFactory;
  readonly hid?: HidBackend;
  readonly sysfsGpio?: string;
  /** doorpass's version, for the status message. */
  readonly version?: string;
  readonly notifier?: Notifier;
  /** Asks whether the clock is NTP-synchronised (default: systemd-timesyncd's flag file, then timedatectl). */
  readonly ntp?: NtpStatusSource;
  /** The build time, a weak floor for the clock (default: this build's file time; null: none). */
  readonly buildTime?: number | null;
}

export interface LocalStatus {
  readonly site: string;
  readonly device: string;
  readonly version: string;
  readonly pid: number;
  readonly startedAt: string;
  readonly uptimeS: number;
  readonly inputs: readonly {
    name: string;
    door: string;
    online: boolean;
    lastSeenAt: string | null;
    lockedOut: boolean;
    /** Per factor (pin, card, qr): each locks on its own. */
    lockouts: InputStatus['lockouts'];
    readErrors: number;
  }[];
  readonly doors: readonly { id: string; state: 'unknown' | 'closed' | 'open' | 'held open' | 'forced' }[];
  readonly broker: { configured: boolean; connected: boolean; url: string | null; lastError: string | null };
  readonly sync: {
    seq: number;
    lastAppliedAt: string | null;
    rejected: Record<string, number>;
    /** The newest `issuedAt` accepted from the cloud (docs/mqtt.md, "Binding"), or null. */
    newestIssuedAt: string | null;
    /** Messages accepted without `issuedAt`/`device` since start (only with cloud.requireBinding false). */
    unbound: number;
  };
  /** Per serial bridge: frames received and bytes runs discarded, by reason (bad_crc, oversize, ...). */
  readonly bridges: readonly { path: string; framesIn: number; discarded: Record<string, number> }[];
  readonly passes: { active: number; total: number };
  readonly outbox: { depth: number; dropped: number; uploaded: number };
  /** The journal's writability (disk full, read-only) and the buffer kept meanwhile. */
  readonly storage: Omit<StorageStatus, 'since'> & { since: string | null };
  /** The pass cache and the journal: 'rebuilt' after corruption (the cache: until resynced). */
  readonly cache: Omit<StoreFileHealth, 'since'> & { since: string | null };
  readonly journal: Omit<StoreFileHealth, 'since'> & { since: string | null };
  /** Whether the wall clock is trusted for time-bound decisions, and if not why (clock-guard.ts). */
  readonly clock: ClockStatus;
  readonly recent: readonly {
    at: string;
    door: string;
    source: string;
    credentialType: string;
    granted: boolean;
    reason: string | null;
    passId: string | null;
  }[];
}

export interface RunningDaemon {
  readonly pipeline: AccessPipeline;
  readonly doors: ReadonlyMap<string, DoorController>;
  readonly inputs: readonly InputController[];
  readonly links: ReadonlyMap<string, BridgeLink>;
  readonly cloud:
    | {
        readonly link: MqttCloudLink;
        readonly sync: PassSync;
        readonly uploader: EventUploader;
        readonly agent: CloudAgent;
      }
    | undefined;
  /** The status document of the retained MQTT status. */
  status(): DeviceStatus;
  /** The fuller status `doorpass status` shows (uptime, broker, sync age, lockouts, recent decisions). */
  localStatus(): LocalStatus;
  /** Releases every relay at once, synchronously (crash path). */
  releaseAll(): void;
  /** Stops inputs, releases relays and closes the database. Idempotent. */
  stop(): Promise<void>;
}

/** Builds and starts the daemon from the config. */
export function startDaemon(loaded: LoadedConfig, options: DaemonOptions = {}): RunningDaemon {
  const { config } = loaded;
  const log = options.logger ?? createLogger(options.logLevel ?? config.log.level);
  const clock = options.clock ?? systemClock;
  const site = openSite(loaded, { integrityCheck: true });
  const journal = new Journal(site.store, config.device.id, clock, log);
  const storage = new StorageGuard(site.store, config.device.id, journal.ids, clock, log, {
    policy: config.storage.writeFailurePolicy,
    maxPending: config.storage.maxPendingEvents,
    retryMs: config.storage.writeRetryMs,
  });
  storage.logIncidents(site.incidents);
  journal.storage = storage;
  const access = new AccessControl(site.store, site.hasher, site.zone, config.device.id, journal.ids);
  access.storage = storage;
  const clockGuard = new ClockGuard(site.store, journal, clock, log, {
    policy: config.clock.untrustedPolicy,
    nonExpiringMinDays: config.clock.nonExpiringMinDays,
    buildTime: options.buildTime === undefined ? buildTime() : options.buildTime,
    ntp: options.ntp ?? timesyncProbe(),
  });
  access.clockTrust = () => clockGuard.untrusted();
  let gpioFactory = options.gpio;
  const gpio = (): GpioFactory => (gpioFactory ??= onoffFactory());
  const gpioLine = (spec: GpioLineSpec, what: string): number =>
    resolveGpioLine(spec, what, options.sysfsGpio);

  // One link per serial bridge, shared by the input, relays and sensors on it.
  const links = new Map<string, BridgeLink>();
  const bridgeOfDoor = new Map<string, string>();
  for (const input of config.inputs) {
    if (input.type !== 'bridge') continue;
    links.set(input.path, new BridgeLink({ path: input.path, baudRate: input.baudRate }, clock, log));
    if (!bridgeOfDoor.has(input.door)) bridgeOfDoor.set(input.door, input.path);
  }
  const linkFor = (doorId: string, explicit: string | undefined, what: string): BridgeLink => {
    const p = explicit ?? bridgeOfDoor.get(doorId);
    const link = p === undefined ? undefined : links.get(p);
    if (link === undefined)
      throw new DoorpassError(ErrorCode.ConfigInvalid, `${what}: no bridge input for it`);
    return link;
  };

  // One OSDP bus per RS-485 line, shared by its readers' inputs, relays and sensors (docs/osdp.md).
  const osdpBuses = new Map<string, OsdpBus>();
  const osdpKeyRecord = (busPath: string): KeyInstallRecord => ({
    installed: (address) => site.store.getMeta(`osdp.keyset.${busPath}.${address}`) !== undefined,
    record: (address) =>
      site.store.setMeta(`osdp.keyset.${busPath}.${address}`, new Date(clock.now()).toISOString()),
  });
  const osdpFor = (address: number, explicit: string | undefined, what: string): OsdpBus => {
    const hits = config.inputs.flatMap((inp) =>
      inp.type === 'osdp' &&
      (explicit === undefined || inp.path === explicit) &&
      inp.readers.some((rd) => rd.address === address)
        ? [inp.path]
        : [],
    );
    const bus = hits.length === 1 && hits[0] !== undefined ? osdpBuses.get(hits[0]) : undefined;
    if (bus === undefined)
      throw new DoorpassError(
        ErrorCode.ConfigInvalid,
        `${what}: no single OSDP reader at address ${address}`,
      );
    return bus;
  };

  const doors = new Map<string, DoorController>();
  const sensors: DoorSensor[] = [];
  const built: { close(): void }[] = [];
  try {
    config.inputs.forEach((input, i) => {
      if (input.type !== 'osdp') return;
      const readers = input.readers.map((rd, j) => ({
        address: rd.address,
        secure: rd.secure,
        installKey: rd.installKey,
        ...(rd.keyFile !== undefined && {
          scbk: readScbk(rd.keyFile, `inputs[${i}].readers[${j}].keyFile`),
        }),
      }));
      const bus = new OsdpBus(
        { path: input.path, baudRate: input.baudRate, readers, keyRecord: osdpKeyRecord(input.path) },
        clock,
        log,
      );
      osdpBuses.set(input.path, bus);
    });
    config.doors.forEach((door, i) => {
      const what = `doors[${i}]`;
      const r = door.relay;
      const relay: Relay =
        r.type === 'log'
          ? new RelayPulse(new LogRelayLine(door.id, log), clock)
          : r.type === 'gpio'
            ? new RelayPulse(
                new GpioRelayLine(gpio(), gpioLine(r.line, `${what}.relay`), r.activeLow, `${what}.relay`),
                clock,
              )
            : r.type === 'bridge'
              ? new BridgeRelay(linkFor(door.id, r.path, `${what}.relay`), r.channel)
              : new OsdpRelay(osdpFor(r.reader, r.path, `${what}.relay`), r.reader, r.output);
      const controller = new DoorController(
        door.id,
        relay,
        { pulseMs: r.pulseMs, heldOpenMs: door.heldOpenMs, graceMs: door.graceMs },
        clock,
        journal,
        log,
      );
      built.push(controller);
      doors.set(door.id, controller);
      const sensor = (key: 'contact' | 'exitButton'): DoorSensor | undefined => {
        const c = door[key];
        if (c === undefined) return undefined;
        const name = `${what}.${key}`;
        return c.type === 'gpio'
          ? new GpioSensor(gpio(), gpioLine(c.line, name), c.activeLow, c.debounceMs, name, log)
          : c.type === 'bridge'
            ? new BridgeSensor(linkFor(door.id, c.path, name), c.input, c.activeLow)
            : new OsdpSensor(osdpFor(c.reader, c.path, name), c.reader, c.input, c.activeLow);
      };
      const contact = sensor('contact');
      if (contact) {
        sensors.push(contact);
        contact.start((open) => controller.contact(open));
      }
      const exit = sensor('exitButton');
      if (exit) {
        sensors.push(exit);
        exit.start((pressed) => {
          if (pressed) controller.exit();
        });
      }
    });
  } catch (e) {
    for (const b of built) b.close();
    for (const sn of sensors) sn.stop();
    site.close();
    throw e;
  }

  const pipeline = new AccessPipeline(access, doors, clock, log);
  // Lockouts survive a restart or a power cut (kept in the journal database's meta table).
  const lockoutPersistence: LockoutPersistence = {
    load: (key) => site.store.getMeta(key),
    save: (key, value) => site.store.setMeta(key, value),
  };
  const hid = options.hid ?? nodeHidBackend();
  const keypadConfig = { ...DEFAULT_KEYPAD, ...config.keypad };
  const lockoutConfig = { ...DEFAULT_LOCKOUT, ...config.lockout };
  // OSDP buses carry one input per reader: they are added below.
  const oneDoorInputs = config.inputs.flatMap((input) => (input.type === 'osdp' ? [] : [input]));
  const inputs: InputController[] = oneDoorInputs.map((input) => {
    const source: CredentialSource =
      input.type === 'console'
        ? new ConsoleInput((options.stdin ?? process.stdin) as NodeJS.ReadStream, log)
        : input.type === 'camera'
          ? new CameraInput(input, clock, log, {
              ...(input.source.type === 'bridge' && { bridge: links.get(input.source.path) as BridgeLink }),
            })
          : input.type === 'bridge'
            ? new BridgeInput(links.get(input.path) as BridgeLink, { wiegand: input.wiegand })
            : new HidInput(
                {
                  role: input.role,
                  reportId: input.reportId,
                  ...(input.vendorId !== undefined && { vendorId: input.vendorId }),
                  ...(input.productId !== undefined && { productId: input.productId }),
                  ...(input.path !== undefined && { path: input.path }),
                },
                hid,
                clock,
                log,
              );
    return new InputController(
      source,
      input.door,
      pipeline,
      journal,
      clock,
      log,
      keypadConfig,
      lockoutConfig,
      lockoutPersistence,
    );
  });
  // Each OSDP reader is an input of its own door; its tamper and power reports are journalled.
  for (const input of config.inputs) {
    if (input.type !== 'osdp') continue;
    const bus = osdpBuses.get(input.path) as OsdpBus;
    for (const rd of input.readers) {
      const source = new OsdpReaderInput(bus, rd.address, { wiegand: input.wiegand });
      source.onCondition((c) => {
        const detail =
          c.kind === 'tamper'
            ? c.active
              ? 'tamper'
              : 'tamper cleared'
            : c.active
              ? 'power failure'
              : 'power restored';
        log.warn({ source: source.name, door: rd.door, detail }, 'OSDP reader report');
        journal.append({
          type: c.kind === 'tamper' ? 'input.tamper' : 'input.power',
          source: source.name,
          door: rd.door,
          detail,
        });
      });
      inputs.push(
        new InputController(
          source,
          rd.door,
          pipeline,
          journal,
          clock,
          log,
          keypadConfig,
          lockoutConfig,
          lockoutPersistence,
        ),
      );
    }
  }
  // A door's alarm sounds on the inputs at that door that have a beeper.
  for (const [doorId, door] of doors) {
    const at = inputs.filter((i) => i.door === doorId);
    door.onAlarm((on) => at.forEach((i) => i.source.feedback(on ? 'alarm' : 'alarm_off')));
  }
  const startedAt = new Date(clock.now()).toISOString();
  let cloud: RunningDaemon['cloud'];
  const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
  const status = (): DeviceStatus => ({
    online: true,
    version: options.version ?? 'unknown',
    seq: cloud?.sync.seq ?? Number(site.store.getMeta('sync.seq') ?? '0'),
    passes: site.store.counts().passes,
    outbox: site.store.outboxDepth(),
    startedAt,
    inputs: Object.fromEntries(
      inputs.map((i) => {
        const st = i.status();
        return [
          st.name,
          {
            online: st.online,
            door: st.door,
            lastSeenAt: st.lastSeenAt === null ? null : new Date(st.lastSeenAt).toISOString(),
            lockedOut: st.lockedOut,
            lockouts: st.lockouts,
          },
        ];
      }),
    ),
    doors: Object.fromEntries(
      [...doors].map(([id, d]) => [
        id,
        { open: d.snapshot.open, forced: d.snapshot.forced, heldOpen: d.snapshot.heldAlarm },
      ]),
    ),
    clock: clockGuard.status(),
    storage: ((st, health) => ({
      writable: st.writable,
      since: iso(st.since),
      pendingEvents: st.pendingEvents,
      droppedEvents: st.droppedEvents,
      cache: health.cache.state,
      journal: health.journal.state,
    }))(storage.status(), site.store.health()),
    ...(cloud && {
      rejected: cloud.agent.rejected,
      passesRejected: cloud.sync.counters.passesRejected,
      dropped: cloud.uploader.counters.dropped,
    }),
  });
  if (config.mqtt !== undefined && config.cloud !== undefined) {
    const t = topics(config.site.id, config.device.id);
    const m = config.mqtt;
    const link = new MqttCloudLink(
      {
        url: m.url,
        clientId: m.clientId ?? `doorpass-${config.site.id}-${config.device.id}`,
        keepaliveSeconds: m.keepaliveSeconds,
        sessionExpirySeconds: m.sessionExpirySeconds,
        subscribe: [t.passes, t.snapshot, t.commands],
        will: { topic: t.status, payload: OFFLINE_STATUS },
        publicKey: loadPublicKey(config.cloud.publicKeyFile),
        ...(m.username !== undefined && { username: m.username }),
        ...(m.passwordFile !== undefined && { passwordFile: m.passwordFile }),
        ...(m.caFile !== undefined && { caFile: m.caFile }),
        ...(m.certFile !== undefined && { certFile: m.certFile }),
        ...(m.keyFile !== undefined && { keyFile: m.keyFile }),
      },
      clock,
      log,
    );
    const policy = { maxValidityMs: config.site.maxPassDays * 86_400_000 };
    const sync = new PassSync(
      site.store,
      site.hasher,
      () => policy,
      clock,
      log,
      (have) => {
        link.publish(t.syncRequest, JSON.stringify({ have }), { qos: 1 }).catch((err: unknown) => {
          log.debug(
            { err: (err as Error).message },
            'sync request not sent (offline); sent again on connect',
          );
        });
      },
    );
    const uploader = new EventUploader(site.store, link, journal, clock, log, {
      topic: t.events,
      batchSize: config.outbox.batchSize,
      maxOutbox: config.outbox.maxEvents,
      keepUploaded: config.outbox.keepUploaded,
    });
    const agent = new CloudAgent(link, t, sync, site.store, doors, journal, clock, log, status, {
      device: config.device.id,
      requireBinding: config.cloud.requireBinding,
      maxMessageAgeMs: config.cloud.maxMessageAgeHours * 3_600_000,
    });
    link.onReject = (reason, topic, detail) => agent.reject(reason, topic, detail);
    agent.clockTrusted = () => clockGuard.untrusted() === undefined;
    agent.raiseClockFloor = (at) => clockGuard.raiseFloor(at);
    journal.onAppend = () => uploader.kick();
    pipeline.onDecision = () => uploader.kick();
    cloud = { link, sync, uploader, agent };
    storage.onAppend = () => uploader.kick();
    storage.onCacheRebuilt = () => sync.requestResync(true);
    // A cache rebuilt after corruption (now or by an earlier run) asks for everything (have = 0).
    if (site.store.health().cache.state === 'rebuilt') sync.requestResync(true);
    agent.start();
    // Tables left by an apply interrupted earlier (a crash, a killed `passes import`) go, in small steps.
    sync.collectGarbage();
    uploader.start();
    link.start();
  }
  clockGuard.start();
  for (const input of inputs) input.source.start(input);
  const localStatus = (): LocalStatus => {
    const now = clock.now();
    const counts = site.store.counts();
    return {
      site: config.site.id,
      device: config.device.id,
      version: options.version ?? 'unknown',
      pid: process.pid,
      startedAt,
      uptimeS: Math.round((now - Date.parse(startedAt)) / 1000),
      inputs: inputs.map((i) => {
        const st = i.status();
        return { ...st, lastSeenAt: iso(st.lastSeenAt) };
      }),
      doors: [...doors].map(([id, d]) => {
        const sn = d.snapshot;
        const state =
          sn.open === null
            ? 'unknown'
            : !sn.open
              ? 'closed'
              : sn.forced
                ? 'forced'
                : sn.heldAlarm
                  ? 'held open'
                  : 'open';
        return { id, state };
      }),
      broker: {
        configured: cloud !== undefined,
        connected: cloud?.link.connected ?? false,
        url: config.mqtt?.url ?? null,
        lastError: cloud?.link.lastError ?? null,
      },
      sync: {
        seq: cloud?.sync.seq ?? Number(site.store.getMeta('sync.seq') ?? '0'),
        lastAppliedAt: iso(cloud?.sync.counters.lastAppliedAt ?? null),
        rejected: Object.fromEntries(
          Object.entries(cloud?.agent.rejected ?? {}).map(([k, v]) => [k, v ?? 0]),
        ),
        newestIssuedAt: iso(cloud?.agent.newestIssuedAt ?? null),
        unbound: cloud?.agent.unbound ?? 0,
      },
      bridges: [...links].map(([path, l]) => ({
        path,
        framesIn: l.counters.framesIn,
        discarded: Object.fromEntries(Object.entries(l.counters.discarded).map(([k, v]) => [k, v ?? 0])),
      })),
      passes: { active: site.store.activeCount(now), total: counts.passes },
      outbox: {
        depth: site.store.outboxDepth(),
        dropped: cloud?.uploader.counters.dropped ?? 0,
        uploaded: cloud?.uploader.counters.uploaded ?? 0,
      },
      storage: ((st) => ({ ...st, since: iso(st.since) }))(storage.status()),
      ...((h) => ({
        cache: { ...h.cache, since: iso(h.cache.since) },
        journal: { ...h.journal, since: iso(h.journal.since) },
      }))(site.store.health()),
      clock: clockGuard.status(),
      recent: pipeline.recent.map((r) => ({ ...r, at: new Date(r.at).toISOString() })),
    };
  };
  const statusServer = new StatusServer(statusSocketPath(config), localStatus, log);
  statusServer.start().catch((err: unknown) => {
    log.warn({ err: (err as Error).message, socket: statusServer.socketPath }, 'status socket unavailable');
  });
  const notifier = options.notifier ?? systemdNotifier(log);
  notifier.ready(
    `${site.store.counts().passes} passes, ${config.doors.length} door(s), ${inputs.length} input(s)`,
  );
  const watchdog =
    notifier.watchdogIntervalMs === null
      ? undefined
      : setInterval(() => notifier.watchdog(), notifier.watchdogIntervalMs);
  const statusLine = setInterval(() => {
    const st = localStatus();
    notifier.status(
      `${st.inputs.filter((i) => i.online).length}/${st.inputs.length} inputs online; broker ${st.broker.configured ? (st.broker.connected ? 'connected' : 'offline') : 'not configured'}; outbox ${st.outbox.depth}${st.clock.trusted ? '' : `; clock untrusted (${st.clock.reason})`}`,
    );
  }, 30_000);
  const counts0 = site.store.counts();
  log.info(
    {
      site: config.site.id,
      device: config.device.id,
      timezone: config.site.timezone,
      passes: counts0.passes,
      doors: config.doors.map((d) => d.id),
      inputs: inputs.map((i) => i.source.name),
    },
    'doorpass ready',
  );
  // The daemon lives until it is stopped, even when every input has ended (e.g. console stdin closed).
  const keepAlive = setInterval(() => undefined, 3_600_000);
  let stopping: Promise<void> | undefined;
  return {
    pipeline,
    doors,
    inputs,
    links,
    cloud,
    status,
    localStatus,
    releaseAll: () => {
      for (const d of doors.values()) {
        try {
          d.release();
        } catch {
          // keep releasing the others
        }
      }
    },
    stop: () =>
      (stopping ??= (async () => {
        clearInterval(keepAlive);
        clearInterval(statusLine);
        if (watchdog) clearInterval(watchdog);
        notifier.stopping();
        await statusServer.stop();
        // Relays first (fail-secure), while the bridge links can still carry the release; then inputs.
        for (const d of doors.values()) d.close();
        for (const sn of sensors) sn.stop();
        await Promise.allSettled(inputs.map((i) => i.stop()));
        if (cloud) {
          cloud.uploader.stop();
          cloud.agent.stop();
          await cloud.link.stop({
            topic: topics(config.site.id, config.device.id).status,
            payload: OFFLINE_STATUS,
          });
        }
        clockGuard.stop();
        storage.stop();
        site.close();
        log.info({ decisions: pipeline.decisionCount }, 'doorpass stopped');
      })()),
  };
}
