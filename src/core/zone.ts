/**
 * Wall-clock time in a site's IANA time zone, computed from an instant with arithmetic only (Intl runs once per
 * 15-minute bucket, not per decision).
 *
 * The UTC offset is read once per 15-minute UTC bucket through Intl (the platform's tz database) and memoised:
 * every modern zone's offset is a multiple of 15 minutes and its transitions happen on whole local
 * quarter-hours, so no transition falls inside a bucket. Pure: no clock is read here, time is passed in.
 */
export interface WallClock {
  /** 0 = Monday … 6 = Sunday (ISO 8601 order). */
  readonly weekday: number;
  /** Minutes since local midnight, 0…1439. */
  readonly minute: number;
  /** Days since 1970-01-01 of the local calendar date (for "the day before"). */
  readonly day: number;
}

const BUCKET_MS = 15 * 60_000;
const DAY_MS = 86_400_000;
const CACHE_LIMIT = 256;

/** Returns true when `name` is a time zone this platform's Intl knows (IANA names, e.g. "Europe/Berlin"). */
export function isValidTimeZone(name: string): boolean {
  if (name.length === 0 || name.length > 64) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

export class Zone {
  private readonly fmt: Intl.DateTimeFormat;
  private readonly offsets = new Map<number, number>();

  constructor(readonly name: string) {
    if (!isValidTimeZone(name)) throw new RangeError(`unknown time zone "${name}"`);
    this.fmt = new Intl.DateTimeFormat('en-US', {
      timeZone: name,
      hourCycle: 'h23',
      // The era tells year 1 AD from year 1 BC (ISO year 0000, which a pass document may carry).
      era: 'short',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
    });
  }

  /** The zone's UTC offset in milliseconds at instant `epochMs` (positive east of Greenwich). */
  offsetAt(epochMs: number): number {
    const bucket = Math.floor(epochMs / BUCKET_MS);
    const cached = this.offsets.get(bucket);
    if (cached !== undefined) return cached;
    const start = bucket * BUCKET_MS;
    let y = 0,
      bc = false,
      mo = 0,
      d = 0,
      h = 0,
      mi = 0;
    for (const p of this.fmt.formatToParts(start)) {
      switch (p.type) {
        case 'era':
          bc = p.value === 'BC';
          break;
        case 'year':
          y = Number(p.value);
          break;
        case 'month':
          mo = Number(p.value);
          break;
        case 'day':
          d = Number(p.value);
          break;
        case 'hour':
          h = Number(p.value);
          break;
        case 'minute':
          mi = Number(p.value);
          break;
      }
    }
    // Not Date.UTC(y, …): it reads years 0–99 as 1900–1999, which made the offset of an instant in year 0050
    // about 1900 years. setUTCFullYear takes the year as given; the era maps 1 BC to ISO year 0.
    const local = new Date(0);
    local.setUTCFullYear(bc ? 1 - y : y, mo - 1, d);
    local.setUTCHours(h, mi, 0, 0);
    const offset = local.getTime() - start;
    if (this.offsets.size >= CACHE_LIMIT) this.offsets.clear();
    this.offsets.set(bucket, offset);
    return offset;
  }

  /** Local weekday, minute of day and day number at instant `epochMs`. */
  wallClock(epochMs: number): WallClock {
    const local = epochMs + this.offsetAt(epochMs);
    const day = Math.floor(local / DAY_MS);
    const minute = Math.floor((local - day * DAY_MS) / 60_000);
    // 1970-01-01 was a Thursday: index 3 with Monday = 0.
    const weekday = (((day + 3) % 7) + 7) % 7;
    return { weekday, minute, day };
  }

  /** Formats an instant as local "YYYY-MM-DD HH:MM" (for people, not for decisions). */
  formatLocal(epochMs: number): string {
    const local = new Date(epochMs + this.offsetAt(epochMs));
    return local.toISOString().slice(0, 16).replace('T', ' ');
  }
}
