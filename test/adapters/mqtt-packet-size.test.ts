/**
 * The Maximum Packet Size on the device's side. The broker is asked not to send larger packets (CONNECT
 * property; test/integration/mqtt-binding.test.ts shows Mosquitto honouring it); here the broker is hostile
 * — it ignores the limit, as a rogue broker or a man in the middle of a plain connection would — and the link
 * must drop the connection from the packet's header, before the body is read into memory.
 */
import t from 'tap';
import net from 'node:net';
import { generateKeyPairSync } from 'node:crypto';
import { MqttCloudLink } from '../../src/adapters/mqtt/link.js';
import { systemClock } from '../../src/app/relay.js';
import { MAX_PACKET_BYTES, PacketSizeGuard } from '../../src/protocol/mqtt.js';
import { recordingLogger } from '../helpers/fakes.js';

/** MQTT Remaining Length (variable byte integer). */
function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

t.test('PacketSizeGuard follows the framing across chunk boundaries and trips on the header alone', (t) => {
  const small = Buffer.from([0x30, ...varint(5), 0, 1, 0x61, 0x62, 0x63]); // a 7-byte publish
  const ping = Buffer.from([0xd0, 0x00]); // PINGRESP: no body
  const g = new PacketSizeGuard(100);
  const stream = Buffer.concat([small, ping, small, ping]);
  for (let i = 0; i < stream.length; i++) t.equal(g.push(stream.subarray(i, i + 1)), undefined);
  t.equal(g.push(Buffer.concat([small, ping])), undefined, 'whole packets in one chunk');
  t.equal(g.push(Buffer.from([0x30, ...varint(100)])), 102, 'a 102-byte packet announced: trips');
  const split = new PacketSizeGuard(100);
  t.equal(split.push(Buffer.from([0x30, 0xff])), undefined, 'the varint is incomplete');
  t.equal(split.push(Buffer.from([0x7f])), 1 + 2 + 16383, 'completed in the next chunk');
  t.equal(
    new PacketSizeGuard(100).push(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff])),
    Infinity,
    'a 5-byte Remaining Length is malformed',
  );
  const exact = new PacketSizeGuard(7);
  t.equal(exact.push(small), undefined, 'a packet of exactly the maximum passes');
  t.end();
});

t.test(
  'a broker that ignores the Maximum Packet Size: the link drops the connection before the body is read',
  async (t) => {
    const ANNOUNCED = 200 * 1024 * 1024;
    const CHUNK = Buffer.alloc(1024 * 1024, 0x41);
    let sent = 0;
    let connectSeen: Buffer | undefined;
    let allSent: () => void = () => undefined;
    const finished = new Promise<void>((r) => (allSent = r));
    const server = net.createServer((socket) => {
      socket.on('error', () => undefined);
      socket.once('data', (connect) => {
        connectSeen = connect;
        socket.write(Buffer.from([0x20, 0x03, 0x00, 0x00, 0x00])); // CONNACK, success, no properties
        const topic = Buffer.from('doorpass/v1/tower-a/passes');
        const header = Buffer.from([0x30, ...varint(ANNOUNCED), topic.length >> 8, topic.length & 0xff]);
        socket.write(Buffer.concat([header, topic, Buffer.from([0x00])]));
        const pump = (): void => {
          while (!socket.destroyed && sent < ANNOUNCED) {
            sent += CHUNK.length;
            if (!socket.write(CHUNK)) {
              socket.once('drain', pump);
              return;
            }
          }
          if (sent >= ANNOUNCED) allSent(); // the whole packet went out: nothing stopped it
        };
        pump();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.teardown(() => new Promise<void>((r) => server.close(() => r())));
    const port = (server.address() as net.AddressInfo).port;
    const { publicKey } = generateKeyPairSync('ed25519');
    const link = new MqttCloudLink(
      {
        url: `mqtt://127.0.0.1:${port}`,
        clientId: 'size-test',
        keepaliveSeconds: 30,
        sessionExpirySeconds: 60,
        subscribe: ['doorpass/v1/tower-a/passes'],
        will: { topic: 'doorpass/v1/tower-a/devices/x/status', payload: '{"online":false}' },
        publicKey,
        reconnectMinMs: 60_000,
      },
      systemClock,
      recordingLogger(),
    );
    const rejected: string[] = [];
    const dropped = new Promise<void>((resolve) => {
      link.onReject = (reason, _topic, detail) => {
        rejected.push(`${reason}: ${detail}`);
        resolve();
      };
    });
    const before = process.memoryUsage().arrayBuffers;
    link.start();
    await Promise.race([dropped, finished]);
    await new Promise((r) => setTimeout(r, 200));
    const grown = process.memoryUsage().arrayBuffers - before;
    await link.stop();
    t.ok(
      connectSeen?.includes(Buffer.from([0x27, ...[0, 0x41, 0, 0]])),
      'CONNECT carries Maximum Packet Size',
    );
    t.match(rejected, [/too_large: the broker announced a \d+-byte packet/]);
    t.ok(
      sent < ANNOUNCED / 4,
      `the connection was dropped after ${(sent / 1048576).toFixed(0)} MiB of a ${ANNOUNCED / 1048576} MiB packet`,
    );
    t.ok(grown < 32 * 1024 * 1024, `buffers grew by ${(grown / 1048576).toFixed(1)} MiB`);
    t.equal(link.counters.received, 0, 'nothing was delivered');
    t.equal(MAX_PACKET_BYTES, 0x00410000);
  },
);
