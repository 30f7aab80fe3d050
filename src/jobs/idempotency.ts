import { PaddockError } from '../errors.js';
import type { JobRow } from '../store/store.js';

/**
 * A submit whose Idempotency-Key already names a job gets that job back, unless
 * the request differs from the one that created it. Without both hashes there
 * is nothing to compare, and the stored job is returned.
 */
export function replayOf(existing: JobRow, requestHash: string | undefined): JobRow {
  if (existing.request_hash && requestHash && existing.request_hash !== requestHash) {
    throw new PaddockError('idempotency_key_reused', 'this Idempotency-Key was used for a different request', {
      job_id: existing.id,
    });
  }
  return existing;
}
