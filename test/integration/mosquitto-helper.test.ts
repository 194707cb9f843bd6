/** The test helper's own tests: a real Mosquitto per test, plain, persistent across restarts, TLS, auth. */
import t, { type Test } from 'tap';
import { existsSync } from 'node:fs';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { collect, haveMosquitto, startBroker, tlsClientOptions, type Broker } from '../helpers/mosquitto.js';

if (!haveMosquitto()) {
  t.fail('mosquitto is not installed (scripts/test.sh installs it)');
  t.end();
}

/** Connects without retrying: resolves on CONNACK, rejects on the first error or close. */
function connect(url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(
    url,
    { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 3000, ...opts },
    false,
  );
}

async function publish(
  url: string,
  topic: string,
  payload: string,
  opts: IClientOptions = {},
): Promise<void> {
  const c = await connect(url, opts);
  await c.publishAsync(topic, payload, { qos: 1 });
  await c.endAsync();
}

async function started(t: Test, options?: Parameters<typeof startBroker>[0]): Promise<Broker> {
  const broker = await startBroker(options);
  t.teardown(() => broker.close());
  return broker;
}

t.test('publish/subscribe round trip on a free port', async (t) => {
  const broker = await started(t);
  t.match(broker.url, /^mqtt:\/\/127\.0\.0\.1:\d+$/);
  t.not(broker.port, 1883);
  t.ok(broker.pid > 0);
  const sub = await collect(broker.url, 'helper/+');
  t.teardown(() => sub.close());
  const pub = await connect(broker.url);
  await pub.publishAsync('helper/a', 'one', { qos: 1, properties: { userProperties: { sig: 'abc' } } });
  await pub.publishAsync('helper/b', 'two', { qos: 0, retain: true });
  await pub.endAsync();
  const a = await sub.next((m) => m.topic === 'helper/a', 2000);
  t.equal(a.payload.toString(), 'one');
  t.same(a.properties.userProperties, { sig: 'abc' });
  t.equal(a.retain, false);
  const b = await sub.next(undefined, 2000);
  t.equal(b.payload.toString(), 'two');
  t.equal(sub.messages.length, 2);
  await t.rejects(sub.next(undefined, 100), /no matching message/);
  t.match(broker.log(), /mosquitto version [\d.]+ running/);
});

t.test(
  'stop + restart on the same port keeps a persistent session and its queued QoS 1 message',
  async (t) => {
    const broker = await started(t);
    const session: IClientOptions = {
      clientId: 'helper-persistent',
      clean: false,
      properties: { sessionExpiryInterval: 300 },
    };
    const first = await connect(broker.url, session);
    await first.subscribeAsync('queued/#', { qos: 1 });
    await first.endAsync();
    await publish(broker.url, 'queued/x', 'while away');

    const pid = broker.pid;
    await broker.stop();
    await broker.restart();
    t.not(broker.pid, pid, 'a new process');
    t.match(broker.url, `:${broker.port}`);

    const client = mqtt.connect(broker.url, { protocolVersion: 5, reconnectPeriod: 0, ...session });
    t.teardown(() => client.end(true));
    const got = new Promise<string>((resolve) => client.once('message', (_t, p) => resolve(p.toString())));
    const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
      client.once('connect', resolve);
      client.once('error', reject);
    });
    t.equal(connack.sessionPresent, true, 'the session survived the restart');
    t.equal(await got, 'while away');
  },
);

t.test('kill (SIGKILL) + restart rolls back: what was not saved by a clean stop is lost', async (t) => {
  const broker = await started(t);
  const session: IClientOptions = {
    clientId: 'helper-crash',
    clean: false,
    properties: { sessionExpiryInterval: 300 },
  };
  const first = await connect(broker.url, session);
  await first.subscribeAsync('crash/#', { qos: 1 });
  await first.endAsync();
  await publish(broker.url, 'crash/x', 'lost');
  await broker.kill();
  await broker.restart();
  const again = mqtt.connect(broker.url, { protocolVersion: 5, reconnectPeriod: 0, ...session });
  t.teardown(() => again.end(true));
  const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
    again.once('connect', resolve);
    again.once('error', reject);
  });
  t.equal(connack.sessionPresent, false, 'no session after a crash');
});

t.test('TLS with a client certificate', async (t) => {
  const broker = await started(t, { tls: true, requireClientCert: true });
  t.match(broker.url, /^mqtts:\/\/127\.0\.0\.1:\d+$/);
  const certs = broker.certs;
  if (certs === undefined) throw new Error('no certs');
  for (const f of Object.values(certs)) t.ok(existsSync(f), f);

  const sub = await collect(broker.url, 'tls/t', tlsClientOptions(broker));
  t.teardown(() => sub.close());
  const c = await connect(broker.url, tlsClientOptions(broker));
  const socket = c.stream as unknown as { getProtocol?: () => string | null };
  t.comment(`negotiated ${socket.getProtocol?.() ?? '?'}`);
  await c.publishAsync('tls/t', 'secret', { qos: 1 });
  await c.endAsync();
  t.equal((await sub.next(undefined, 2000)).payload.toString(), 'secret');

  await t.rejects(connect(broker.url, tlsClientOptions(broker, false)), 'no client certificate: refused');
  await t.rejects(connect(broker.url, { ...tlsClientOptions(broker), ca: undefined }), 'unknown CA: refused');
});

t.test('username and password', async (t) => {
  const broker = await started(t, { auth: { username: 'door', password: 'p4ss word' } });
  const ok = await connect(broker.url, { username: 'door', password: 'p4ss word' });
  t.ok(ok.connected);
  await ok.endAsync();
  const refused = /Bad User Name or Password|Not authorized|Connection refused/i;
  await t.rejects(connect(broker.url, { username: 'door', password: 'wrong' }), refused);
  await t.rejects(connect(broker.url, { username: 'someone', password: 'p4ss word' }), refused);
  await t.rejects(connect(broker.url), refused, 'anonymous');
});

t.test('a broker that cannot start fails with its log', async (t) => {
  const broker = await started(t);
  // Something else takes the port while the broker is down.
  await broker.kill();
  const net = await import('node:net');
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(broker.port, '127.0.0.1', r));
  t.teardown(() => blocker.close());
  await t.rejects(broker.restart(), /Address already in use/);
});
