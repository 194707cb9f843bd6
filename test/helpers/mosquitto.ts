/**
 * A real Mosquitto broker per test, on a free port of 127.0.0.1 (never the system broker on 1883), plus a
 * small MQTT 5 subscriber that records what it receives.
 *
 * Persistence: the broker runs with `persistence true` in its own temp dir and the default-sized autosave
 * (`autosave_interval 1800`), so its database is written on a clean shutdown only. `stop()` (SIGTERM) keeps
 * persistent sessions, subscriptions and queued QoS 1/2 messages for `restart()`; `kill()` (SIGKILL) is a
 * crash: `restart()` then rolls back to the state saved by the last `stop()` (or an empty broker).
 *
 * Cleanup: `stop()`/`kill()` end the process but keep the temp dir (config, certificates, database) so that
 * `restart()` can bring the same broker back; `close()` stops it and removes the dir. Whatever is left is
 * SIGKILLed and removed when the test process exits, and a per-broker watchdog (`sh` reading a pipe from
 * this process) SIGKILLs the broker even if this process is itself killed with SIGKILL.
 */
import { execFile, spawn, spawnSync, type ChildProcess, type ChildProcessByStdio } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';

type QoS = IPublishPacket['qos'];

const run = promisify(execFile);

export interface BrokerOptions {
  /** An `mqtts://` listener with a CA, server and client certificate generated for this broker. */
  tls?: boolean;
  /** With `tls`: clients must present a certificate signed by the broker's CA. */
  requireClientCert?: boolean;
  /** Only this user may connect (a `password_file`, `allow_anonymous false`). */
  auth?: { username: string; password: string };
}

