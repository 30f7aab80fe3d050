import { PaddockError } from '../errors.js';
import type { JobRow, Store } from '../store/store.js';
import type { Principal } from './tokens.js';

/**
 * Tenancy: a job belongs to the token that submitted it (jobs.token_id). An
 * admin token sees every job; any other token only its own.
 */
export const seesAllJobs = (p: Principal | undefined): boolean => p?.scopes.includes('admin') ?? false;

/** The token id a job list must be narrowed to, or undefined for an admin. */
export function ownerFilter(p: Principal | undefined): string | undefined {
  if (seesAllJobs(p)) return undefined;
  // No principal would mean a route without auth: it sees nothing, not everything.
  return p?.tokenId ?? '\0none';
}

/**
 * The job, if this principal may see it. Someone else's job is the very same
 * `404 not_found` as a missing id, so ids of other tenants' jobs cannot be probed.
 */
export async function getOwnJob(store: Store, p: Principal | undefined, id: string): Promise<JobRow> {
  const row = await store.getJob(id);
  if (!row || !(seesAllJobs(p) || (p !== undefined && row.token_id === p.tokenId))) {
    throw new PaddockError('not_found', `no job ${id}`);
  }
  return row;
}
