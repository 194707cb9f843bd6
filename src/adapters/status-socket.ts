/**
 * The local status socket: a unix socket (no network port) guarded by file permissions (0660). A client
 * connects and reads one JSON document; `doorpass status` is that client.
 */
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from '../ports/io.js';

export class StatusServer {
  private server: net.Server | undefined;

  constructor(
    readonly socketPath: string,
    private readonly provide: () => unknown,
    private readonly log: Logger,
  ) {}

  start(): Promise<void> {
    mkdirSync(path.dirname(this.socketPath), { recursive: true });
    // A socket left by a daemon that crashed: nobody listens on it any more.
    if (existsSync(this.socketPath)) unlinkSync(this.socketPath);
    const server = net.createServer((conn) => {
      conn.on('error', () => undefined);
      let body: string;
      try {
        body = JSON.stringify(this.provide());
      } catch (err) {
        body = JSON.stringify({ error: (err as Error).message });
      }
      conn.end(`${body}\n`);
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => {
        server.off('error', reject);
        server.on('error', (err) => this.log.warn({ err: err.message }, 'status socket error'));
        chmodSync(this.socketPath, 0o660);
        resolve();
      });
    });
  }

  stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }
}

/** Reads the status document from a running daemon's socket. */
export function readStatus(socketPath: string, timeoutMs = 3000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const conn = net.connect(socketPath);
    let data = '';
    const timer = setTimeout(() => {
      conn.destroy();
      reject(new Error(`no answer on ${socketPath} within ${timeoutMs} ms`));
    }, timeoutMs);
    conn.on('data', (d: Buffer) => (data += d.toString()));
    conn.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(data));
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
    conn.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
