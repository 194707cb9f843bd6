/**
 * A revocation decided on this device (`doorpass passes revoke`). The pass cache can be rebuilt from the
 * cloud at any time (after corruption), and the cloud does not know of this revocation until it receives the
 * event: so it is kept in the journal and re-applied to every cache the store opens (store.revokeLocally).
 */
import { DoorpassError, ErrorCode } from '../core/errors.js';
import type { PassEvent } from '../core/events.js';
import type { PassStore } from '../ports/store.js';
import { UlidFactory } from './ids.js';

export interface LocalRevocation {
  /** The pass was in this device's cache (otherwise it is revoked when it arrives). */
  readonly inCache: boolean;
  /** Not revoked on this device before: a `pass.revoked` event was journalled for the cloud. */
  readonly first: boolean;
}

/**
 * Revokes pass `id` on this device's authority and journals a `pass.revoked` event (once per id). An id not
 * in the cache is refused (a typo would otherwise revoke nothing and say nothing) unless `force` is set: after
 * a rebuilt cache, before the resync, the operator may revoke a pass the device does not hold yet.
 */
export function revokeLocally(
  store: PassStore,
  deviceId: string,
  id: string,
  now: number,
  options: { force?: boolean; ids?: UlidFactory } = {},
): LocalRevocation {
  const inCache = store.passHead(id) !== undefined;
  if (!inCache && options.force !== true) {
    throw new DoorpassError(
      ErrorCode.PassNotFound,
      `no pass with id ${JSON.stringify(id)} (use --force to revoke it before it is cached)`,
    );
  }
  const event: PassEvent = {
    id: (options.ids ?? new UlidFactory()).next(now),
    at: now,
    type: 'pass.revoked',
    device: deviceId,
    passId: id,
    by: 'local',
    detail: inCache ? 'revoked on this device' : 'revoked on this device before it was cached',
  };
  const r = store.revokeLocally(id, now, event);
  return { inCache: r.inCache, first: r.first };
}
