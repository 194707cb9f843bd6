/**
 * Key-in to RELAY-out over a real pty pair (socat): the bench plays the bridge, types a PIN as KEY frames
 * and times the last key (#) to the RELAY frame the daemon sends back, through the whole daemon (keypad
 * entry, decision, durable commit, relay). Baseline: one byte echoed over the same pty pair.
 *
 *   bridge.key_to_relay.p50/p99   vs pty.echo.p50/p99
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { SerialPort } from 'serialport';
import { createLogger, openSite, startDaemon } from '../src/app/compose.js';
import { loadConfig } from '../src/app/config.js';
import { importSnapshot } from '../src/app/import.js';
import { Deframer, encodeFrame, nextSeq, type BridgeMessage } from '../src/protocol/bridge.js';
import { sleep, withPtyPair } from './pty.js';
import { emit, log, nowNs, percentile } from './stats.js';

const ENTRIES = 1000;
const WARMUP = 50;
const PIN = '246810';

async function openPort(p: string): Promise<SerialPort> {
  const port = new SerialPort({ path: p, baudRate: 115200, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
  return port;
}

function sortedCopy(values: number[]): Float64Array {
  return Float64Array.from(values).sort();
}

/** Baseline: a byte from the device end, echoed by the host end, back at the device end. */
async function measureEcho(host: string, device: string): Promise<Float64Array> {
  const a = await openPort(device);
  const b = await openPort(host);
  b.on('data', (d: Buffer) => b.write(d));
  const rtt: number[] = [];
  for (let i = 0; i < ENTRIES + WARMUP; i++) {
    const t0 = nowNs();
    await new Promise<void>((resolve) => {
      a.once('data', () => resolve());
      a.write(Buffer.from([0x55]));
    });
    if (i >= WARMUP) rtt.push(nowNs() - t0);
  }
  await new Promise<void>((r) => a.close(() => r()));
  await new Promise<void>((r) => b.close(() => r()));
  return sortedCopy(rtt);
}

export async function benchBridge(): Promise<void> {
  await withPtyPair('bridge.key_to_relay', async ({ dir, host, device }) => {
    const echo = await measureEcho(host, device);

    const configFile = path.join(dir, 'doorpass.yaml');
    writeFileSync(
      configFile,
      `site: { id: bench, timezone: UTC }
device: { id: bench-door }
storage: { dir: ${JSON.stringify(path.join(dir, 'state'))} }
doors: [ { id: lobby, relay: { type: bridge, channel: 1, pulseMs: 3000 } } ]
inputs: [ { type: bridge, path: ${JSON.stringify(host)}, door: lobby } ]
log: { level: silent }
`,
    );
    const loaded = loadConfig(configFile);
    const site = openSite(loaded);
    const now = Date.now();
    importSnapshot(
      site.store,
      site.hasher,
      {
        passes: [
          {
            id: 'bench',
            version: 1,
            kind: 'visitor',
            name: 'Bench',
            issuer: { id: 'i', name: 'I' },
            credentials: [{ type: 'pin', value: PIN }],
            doors: '*',
            validFrom: new Date(now - 86_400_000).toISOString(),
            validUntil: new Date(now + 86_400_000).toISOString(),
            repeat: { mode: 'never' },
          },
        ],
        accessGroups: [],
      },
      { policy: { maxValidityMs: 366 * 86_400_000 }, now },
    );
    site.close();
    const daemon = startDaemon(loaded, { logger: createLogger('silent') });
    const port = await openPort(device);
    port.on('error', (err: Error) => log(`bench bridge port: ${err.message}`));
    const deframer = new Deframer({ direction: 'host->bridge' });
    let seq = 0;
    const send = (m: BridgeMessage): void => {
      port.write(Buffer.from(encodeFrame(seq, m)));
      seq = nextSeq(seq);
    };
    let onRelay: (() => void) | undefined;
    port.on('data', (chunk: Buffer) => {
      for (const r of deframer.push(new Uint8Array(chunk))) {
        if (r.kind !== 'frame') continue;
        send({ type: 'ack', seq: r.seq });
        if (r.message.type === 'relay' && r.message.ms > 0) onRelay?.();
      }
    });
    send({ type: 'hello', protocol: 1, firmware: 'bench' });
    await sleep(200);
    const latency: number[] = [];
    for (let i = 0; i < ENTRIES + WARMUP; i++) {
      for (const k of PIN) send({ type: 'key', key: k as '0' });
      await sleep(1); // the digits are in; time the submit alone
      const t0 = nowNs();
      await new Promise<void>((resolve) => {
        onRelay = resolve;
        send({ type: 'key', key: '#' });
      });
      if (i >= WARMUP) latency.push(nowNs() - t0);
    }
    onRelay = undefined;
    await new Promise<void>((r) => port.close(() => r()));
    await daemon.stop();
    const keyToRelay = sortedCopy(latency);
    log(`bridge: ${ENTRIES} PIN entries over a pty`);
    emit(
      'bridge.key_to_relay.p50',
      percentile(keyToRelay, 50) / 1e3,
      'us',
      'pty.echo.p50',
      percentile(echo, 50) / 1e3,
    );
    emit(
      'bridge.key_to_relay.p99',
      percentile(keyToRelay, 99) / 1e3,
      'us',
      'pty.echo.p99',
      percentile(echo, 99) / 1e3,
    );
  });
}
