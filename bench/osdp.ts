/**
 * OSDP over a real pty pair (socat) at 115200 baud: a minimal plain-mode reader played here answers the panel.
 *
 *   osdp.poll_rtt.p50/p99          POLL → ACK round trip, as the bus driver times it   vs osdp.wire_time.poll
 *   osdp.card_to_relay.p50/p99     card at the reader → OUT (relay) back at the reader,
 *                                  through the whole daemon (poll wait included)        vs osdp.wire_time.card
 *
 * The baselines are the wire time of the same bytes at 115200 baud, 10 bits a byte. A pty does not pace
 * bytes at the baud rate, so a ratio below 1 is possible: the figure then shows software overhead only.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { SerialPort } from 'serialport';
import { OsdpBus } from '../src/adapters/osdp/bus.js';
import { createLogger, openSite, startDaemon } from '../src/app/compose.js';
import { loadConfig } from '../src/app/config.js';
import { importSnapshot } from '../src/app/import.js';
import { systemClock } from '../src/app/relay.js';
import { CMD, REPLY } from '../src/protocol/osdp/messages.js';
import { buildPacket, PacketParser } from '../src/protocol/osdp/packet.js';
import { encodeWiegand } from '../src/protocol/wiegand.js';
import { sleep, withPtyPair } from './pty.js';
import { emit, nowNs, percentile } from './stats.js';

const BAUD = 115200;
const POLLS = 2000;
const CARDS = 200;
const wireMs = (bytes: number): number => (bytes * 10 * 1000) / BAUD;

/** A plain-mode reader at address 1: ACKs everything, reports a queued card on the next POLL. */
class BenchReader {
  private readonly parser = new PacketParser();
  private last: { sqn: number; reply: Uint8Array } = { sqn: -1, reply: new Uint8Array(0) };
  card: Uint8Array | undefined;
  onOut: (() => void) | undefined;
  constructor(private readonly port: SerialPort) {
    port.on('data', (chunk: Buffer) => {
      for (const r of this.parser.push(chunk))
        if (r.kind === 'packet' && !r.packet.reply) this.answer(r.packet);
    });
  }
  private answer(p: { sqn: number; code: number; crc: boolean; address: number }): void {
    if (p.address !== 1) return;
    if (p.sqn !== 0 && p.sqn === this.last.sqn) {
      this.port.write(this.last.reply);
      return;
    }
    let code: number = REPLY.ACK;
    let data: Uint8Array = new Uint8Array(0);
    if (p.code === CMD.ID) [code, data] = [REPLY.PDID, new Uint8Array(12)];
    else if (p.code === CMD.LSTAT) [code, data] = [REPLY.LSTATR, new Uint8Array(2)];
    else if (p.code === CMD.ISTAT) [code, data] = [REPLY.ISTATR, new Uint8Array(4)];
    else if (p.code === CMD.OSTAT) [code, data] = [REPLY.OSTATR, new Uint8Array(2)];
    else if (p.code === CMD.POLL && this.card !== undefined) {
      [code, data] = [REPLY.RAW, this.card];
      this.card = undefined;
    } else if (p.code === CMD.OUT) this.onOut?.();
    const reply = buildPacket({ address: 1, reply: true, sqn: p.sqn, crc: p.crc, code, data });
    this.last = { sqn: p.sqn, reply };
    this.port.write(reply);
  }
}

async function openPort(p: string): Promise<SerialPort> {
  const port = new SerialPort({ path: p, baudRate: BAUD, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
  return port;
}

export async function benchOsdp(): Promise<void> {
  await withPtyPair('osdp', async ({ dir, host, device }) => {
    const port = await openPort(device);
    const reader = new BenchReader(port);

    // 1. POLL round trips, back to back, timed by the bus driver itself.
    const rtts: number[] = [];
    const bus = new OsdpBus(
      {
        path: host,
        baudRate: BAUD,
        readers: [{ address: 1, secure: false }],
        pollIntervalMs: 0,
        onRoundTrip: (_a, ms) => rtts.push(ms),
      },
      systemClock,
      createLogger('silent'),
    );
    bus.start();
    while (rtts.length < POLLS + 100) await sleep(20);
    await bus.stop();
    const polls = Float64Array.from(rtts.slice(100)).sort();
    // POLL (8 bytes with CRC) + ACK (8 bytes).
    const pollWire = wireMs(16);
    emit('osdp.poll_rtt.p50', percentile(polls, 50), 'ms', 'osdp.wire_time.poll', pollWire);
    emit('osdp.poll_rtt.p99', percentile(polls, 99), 'ms', 'osdp.wire_time.poll', pollWire);

    // 2. Card to relay through the daemon.
    const configFile = path.join(dir, 'doorpass.yaml');
    writeFileSync(
      configFile,
      `site: { id: bench, timezone: UTC }
device: { id: bench-door }
storage: { dir: ${JSON.stringify(path.join(dir, 'state'))} }
doors: [ { id: lobby, relay: { type: osdp, reader: 1, output: 0, pulseMs: 3000 } } ]
inputs: [ { type: osdp, path: ${JSON.stringify(host)}, baudRate: ${BAUD}, readers: [ { address: 1, door: lobby, secure: false } ] } ]
log: { level: silent }
`,
    );
    const loaded = loadConfig(configFile);
    const now = Date.now();
    const site = openSite(loaded);
    importSnapshot(
      site.store,
      site.hasher,
      {
        passes: [
          {
            id: 'bench-card',
            version: 1,
            kind: 'visitor',
            name: 'Bench',
            issuer: { id: 'bench', name: 'Bench' },
            credentials: [{ type: 'card', value: String(42 * 65536 + 1234) }],
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
    const w = encodeWiegand('h10301', 42, 1234);
    const raw = new Uint8Array(4 + w.data.length);
    raw.set([0, 1, w.bitCount & 0xff, w.bitCount >> 8]);
    raw.set(w.data, 4);
    await sleep(500); // ID, CAP, status: online
    const latencies: number[] = [];
    for (let i = 0; i < CARDS + 10; i++) {
      const t0 = nowNs();
      await new Promise<void>((resolve) => {
        reader.onOut = resolve;
        reader.card = raw;
      });
      if (i >= 10) latencies.push((nowNs() - t0) / 1e6);
      await sleep(5);
    }
    await daemon.stop();
    port.close();
    const cards = Float64Array.from(latencies).sort();
    // POLL 8 + RAW (8 + 4 + 4 data) 16 + OUT (8 + 4) 12 + ACK 8.
    const cardWire = wireMs(44);
    emit('osdp.card_to_relay.p50', percentile(cards, 50), 'ms', 'osdp.wire_time.card', cardWire);
    emit('osdp.card_to_relay.p99', percentile(cards, 99), 'ms', 'osdp.wire_time.card', cardWire);
  });
}