/** File paths, all PEM. */
export interface BrokerCerts {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

export interface Broker {
  /** `mqtt://127.0.0.1:PORT`, or `mqtts://127.0.0.1:PORT` with `tls`. */
  readonly url: string;
  readonly port: number;
  /** The current mosquitto process (a new one after `restart()`). */
  readonly pid: number;
  /** The broker's temp dir: mosquitto.conf, certificates, password file, mosquitto.db. */
  readonly dir: string;
  readonly certs?: BrokerCerts;
  /** Everything the broker wrote to stderr (all runs, most recent last). */
  log(): string;
  /** SIGTERM, wait for the exit: the database is saved, the dir kept for `restart()`. No-op when not running. */
  stop(): Promise<void>;
  /** SIGKILL, wait for the exit: nothing is saved. No-op when not running. */
  kill(): Promise<void>;
  /** Starts the broker again on the same port with the same config (stops it first if running). */
  restart(): Promise<void>;
  /** `stop()` and remove the temp dir. */
  close(): Promise<void>;
}

const START_TIMEOUT_MS = 5000;
const STOP_TIMEOUT_MS = 5000;
const LOG_LIMIT = 2_000_000;

function findBinary(name: string): string | undefined {
  const dirs = [
    ...(process.env['PATH'] ?? '').split(path.delimiter),
    '/usr/sbin',
    '/usr/local/sbin',
    '/sbin',
  ];
  for (const dir of dirs) {
    if (dir !== '' && existsSync(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

// Debian installs the broker in /usr/sbin, which is not on a normal user's PATH.
const MOSQUITTO = findBinary('mosquitto');

export function haveMosquitto(): boolean {
  return (
    MOSQUITTO !== undefined &&
    findBinary('mosquitto_passwd') !== undefined &&
    spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0
  );
}

/** Brokers not yet closed, for the exit handler. */
const live = new Set<{ proc(): ChildProcess | undefined; dir: string }>();
process.on('exit', () => {
  for (const b of live) {
    const p = b.proc();
    if (p?.pid !== undefined && p.exitCode === null && p.signalCode === null) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(b.dir, { recursive: true, force: true });
  }
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error('no port from the OS'))));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(500, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const OPENSSL_CNF = `[req]
distinguished_name = dn
prompt = no
[dn]
CN = doorpass-test
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
`;

/** A CA, a server certificate for 127.0.0.1/localhost and a client certificate, all EC P-256. */
async function makeCerts(dir: string): Promise<BrokerCerts> {
  const f = (name: string): string => path.join(dir, name);
  const cnf = f('openssl.cnf');
  writeFileSync(cnf, OPENSSL_CNF);
  const certs: BrokerCerts = {
    ca: f('ca.crt'),
    serverCert: f('server.crt'),
    serverKey: f('server.key'),
    clientCert: f('client.crt'),
    clientKey: f('client.key'),
  };
  const key = (out: string) =>
    run('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', out]);
  await Promise.all([key(f('ca.key')), key(certs.serverKey), key(certs.clientKey)]);
  await run('openssl', [
    'req',
    '-x509',
    '-new',
    '-config',
    cnf,
    '-extensions',
    'ca',
    '-key',
    f('ca.key'),
    '-subj',
    '/CN=doorpass test CA',
    '-days',
    '2',
    '-out',
    certs.ca,
  ]);
  const sign = async (
    name: 'server' | 'client',
    cn: string,
    keyFile: string,
    out: string,
    serial: string,
  ) => {
    const csr = f(`${name}.csr`);
    await run('openssl', ['req', '-new', '-config', cnf, '-key', keyFile, '-subj', `/CN=${cn}`, '-out', csr]);
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      certs.ca,
      '-CAkey',
      f('ca.key'),
      '-set_serial',
      serial,
      '-days',
      '2',
      '-extfile',
      cnf,
      '-extensions',
      name,
      '-out',
      out,
    ]);
  };
  await Promise.all([
    sign('server', 'localhost', certs.serverKey, certs.serverCert, '2'),
    sign('client', 'doorpass-test-client', certs.clientKey, certs.clientCert, '3'),
  ]);
  return certs;
}

function configText(port: number, dir: string, options: BrokerOptions, certs?: BrokerCerts): string {
  const lines = [
    '# Generated by test/helpers/mosquitto.ts',
    // Run as root, mosquitto would switch to the "mosquitto" user, which cannot read this 0700 dir.
    ...(process.getuid?.() === 0 ? [`user ${userInfo().username}`] : []),
    'per_listener_settings false',
    options.auth ? 'allow_anonymous false' : 'allow_anonymous true',
    ...(options.auth ? [`password_file ${path.join(dir, 'passwd')}`] : []),
    'persistence true',
    `persistence_location ${dir}${path.sep}`,
    'persistence_file mosquitto.db',
    '# Saved on a clean shutdown (SIGTERM) only within a test: a SIGKILL loses what changed since.',
    'autosave_interval 1800',
    'max_queued_messages 100000',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
    'log_type subscribe',
    'log_type unsubscribe',
    'connection_messages true',
    `listener ${port} 127.0.0.1`,
  ];
  if (certs) {
    lines.push(
      `cafile ${certs.ca}`,
      `certfile ${certs.serverCert}`,
      `keyfile ${certs.serverKey}`,
      `require_certificate ${options.requireClientCert === true ? 'true' : 'false'}`,
      'tls_version tlsv1.2',
    );
  }
  return lines.join('\n') + '\n';
}

export async function startBroker(options: BrokerOptions = {}): Promise<Broker> {
  if (MOSQUITTO === undefined) throw new Error('mosquitto is not installed (scripts/test.sh installs it)');
  const bin = MOSQUITTO;
  const dir = mkdtempSync(path.join(tmpdir(), 'doorpass-mosquitto-'));
  const confFile = path.join(dir, 'mosquitto.conf');
  let logChunks: string[] = [];
  let logSize = 0;
  const appendLog = (s: string): void => {
    logChunks.push(s);
    logSize += s.length;
    if (logSize > LOG_LIMIT) {
      const all = logChunks.join('').slice(-LOG_LIMIT / 2);
      logChunks = [all];
      logSize = all.length;
    }
  };
  const log = (): string => logChunks.join('');

  let proc: ChildProcessByStdio<null, null, Readable> | undefined;
  const entry = { proc: () => proc, dir };
  live.add(entry);

  try {
    if (options.auth) {
      await run('mosquitto_passwd', [
        '-b',
        '-c',
        path.join(dir, 'passwd'),
        options.auth.username,
        options.auth.password,
      ]);
    }
    const certs = options.tls === true ? await makeCerts(dir) : undefined;

    const running = (): boolean => proc !== undefined && proc.exitCode === null && proc.signalCode === null;

    const waitExit = async (p: ChildProcess, ms: number): Promise<boolean> => {
      if (p.exitCode !== null || p.signalCode !== null) return true;
      p.ref();
      try {
        return await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), ms);
          p.once('exit', () => {
            clearTimeout(timer);
            resolve(true);
          });
        });
      } finally {
        p.unref();
      }
    };

    /** Spawns mosquitto on `port` and waits until it accepts TCP connections. */
    const launch = async (port: number): Promise<void> => {
      writeFileSync(confFile, configText(port, dir, options, certs));
      appendLog(`--- doorpass test helper: starting mosquitto on port ${port} ---\n`);
      const logStart = log().length;
      const p = spawn(bin, ['-c', confFile], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
      proc = p;
      p.stderr.setEncoding('utf8');
      p.stderr.on('data', (s: string) => appendLog(s));
      const pid = p.pid;
      if (pid !== undefined) {
        // If this process dies without running exit handlers, the pipe closes and the watchdog kills the broker.
        const dog = spawn('sh', ['-c', `read _ignored; kill -9 ${pid} 2>/dev/null`], {
          stdio: ['pipe', 'ignore', 'ignore'],
        });
        dog.unref();
        if (dog.stdin instanceof net.Socket) dog.stdin.unref();
        dog.on('error', () => undefined);
        p.once('exit', () => dog.kill('SIGKILL'));
      }
      p.on('error', (err) => appendLog(`spawn error: ${err.message}\n`));
      p.unref();
      if (p.stderr instanceof net.Socket) p.stderr.unref();

      const deadline = Date.now() + START_TIMEOUT_MS;
      for (;;) {
        if (p.exitCode !== null || p.signalCode !== null || pid === undefined) {
          await sleep(20); // let the last stderr arrive
          throw new Error(`mosquitto exited (${p.exitCode ?? p.signalCode ?? 'no pid'}) on start:\n${log()}`);
        }
        // A connect alone could reach something else that took the port: also wait for mosquitto's word.
        if (/ running\b/.test(log().slice(logStart)) && (await canConnect(port))) return;
        if (Date.now() > deadline) {
          p.kill('SIGKILL');
          await waitExit(p, STOP_TIMEOUT_MS);
          throw new Error(
            `mosquitto did not accept connections on port ${port} within ${START_TIMEOUT_MS} ms:\n${log()}`,
          );
        }
        await sleep(25);
      }
    };

    const terminate = async (signal: 'SIGTERM' | 'SIGKILL'): Promise<void> => {
      const p = proc;
      if (p === undefined || !running() || p.pid === undefined) return;
      process.kill(p.pid, signal);
      if (await waitExit(p, STOP_TIMEOUT_MS)) return;
      appendLog(`--- doorpass test helper: no exit ${STOP_TIMEOUT_MS} ms after ${signal}, SIGKILL ---\n`);
      process.kill(p.pid, 'SIGKILL');
      await waitExit(p, STOP_TIMEOUT_MS);
    };

    // The port may be taken between probing and binding: try a few.
    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      try {
        await launch(port);
        break;
      } catch (err) {
        if (attempt >= 3 || !log().includes('Address already in use')) throw err;
      }
    }

    const stop = (): Promise<void> => terminate('SIGTERM');
    return {
      url: `${certs ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`,
      port,
      get pid(): number {
        return proc?.pid ?? -1;
      },
      dir,
      ...(certs && { certs }),
      log,
      stop,
      kill: () => terminate('SIGKILL'),
      restart: async () => {
        await stop();
        await launch(port);
      },
      close: async () => {
        await stop();
        live.delete(entry);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    const p = proc;
    if (p?.pid !== undefined && p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    live.delete(entry);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** `ca` (and by default the client `cert`/`key`) for connecting to a TLS broker with the mqtt package. */
export function tlsClientOptions(
  broker: Broker,
  withClientCert = true,
): Pick<IClientOptions, 'ca' | 'cert' | 'key'> {
  const certs = broker.certs;
  if (certs === undefined) return {};
  const read = (file: string): Buffer => readFileSync(file);
  return withClientCert
    ? { ca: read(certs.ca), cert: read(certs.clientCert), key: read(certs.clientKey) }
    : { ca: read(certs.ca) };
}

export interface Received {
  topic: string;
  payload: Buffer;
  /** MQTT 5 publish properties, including `userProperties` (empty object when none). */
  properties: NonNullable<IPublishPacket['properties']>;
  retain: boolean;
  qos: QoS;
}

export interface CollectOptions extends IClientOptions {
  /** Subscription QoS (default 1). */
  qos?: QoS;
  /**
   * A persistent session: a fixed client id, `clean: false` and a session expiry of an hour, so that messages
   * published while the collector is disconnected (e.g. during a broker restart) are queued for it.
   */
  persistent?: boolean;
}

export interface Collector {
  readonly client: MqttClient;
  /** Every message received, in arrival order. */
  readonly messages: readonly Received[];
  /** Client errors seen (they are recorded, not thrown). */
  readonly errors: readonly Error[];
  /**
   * The first message matching `pred` not already returned by `next()`, received so far or within
   * `timeoutMs` (default 5000). A predicate that throws counts as no match.
   */
  next(pred?: (m: Received) => boolean, timeoutMs?: number): Promise<Received>;
  close(): Promise<void>;
}

let collectors = 0;

/** An MQTT 5 subscriber to `topic` that records every message; resolves once the subscription is granted. */
export async function collect(
  url: string,
  topic: string | string[],
  options: CollectOptions = {},
): Promise<Collector> {
  const { qos = 1, persistent = false, ...clientOptions } = options;
  const opts: IClientOptions = {
    protocolVersion: 5,
    reconnectPeriod: 200,
    connectTimeout: 5000,
    ...(persistent && {
      clientId: `doorpass-collect-${process.pid}-${++collectors}-${Date.now().toString(36)}`,
      clean: false,
    }),
    ...clientOptions,
  };
  if (persistent) opts.properties = { sessionExpiryInterval: 3600, ...clientOptions.properties };

  const messages: Received[] = [];
  const errors: Error[] = [];
  const taken = new Set<Received>();
  const waiters: { pred: (m: Received) => boolean; resolve: (m: Received) => void }[] = [];
  const matches = (pred: (m: Received) => boolean, m: Received): boolean => {
    try {
      return pred(m);
    } catch {
      return false;
    }
  };

  const client = mqtt.connect(url, opts);
  client.on('error', (err) => errors.push(err));
  client.on('message', (t, payload, packet) => {
    const m: Received = {
      topic: t,
      payload,
      properties: packet.properties ?? {},
      retain: packet.retain,
      qos: packet.qos,
    };
    messages.push(m);
    const i = waiters.findIndex((w) => matches(w.pred, m));
    if (i >= 0) {
      const [w] = waiters.splice(i, 1);
      taken.add(m);
      w?.resolve(m);
    }
  });

  try {
    await new Promise<void>((resolve, reject) => {
      const onConnect = (): void => {
        cleanup();
        resolve();
      };
      const onError = (err: Error): void => {
        cleanup();
        reject(err);
      };
      const onClose = (): void => {
        cleanup();
        reject(
          new Error(`collect: could not connect to ${url}${errors.length ? `: ${errors.join('; ')}` : ''}`),
        );
      };
      const cleanup = (): void => {
        client.off('connect', onConnect);
        client.off('error', onError);
        client.off('close', onClose);
      };
      client.on('connect', onConnect);
      client.on('error', onError);
      client.on('close', onClose);
    });
    const granted = await client.subscribeAsync(topic, { qos });
    const refused = granted.filter((g) => g.qos === 128 || (typeof g.qos === 'number' && g.qos > 2));
    if (refused.length > 0) throw new Error(`collect: subscription refused: ${JSON.stringify(granted)}`);
  } catch (err) {
    client.end(true);
    throw err;
  }

  return {
    client,
    messages,
    errors,
    next: (pred = () => true, timeoutMs = 5000) => {
      const have = messages.find((m) => !taken.has(m) && matches(pred, m));
      if (have) {
        taken.add(have);
        return Promise.resolve(have);
      }
      return new Promise<Received>((resolve, reject) => {
        const waiter = {
          pred,
          resolve: (m: Received) => {
            clearTimeout(timer);
            resolve(m);
          },
        };
        const timer = setTimeout(() => {
          const i = waiters.indexOf(waiter);
          if (i >= 0) waiters.splice(i, 1);
          reject(
            new Error(
              `collect(${JSON.stringify(topic)}): no matching message within ${timeoutMs} ms ` +
                `(${messages.length} received: ${messages
                  .slice(-5)
                  .map((m) => `${m.topic} ${m.payload.toString().slice(0, 200)}`)
                  .join(' | ')})`,
            ),
          );
        }, timeoutMs);
        waiters.push(waiter);
      });
    },
    close: async () => {
      await Promise.race([client.endAsync(!client.connected), sleep(2000).then(() => client.end(true))]);
    },
  };
}
