/**
 * Keyed credential hashing: HMAC-SHA256 over `type 0x00 value` with a 32-byte secret kept in its own file
 * (mode 0600). A stolen database alone does not reveal PINs, card numbers or QR secrets.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { closeSync, constants, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import type { CredentialType } from '../core/decide.js';
import { DoorpassError, ErrorCode } from '../core/errors.js';
import { hasLoneSurrogate } from '../protocol/pass.js';
import type { CredentialHasher } from '../ports/store.js';

const KEY_BYTES = 32;

export class HmacHasher implements CredentialHasher {
  constructor(private readonly key: Buffer) {
    if (key.length < 16)
      throw new DoorpassError(ErrorCode.StoreKeyInvalid, 'credential key is shorter than 16 bytes');
  }
  hash(type: CredentialType, value: string): Buffer {
    const mac = createHmac('sha256', this.key).update(type);
    // Defence in depth (import and the access step refuse such values first): a lone surrogate has no UTF-8
    // form and update() would write U+FFFD, so '\uD800' would hash like '\uFFFD'. Its UTF-16 code units are
    // hashed under separator 0x01 instead: never equal to a well-formed value's hash, and nothing thrown.
    if (hasLoneSurrogate(value)) return mac.update('\u0001').update(Buffer.from(value, 'utf16le')).digest();
    return mac.update('\u0000').update(value).digest();
  }
}

/**
 * Reads the key file (64 hex characters); when it does not exist and `create` is set, writes a new random key
 * with mode 0600 (O_EXCL, so two processes starting together cannot write two different keys).
 */
export function loadOrCreateKey(file: string, create: boolean): Buffer {
  const read = (): Buffer => {
    const mode = statSync(file).mode;
    if ((mode & 0o007) !== 0) {
      throw new DoorpassError(
        ErrorCode.StoreKeyInvalid,
        `credential key file ${file} is readable by other users (mode ${(mode & 0o777).toString(8)}): run chmod 600 on it`,
      );
    }
    const text = readFileSync(file, 'utf8').trim();
    if (!/^[0-9a-fA-F]{64}$/.test(text)) {
      throw new DoorpassError(
        ErrorCode.StoreKeyInvalid,
        `credential key file ${file} is not valid: expected 64 hexadecimal characters (a 32-byte key)`,
      );
    }
    return Buffer.from(text, 'hex');
  };
  try {
    statSync(file);
    return read();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      if (e instanceof DoorpassError) throw e;
      throw new DoorpassError(
        ErrorCode.StoreKeyInvalid,
        `cannot read credential key file ${file}: ${(e as Error).message}`,
      );
    }
    if (!create) {
      throw new DoorpassError(ErrorCode.StoreKeyInvalid, `credential key file ${file} does not exist`);
    }
  }
  try {
    const fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    try {
      writeSync(fd, `${randomBytes(KEY_BYTES).toString('hex')}\n`);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new DoorpassError(
        ErrorCode.StoreKeyInvalid,
        `cannot create credential key file ${file}: ${(e as Error).message}`,
      );
    }
  }
  return read();
}
