/**
 * CRC-16/CCITT-FALSE, the checksum of the serial bridge frames (docs/serial-protocol.md).
 *
 * Parameters as catalogued by Greg Cook's "Catalogue of parametrised CRC algorithms" (where the algorithm is
 * listed as CRC-16/IBM-3740, alias CRC-16/CCITT-FALSE): width 16, poly 0x1021, init 0xFFFF, refin false,
 * refout false, xorout 0x0000, check 0x29B1 (the CRC of the ASCII bytes "123456789"). Not to be confused with
 * CRC-16/KERMIT (reflected) or CRC-16/XMODEM (init 0x0000), which share the polynomial.
 */

/**
 * One entry per value of the top byte: the register after shifting that byte out MSB-first, eight times.
 * Built once at load (512 bytes) so the per-byte work is one lookup, as in the firmware's C version.
 */
const TABLE: Uint16Array = (() => {
  const table = new Uint16Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let reg = byte << 8;
    for (let bit = 0; bit < 8; bit++) reg = reg & 0x8000 ? (reg << 1) ^ 0x1021 : reg << 1;
    table[byte] = reg & 0xffff;
  }
  return table;
})();

/**
 * The non-reflected CRC-16 with polynomial 0x1021 and no final XOR over `data[from, to)`, starting from `init`:
 * CRC-16/CCITT-FALSE with init 0xFFFF (the bridge), CRC-16/AUG-CCITT with init 0x1D0F (OSDP).
 */
export function crc16Poly1021(data: Uint8Array, init: number, from = 0, to = data.length): number {
  let crc = init & 0xffff;
  for (let i = from; i < to; i++) {
    // Non-reflected: the next byte meets the top byte of the register. TABLE has 256 entries and the index is
    // 0..255, so the lookup is never undefined; `?? 0` only satisfies noUncheckedIndexedAccess.
    crc = ((crc << 8) ^ (TABLE[((crc >>> 8) ^ (data[i] ?? 0)) & 0xff] ?? 0)) & 0xffff;
  }
  return crc;
}

/**
 * CRC-16/CCITT-FALSE of `data` (poly 0x1021, init 0xFFFF, not reflected, no final XOR), as an integer
 * 0..0xFFFF. `crc16CcittFalse(new TextEncoder().encode('123456789')) === 0x29b1`.
 */
export function crc16CcittFalse(data: Uint8Array): number {
  return crc16Poly1021(data, 0xffff);
}
