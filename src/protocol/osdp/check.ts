/**
 * The two check characters an OSDP packet can end with (SIA OSDP v2.2 §5.7 and §5.8, IEC 60839-11-5):
 *
 * - CRC-16: width 16, poly 0x1021, init 0x1D0F, not reflected, no final XOR ("CRC-16/AUG-CCITT" in Greg
 *   Cook's catalogue; check value 0xE5CC for the ASCII bytes "123456789"), sent least significant byte first.
 *   Annex E: `53 7F 0D 00 04 6E 00 80 25 00 00` → `6E 38`.
 * - Checksum: one byte, the two's complement of the 8-bit sum of every byte before it, so that the sum of the
 *   whole packet is 0 mod 256. Annex E: `53 00 08 00 00 61 00` → `44`. Only for readers without CRC support.
 */

import { crc16Poly1021 } from '../crc16.js';

/** The OSDP CRC-16 of `data[from, to)`, as an integer 0..0xFFFF (send it little-endian). */
export function osdpCrc16(data: Uint8Array, from = 0, to = data.length): number {
  return crc16Poly1021(data, 0x1d0f, from, to);
}

/** The OSDP 8-bit checksum of `data[from, to)`: the byte that makes the sum of all of them 0 mod 256. */
export function osdpChecksum(data: Uint8Array, from = 0, to = data.length): number {
  let sum = 0;
  for (let i = from; i < to; i++) sum += data[i] ?? 0;
  return -sum & 0xff;
}
