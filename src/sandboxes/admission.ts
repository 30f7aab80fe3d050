import type { Config } from '../config/schema.js';
import { PaddockError } from '../errors.js';
import type { LiveSandbox } from './live.js';

const RETRY_AFTER_S = 5;

/**
 * Refuses a new sandbox past the runner's `sandboxes.max_live` or the token's
 * `quotas.max_sandboxes` (its record's, else the config's; 0 = no limit),
 * counting creations still in flight.
 * Synchronous, so concurrent creates cannot overshoot a cap.
 */
export function admitSandbox(
  config: Pick<Config, 'sandboxes' | 'quotas'>,
  live: ReadonlyMap<string, LiveSandbox>,
  creating: ReadonlyMap<unknown, string | null>,
  tenant: { tokenId: string | null; quotas?: { max_sandboxes?: number | null } | undefined },
): void {
  const { tokenId } = tenant;
  const total = live.size + creating.size;
  if (total >= config.sandboxes.max_live) {
    throw new PaddockError('quota_exceeded', `the runner holds ${total} sandboxes (sandboxes.max_live)`, {
      quota: 'max_live',
      limit: config.sandboxes.max_live,
      retry_after_s: RETRY_AFTER_S,
    });
  }
  const max = tenant.quotas?.max_sandboxes ?? config.quotas.max_sandboxes;
  if (max === 0 || tokenId === null) return;
  let mine = [...creating.values()].filter((t) => t === tokenId).length;
  for (const l of live.values()) if (l.row.token_id === tokenId && !l.ending) mine++;
  if (mine >= max) {
    throw new PaddockError('quota_exceeded', `this token already has ${mine} sandboxes (its max_sandboxes)`, {
      quota: 'max_sandboxes',
      limit: max,
      retry_after_s: RETRY_AFTER_S,
    });
  }
}

/** A TTL or lifetime a sandbox asks for; above `sandboxes.max_lifetime_ms` it is refused, not clamped (as limits are). */
export function boundedLifetime(config: Pick<Config, 'sandboxes'>, field: string, ms: number): number {
  const max = config.sandboxes.max_lifetime_ms;
  if (ms > max) {
    throw new PaddockError('limit_exceeded', `${field} = ${ms} is above this runner's maximum of ${max} (sandboxes.max_lifetime_ms)`, {
      field,
      max,
    });
  }
  return ms;
}
