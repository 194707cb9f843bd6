/**
 * Ed25519 signatures over the exact payload bytes (docs/mqtt.md, "Authenticity"), with Node's crypto.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DoorpassError, ErrorCode } from '../../core/errors.js';

export function loadPublicKey(file: string, what = 'cloud.publicKeyFile'): KeyObject {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (e) {
    throw new DoorpassError(ErrorCode.ConfigInvalid, `${what}: cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    const key = createPublicKey(pem);
    if (key.asymmetricKeyType !== 'ed25519') {
      throw new Error(`it is a ${key.asymmetricKeyType ?? 'unknown'} key, expected an Ed25519 public key`);
    }
    return key;
  } catch (e) {
    throw new DoorpassError(
      ErrorCode.ConfigInvalid,
      `${what}: ${file} is not an Ed25519 public key in PEM: ${(e as Error).message}`,
    );
  }
}

export function loadPrivateKey(file: string): KeyObject {
  const key = createPrivateKey(readFileSync(file, 'utf8'));
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`${file} is not an Ed25519 private key`);
  return key;
}

/** True when `signatureB64` is a valid Ed25519 signature of `payload` under `key`. */
export function verifySignature(key: KeyObject, payload: Uint8Array, signatureB64: string): boolean {
  const sig = Buffer.from(signatureB64, 'base64');
  if (sig.length !== 64) return false;
  try {
    return verify(null, payload, key, sig);
  } catch {
    return false;
  }
}

export function signPayload(key: KeyObject, payload: Uint8Array): string {
  return sign(null, payload, key).toString('base64');
}

export function generateKeyPair(): { publicPem: string; privatePem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return {
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}
