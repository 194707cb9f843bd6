/**
 * Weekly time windows on a site's wall clock: pass repeat modes (Akuvox "Daily"/"Weekly") and access-group
 * schedules compile to the same shape and are checked by one function.
 *
 * A window whose end is at or before its start runs past midnight and belongs to the day it starts:
 * "fri 22:00–02:00" admits Friday 23:30 and Saturday 01:30, not Friday 01:30. Comparison is on the wall
 * clock, so on a DST day a window simply follows the clocks on the wall (a window starting in the skipped
 * hour opens when the clock jumps past its start; one in the repeated hour admits both passes of it).
 */
import type { Zone } from './zone.js';

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** One compiled window: `days` is a bit mask, bit 0 = Monday; start/end are minutes of the local day. */
export interface Window {
  readonly days: number;
  readonly start: number;
  readonly end: number;
}
export type Schedule = readonly Window[];

export const ALL_DAYS = 0b111_1111;

const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/;

/** Parses "HH:MM" (00:00–23:59) into minutes since midnight, or returns undefined. */
export function parseHhmm(text: string): number | undefined {
  const m = HHMM.exec(text);
  return m ? Number(m[1]) * 60 + Number(m[2]) : undefined;
}

export function formatHhmm(minute: number): string {
  return `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;
}

export function dayMask(days: readonly Weekday[]): number {
  let mask = 0;
  for (const d of days) mask |= 1 << WEEKDAYS.indexOf(d);
  return mask;
}

/** True when the window admits local weekday `weekday` (0 = Mon) at minute `minute`. */
export function windowAdmits(w: Window, weekday: number, minute: number): boolean {
  const today = (w.days >> weekday) & 1;
  if (w.end > w.start) return today === 1 && minute >= w.start && minute < w.end;
  // Runs past midnight (end <= start; equal means a full 24 hours from start).
  if (today === 1 && minute >= w.start) return true;
  const yesterday = (w.days >> ((weekday + 6) % 7)) & 1;
  return yesterday === 1 && minute < w.end;
}

/** True when any window of the schedule admits instant `now` in `zone`. */
export function scheduleAdmits(schedule: Schedule, zone: Zone, now: number): boolean {
  const { weekday, minute } = zone.wallClock(now);
  for (const w of schedule) if (windowAdmits(w, weekday, minute)) return true;
  return false;
}

/** Human text of a schedule, e.g. "mon,wed 08:00–17:00". */
export function describeSchedule(schedule: Schedule): string {
  return schedule
    .map((w) => {
      const days =
        w.days === ALL_DAYS ? 'daily' : WEEKDAYS.filter((_, i) => ((w.days >> i) & 1) === 1).join(',');
      return `${days} ${formatHhmm(w.start)}-${formatHhmm(w.end)}`;
    })
    .join('; ');
}
