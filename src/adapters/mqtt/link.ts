/**
 * The MQTT link to the cloud (mqtt.js, MQTT 5): a persistent session (clean start false, session expiry)
 * so QoS 1 deltas queue at the broker while the door is away; reconnect with exponential backoff and
 * jitter; the retained status with a Last Will of {"online": false}; TLS, client certificates and
 * username/password. Messages on cloud -> device topics are delivered only when their Ed25519 signature
 * (user property `sig`) checks out over the exact payload bytes.
 */
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import {
  MAX_PACKET_BYTES,
  MAX_PAYLOAD_BYTES,
  PacketSizeGuard,
  SIGNATURE_PROPERTY,
} from '../../protocol/mqtt.js';
import type { CloudLink } from '../../ports/cloud.js';
import type { Clock, Logger, Timer } from '../../ports/io.js';
import { verifySignature } from './signature.js';

export interface MqttLinkOptions {
  readonly url: string;
  readonly clientId: string;
  readonly username?: string;
  readonly passwordFile?: string;
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  readonly keepaliveSeconds: number;
  readonly sessionExpirySeconds: number;
  /** Topics whose messages must be signed by the cloud; subscribed at QoS 1. */
  readonly subscribe: readonly string[];
  readonly will: { readonly topic: string; readonly payload: string };
  readonly publicKey: KeyObject;
  readonly reconnectMinMs?: number;
  readonly reconnectMaxMs?: number;
}

export type LinkRejection = 'missing_signature' | 'bad_signature' | 'too_large';

export class MqttCloudLink implements CloudLink {
  private client: MqttClient | undefined;
  private readonly connectListeners: (() => void)[] = [];
  private readonly messageListeners: ((topic: string, payload: string) => void)[] = [];
  private isConnected = false;
  private backoffMs: number;
  private reconnectTimer: Timer | undefined;
  private stopped = false;
  private readonly guarded = new WeakSet<object>();
  readonly counters = { connects: 0, disconnects: 0, received: 0 };
  lastError: string | undefined;
  /** Called for each message refused here (signature, size); the app counts and logs it. */
  onReject: ((reason: LinkRejection, topic: string, detail: string) => void) | undefined;

  constructor(
    private readonly options: MqttLinkOptions,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    this.backoffMs = options.reconnectMinMs ?? 1000;
  }

  get connected(): boolean {
    return this.isConnected;
  }

  onConnect(listener: () => void): void {
    this.connectListeners.push(listener);
  }

  onMessage(listener: (topic: string, payload: string) => void): void {
    this.messageListeners.push(listener);
  }

  start(): void {
    const o = this.options;
    const read = (f: string | undefined): Buffer | undefined =>
      f === undefined ? undefined : readFileSync(f);
    const opts: IClientOptions = {
      clientId: o.clientId,
      protocolVersion: 5,
      clean: false,
      // Maximum Packet Size: the broker must not send us a larger packet (MQTT 5 §3.1.2.11.4; Mosquitto drops
      // it for this client), so an oversized publish never reaches this process. mqtt.js checks it too, but
      // only once the whole packet is buffered; guardStream() covers a broker that ignores the limit.
      properties: { sessionExpiryInterval: o.sessionExpirySeconds, maximumPacketSize: MAX_PACKET_BYTES },
      keepalive: o.keepaliveSeconds,
      reconnectPeriod: 0, // reconnects are ours: exponential backoff with jitter
      connectTimeout: 10_000,
      will: { topic: o.will.topic, payload: Buffer.from(o.will.payload), qos: 1, retain: true },
      ...(o.username !== undefined && { username: o.username }),
      ...(o.passwordFile !== undefined && { password: readFileSync(o.passwordFile, 'utf8').trimEnd() }),
      ...(o.caFile !== undefined && { ca: read(o.caFile) }),
      ...(o.certFile !== undefined && { cert: read(o.certFile) }),
      ...(o.keyFile !== undefined && { key: read(o.keyFile) }),
    };
    const client = mqtt.connect(o.url, opts);
    this.client = client;
    // mqtt.js creates the connection's stream synchronously in connect() (and again on each reconnect, which
    // emits 'reconnect' just before), and bytes arrive only in later I/O callbacks: so the guard sees the
    // stream from its first byte.
    this.guardStream(client);
    client.on('reconnect', () => process.nextTick(() => this.guardStream(client)));
    client.on('connect', (connack) => {
      this.isConnected = true;
      this.counters.connects++;
      this.backoffMs = o.reconnectMinMs ?? 1000;
      this.lastError = undefined;
      this.log.info({ url: o.url, sessionPresent: connack.sessionPresent }, 'connected to the broker');
      client.subscribe(Object.fromEntries(o.subscribe.map((t) => [t, { qos: 1 as const }])), (err) => {
        if (err) this.log.error({ err: err.message }, 'subscribe failed');
        for (const l of this.connectListeners) l();
      });
    });
    client.on('message', (topic, payload, packet) =>
      this.receive(topic, payload, packet.properties?.userProperties),
    );
    client.on('error', (err) => {
      this.lastError = err.message;
      this.log.warn({ err: err.message }, 'mqtt error');
    });
    client.on('close', () => {
      if (this.isConnected) {
        this.counters.disconnects++;
        this.log.warn({ url: o.url }, 'disconnected from the broker');
      }
      this.isConnected = false;
      this.scheduleReconnect();
    });
  }

