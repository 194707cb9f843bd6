/**
 * Consistent Overhead Byte Stuffing (S. Cheshire, M. Baker, "Consistent Overhead Byte Stuffing", IEEE/ACM
 * Transactions on Networking 7(2), 1999): rewrites a byte string so that it contains no 0x00, which then
 * delimits frames on the serial bridge (docs/serial-protocol.md). Overhead is at most one byte per 254 bytes.
 *
 * The encoded form is a sequence of blocks, each a code byte N (1..255) followed by N-1 non-zero data bytes.
 * A block with N < 255 stands for its data followed by a 0x00, except the last block of the frame, whose
 * 0x00 is not part of the data; a block with N = 255 (254 data bytes) has no 0x00 after it. The encoder emits
 * the common canonical form (the one tabulated in Wikipedia's "Consistent Overhead Byte Stuffing" article):
 * data ending in a full 254-byte run ends with that 0xFF block, without an empty 0x01 block after it.
 */

/** Largest encoded length of `length` data bytes: one code byte per started 254-byte run, at least one. */
export function cobsMaxEncodedLength(length: number): number {
  return length + Math.max(1, Math.ceil(length / 254));
}

/** COBS-encodes `data`. The result contains no 0x00 and no trailing delimiter (the framer adds it). */
export function cobsEncode(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(cobsMaxEncodedLength(data.length));
  let codeAt = 0; // where the current block's code byte goes
  let o = 1; // next output position
  let code = 1; // code of the current block: 1 + data bytes in it so far
  for (let i = 0; i < data.length; i++) {
    const byte = data[i] ?? 0;
    if (byte !== 0) {
      out[o++] = byte;
      code++;
      if (code < 0xff) continue;
      // A full 254-byte run: close it as a 0xFF block (no implied zero). Open the next block only if data
      // follows, so that data ending in a full run gets no extra 0x01 (the canonical form).
      out[codeAt] = code;
      if (i === data.length - 1) return out.slice(0, o);
    } else {
      out[codeAt] = code; // the zero itself is implied by a block shorter than 255
    }
    codeAt = o++;
    code = 1;
  }
  out[codeAt] = code;
  return out.slice(0, o);
}

/**
 * Decodes one COBS-encoded frame (without its 0x00 delimiter), or returns undefined when `encoded` is not a
 * valid encoding: empty (a valid encoding has at least one code byte), containing a 0x00, or with a code byte
 * that points past the end. The one non-canonical form the encoder never emits, an empty 0x01 block after a
 * final 0xFF block, decodes to the same data: it is unambiguous and the frame's CRC guards the content anyway.
 */
export function cobsDecode(encoded: Uint8Array): Uint8Array | undefined {
  if (encoded.length === 0) return undefined;
  const out = new Uint8Array(encoded.length - 1); // a valid encoding is at least one byte longer than its data
  let i = 0;
  let o = 0;
  while (i < encoded.length) {
    const code = encoded[i++] ?? 0;
    if (code === 0) return undefined;
    const end = i + code - 1;
    if (end > encoded.length) return undefined;
    while (i < end) {
      const byte = encoded[i++] ?? 0;
      if (byte === 0) return undefined;
      out[o++] = byte;
    }
    if (code !== 0xff && i < encoded.length) out[o++] = 0;
  }
  return out.slice(0, o);
}
