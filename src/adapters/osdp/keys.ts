/** Reader keys: a file per reader holding its secure channel base key (SCBK) as 32 hexadecimal digits. */
import { readFileSync } from 'node:fs';
import { DoorpassError, ErrorCode } from '../../core/errors.js';

export function readScbk(file: string, what: string): Uint8Array {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new DoorpassError(ErrorCode.ConfigInvalid, `${what}: cannot read ${file}: ${(e as Error).message}`);
  }
  const hex = text.replace(/\s+/g, '');
  if (!/^[0-9A-Fa-f]{32}$/.test(hex)) {
    throw new DoorpassError(
      ErrorCode.ConfigInvalid,
      `${what}: ${file} must hold the reader's key as 32 hexadecimal digits (16 bytes)`,
    );
  }
  return new Uint8Array(Buffer.from(hex, 'hex'));
}