  /**
   * Drops the connection as soon as the broker announces a packet larger than the Maximum Packet Size we
   * asked for: a broker that ignores it (or a man in the middle of a plain connection) could otherwise make
   * mqtt.js buffer a whole 250 MB packet before its own size check. At most the chunk that carried the header
   * reaches mqtt.js.
   */
  private guardStream(client: MqttClient): void {
    const stream = client.stream as NodeJS.ReadableStream & { destroy?: (err?: Error) => void };
    if (this.guarded.has(stream)) return;
    this.guarded.add(stream);
    const guard = new PacketSizeGuard(MAX_PACKET_BYTES);
    let tripped = false;
    stream.on('data', (chunk: Buffer | string) => {
      if (tripped) return;
      const size = guard.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      if (size === undefined) return;
      tripped = true;
      this.onReject?.(
        'too_large',
        '(broker)',
        `the broker announced a ${Number.isFinite(size) ? `${size}-byte` : 'malformed'} packet, over the Maximum Packet Size of ${MAX_PACKET_BYTES}; connection dropped`,
      );
      stream.destroy?.();
    });
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer !== undefined) return;
    const delay = Math.round(this.backoffMs * (0.5 + Math.random()));
    this.backoffMs = Math.min(this.backoffMs * 2, this.options.reconnectMaxMs ?? 60_000);
    this.reconnectTimer = this.clock.after(delay, () => {
      this.reconnectTimer = undefined;
      if (!this.stopped) this.client?.reconnect();
    });
  }

  private receive(
    topic: string,
    payload: Buffer,
    props: Record<string, string | string[]> | undefined,
  ): void {
    this.counters.received++;
    if (payload.length > MAX_PAYLOAD_BYTES) {
      this.onReject?.('too_large', topic, `${payload.length} bytes`);
      return;
    }
    const raw = props?.[SIGNATURE_PROPERTY];
    const sig = Array.isArray(raw) ? raw[0] : raw;
    if (sig === undefined) {
      this.onReject?.('missing_signature', topic, 'no "sig" user property');
      return;
    }
    if (!verifySignature(this.options.publicKey, payload, sig)) {
      this.onReject?.('bad_signature', topic, 'signature does not match the payload and the cloud key');
      return;
    }
    const text = payload.toString('utf8');
    for (const l of this.messageListeners) l(topic, text);
  }

  publish(
    topic: string,
    payload: string,
    options: { readonly qos: 0 | 1; readonly retain?: boolean },
  ): Promise<void> {
    const client = this.client;
    if (client === undefined || !this.isConnected) return Promise.reject(new Error('not connected'));
    return new Promise((resolve, reject) => {
      client.publish(topic, payload, { qos: options.qos, retain: options.retain ?? false }, (err) =>
        err ? reject(err) : resolve(),
      );
    });
  }

  /** Publishes the offline status and disconnects cleanly (the will is not sent on a clean disconnect). */
  async stop(offlineStatus?: { topic: string; payload: string }): Promise<void> {
    this.stopped = true;
    this.reconnectTimer?.cancel();
    const client = this.client;
    if (client === undefined) return;
    if (offlineStatus && this.isConnected) {
      await Promise.race([
        this.publish(offlineStatus.topic, offlineStatus.payload, { qos: 1, retain: true }).catch(
          () => undefined,
        ),
        new Promise((r) => setTimeout(r, 1000)),
      ]);
    }
    await new Promise<void>((resolve) => client.end(false, {}, () => resolve()));
  }
}
