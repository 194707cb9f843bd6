/** Human-readable rendering for the CLI (tables, pass types, schedules). */
import type { PassRule } from '../core/decide.js';
import { describeSchedule } from '../core/schedule.js';
import type { Zone } from '../core/zone.js';
import type { PassRow } from '../ports/store.js';
import type { LocalStatus } from '../app/compose.js';

/** ButterflyMX-style pass type: single-use, recurring, limited (N uses) or time-limited. */
export function passType(rule: PassRule): string {
  if (rule.maxUses === 1) return 'single-use';
  if (rule.repeat !== undefined) return 'recurring';
  if (rule.maxUses !== undefined) return `${rule.maxUses}-use`;
  return 'time-limited';
}

export function totalUses(row: PassRow): number {
  return Object.values(row.uses).reduce((a, b) => a + b, 0);
}

export function passStatus(
  row: PassRow,
  now: number,
): 'revoked' | 'expired' | 'upcoming' | 'used up' | 'active' {
  if (row.revoked) return 'revoked';
  if (now >= row.validUntil) return 'expired';
  if (row.rule.maxUses !== undefined && totalUses(row) >= row.rule.maxUses) return 'used up';
  if (now < row.validFrom) return 'upcoming';
  return 'active';
}

export function scheduleText(row: PassRow): string {
  const parts: string[] = [];
  if (row.rule.repeat) parts.push(describeSchedule(row.rule.repeat));
  if (row.rule.accessGroup) parts.push(`group ${row.rule.accessGroup}`);
  return parts.length ? parts.join(' + ') : 'any time';
}

export function usesText(row: PassRow): string {
  const used = totalUses(row);
  return row.rule.maxUses !== undefined ? `${used}/${row.rule.maxUses}` : String(used);
}

/** Renders rows as an aligned text table. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export function localTime(zone: Zone, epochMs: number): string {
  return zone.formatLocal(epochMs);
}

/** Which factors of an input are locked, e.g. "pin" or "pin, qr" (older daemons: "all"). */
function lockedFactors(lockouts: LocalStatus['inputs'][number]['lockouts'] | undefined): string {
  const locked = Object.entries(lockouts ?? {}).filter(([, l]) => l.lockedOut);
  return locked.length === 0 ? 'all' : locked.map(([f]) => f).join(', ');
}

/** The human form of `doorpass status`. */
export function formatStatus(st: LocalStatus, time: (iso: string) => string): string[] {
  const ago = (iso: string | null): string => (iso === null ? 'never' : time(iso));
  const h = Math.floor(st.uptimeS / 3600);
  const m = Math.floor((st.uptimeS % 3600) / 60);
  const b = st.broker;
  const lines = [
    `doorpass ${st.version} on ${st.device} (site ${st.site}), pid ${st.pid}, up ${h} h ${m} min`,
    '',
    'inputs:',
    ...st.inputs.map(
      (i) =>
        `  ${i.name} -> ${i.door}: ${i.online ? 'connected' : 'NOT CONNECTED'}, last seen ${ago(i.lastSeenAt)}` +
        `${i.lockedOut ? `, LOCKED OUT (${lockedFactors(i.lockouts)})` : ''}${i.readErrors > 0 ? `, ${i.readErrors} read errors` : ''}`,
    ),
    'doors:',
    ...st.doors.map((d) => `  ${d.id}: ${d.state}`),
    `broker: ${b.configured ? `${b.connected ? 'connected' : 'NOT CONNECTED'} (${b.url ?? ''})${b.lastError !== null ? `, last error: ${b.lastError}` : ''}` : 'not configured'}`,
    `sync: seq ${st.sync.seq}, last change applied ${ago(st.sync.lastAppliedAt)}` +
      (Object.keys(st.sync.rejected).length > 0 ? `, rejected ${JSON.stringify(st.sync.rejected)}` : '') +
      (st.sync.unbound > 0 ? `, ${st.sync.unbound} accepted UNBOUND (cloud.requireBinding false)` : ''),
    `passes: ${st.passes.active} active of ${st.passes.total}`,
    `outbox: ${st.outbox.depth} waiting, ${st.outbox.uploaded} uploaded since start${st.outbox.dropped > 0 ? `, ${st.outbox.dropped} DROPPED` : ''}`,
    `lockouts: ${st.inputs.filter((i) => i.lockedOut).length}`,
    `clock: ${st.clock.trusted ? 'trusted' : `NOT TRUSTED (${st.clock.reason ?? '?'}), policy ${st.clock.policy}`}` +
      `${st.clock.ntpSynchronized === true ? ', NTP synchronised' : st.clock.ntpSynchronized === false ? ', NTP not synchronised' : ''}`,
    `storage: ${st.storage.writable ? 'writable' : `NOT WRITABLE since ${ago(st.storage.since)} (${st.storage.lastError ?? '?'}), ${st.storage.pendingEvents} events waiting in memory${st.storage.droppedEvents > 0 ? `, ${st.storage.droppedEvents} DROPPED` : ''}, policy ${st.storage.policy}`}`,
    ...(['cache', 'journal'] as const)
      .filter((f) => st[f].state === 'rebuilt')
      .map(
        (f) =>
          `${f}: REBUILT ${ago(st[f].since)} (${st[f].reason ?? '?'})${st[f].movedTo !== null ? `; the damaged file is ${st[f].movedTo}` : ''}${f === 'cache' ? '; waiting for a full resync from the cloud' : ''}`,
      ),
    '',
    'last decisions:',
  ];
  if (st.recent.length === 0) lines.push('  none yet');
  for (const r of st.recent) {
    lines.push(
      `  ${time(r.at)}  ${r.door}  ${r.credentialType}  ${r.granted ? 'granted' : `denied (${r.reason ?? '?'})`}  ${r.passId ?? '-'}`,
    );
  }
  return lines;
}
