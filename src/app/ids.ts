/**
 * ULIDs for events: 48-bit millisecond time + 80 random bits, Crockford base32, so ids sort by time.
 * Within one millisecond the random part is incremented, so ids from one process are strictly increasing.
 */
import { randomFillSync } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export class UlidFactory {
  private lastTime = -1;
  private readonly rand = new Uint8Array(10);

  next(now: number): string {
    const t = Math.max(now, this.lastTime);
    if (t === this.lastTime) {
      // Increment the 80-bit random part (big-endian); on overflow, borrow the next millisecond.
      let i = this.rand.length - 1;
      while (i >= 0 && this.rand[i] === 0xff) this.rand[i--] = 0;
      if (i < 0) return this.next(t + 1);
      this.rand[i] = (this.rand[i] ?? 0) + 1;
    } else {
      randomFillSync(this.rand);
      this.rand[0] = (this.rand[0] ?? 0) & 0x7f; // leave headroom so increments rarely overflow
      this.lastTime = t;
    }
    let out = '';
    let time = t;
    for (let i = 0; i < 10; i++) {
      out = (ALPHABET[time % 32] ?? '0') + out;
      time = Math.floor(time / 32);
    }
    // 80 bits -> 16 base32 characters, 5 bits at a time.
    let acc = 0;
    let bits = 0;
    for (const byte of this.rand) {
      acc = (acc << 8) | byte;
      bits += 8;
      while (bits >= 5) {
        bits -= 5;
        out += ALPHABET[(acc >> bits) & 31] ?? '0';
      }
      acc &= (1 << bits) - 1;
    }
    return out;
  }
}
