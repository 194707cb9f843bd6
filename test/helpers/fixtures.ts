/** Shared test fixtures: temp site directories, configs and pass documents. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface TempSite {
  readonly dir: string;
  readonly configFile: string;
  cleanup(): void;
}

export const BASE_CONFIG = (
  storageDir: string,
  extra = '',
): string => `site: { id: tower-a, timezone: America/New_York, maxPassDays: 366 }
device: { id: panel-west }
storage: { dir: ${JSON.stringify(storageDir)} }
doors: [ { id: lobby, relay: { type: log } }, { id: garage, relay: { type: log } } ]
inputs: [ { type: console, door: lobby } ]
${extra}`;

/** A temp folder with a valid config (storage inside it). */
export function tempSite(configText?: (dir: string) => string): TempSite {
  const dir = mkdtempSync(path.join(tmpdir(), 'doorpass-test-'));
  const configFile = path.join(dir, 'doorpass.yaml');
  writeFileSync(configFile, configText ? configText(dir) : BASE_CONFIG(path.join(dir, 'state')));
  return { dir, configFile, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export type Json = Record<string, unknown>;

/** A valid pass document; override any field. Valid all of 2026 by default, PIN 123456, all doors. */
export function pass(overrides: Json = {}): Json {
  return {
    id: 'p1',
    version: 1,
    kind: 'visitor',
    name: 'Guest',
    issuer: { id: 'res-1', name: 'Dana', unit: '1204' },
    credentials: [{ type: 'pin', value: '123456' }],
    doors: '*',
    validFrom: '2026-01-01T00:00:00Z',
    validUntil: '2026-12-31T00:00:00Z',
    repeat: { mode: 'never' },
    ...overrides,
  };
}

export const MID_2026 = Date.parse('2026-06-15T16:00:00Z'); // Monday 12:00 in New York
