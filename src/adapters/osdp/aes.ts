/** The AES-128 block cipher the OSDP secure channel needs, from node:crypto (OpenSSL). */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import type { Aes128 } from '../../protocol/osdp/secure.js';

function ecb(
  make: typeof createCipheriv | typeof createDecipheriv,
  key: Uint8Array,
  block: Uint8Array,
): Uint8Array {
  const c = make('aes-128-ecb', key, null);
  c.setAutoPadding(false);
  const out = Buffer.concat([c.update(block), c.final()]);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

export const nodeAes: Aes128 = {
  encryptBlock: (key, block) => ecb(createCipheriv, key, block),
  decryptBlock: (key, block) => ecb(createDecipheriv, key, block),
};
