/**
 * Console input: type a PIN (digits, optionally ending in #) or paste QR text, one per line, to try a config
 * without hardware. Prefixes force a type: "pin:1234", "card:12345678", "qr:TEXT".
 */
import { createInterface, type Interface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { CredentialType } from '../core/decide.js';
import type { CredentialSource, FeedbackSignal, InputHandler, Logger } from '../ports/io.js';

/** Parses one console line into a credential, or undefined for an empty line. */
export function parseConsoleLine(line: string): { type: CredentialType; value: string } | undefined {
  const text = line.trim();
  if (text === '') return undefined;
  const m = /^(pin|card|qr):(.*)$/s.exec(text);
  if (m) return { type: m[1] as CredentialType, value: m[2] ?? '' };
  const digits = /^(\d+)#?$/.exec(text);
  if (digits) return { type: 'pin', value: digits[1] ?? '' };
  return { type: 'qr', value: text };
}

export class ConsoleInput implements CredentialSource {
  readonly name = 'console';
  private rl: Interface | undefined;

  constructor(
    private readonly input: Readable,
    private readonly log?: Logger,
  ) {}

  start(handler: InputHandler): void {
    this.rl = createInterface({ input: this.input, crlfDelay: Infinity, terminal: false });
    this.rl.on('line', (line) => {
      const c = parseConsoleLine(line);
      if (c) handler.credential(c.type, c.value);
    });
  }

  /** The console has no LED or beeper: feedback goes to the log at debug level. */
  feedback(signal: FeedbackSignal): void {
    this.log?.debug({ source: this.name, feedback: signal }, 'feedback');
  }

  stop(): Promise<void> {
    this.rl?.close();
    this.rl = undefined;
    return Promise.resolve();
  }
}
