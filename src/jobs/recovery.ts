import type { JobRow, Store } from '../store/store.js';
import { isStorageFull } from '../store/storage-full.js';
import type { Logger } from '../util/log.js';
import type { StoredSpec } from './scheduler.js';

export interface Recovery {
  store: Pick<Store, 'listJobsInState'>;
  log: Logger;
  /** Whose running jobs are stale: one host's, or (undefined) every one, as with an embedded store. */
  hostId: string | undefined;
  /** A job this process is running now: a later pass must leave it alone. */
  isActive(id: string): boolean;
  /** Records the move out of `running`. */
  move(row: JobRow, to: 'queued' | 'failed'): Promise<unknown>;
  /** Called after each requeue, so the caller claims again. */
  requeued(): void;
}

/** Where a job that a previous process left `running` goes: back to the queue only if it asked to. */
export function afterRestart(row: Pick<JobRow, 'spec'>): 'queued' | 'failed' {
  return (JSON.parse(row.spec) as StoredSpec).retry_on_restart ? 'queued' : 'failed';
}

/**
 * Ends (or requeues) jobs that a previous process left `running`. Resolves
 * false when a full disk stopped it part-way (run it again once there is room);
 * any other failure is thrown.
 */
export async function recoverLeftRunning(r: Recovery): Promise<boolean> {
  const stale = await r.store.listJobsInState('running', r.hostId);
  for (const row of stale) {
    if (r.isActive(row.id)) continue; // a later pass: this one is ours, not stale
    const to = afterRestart(row);
    try {
      await r.move(row, to);
    } catch (err) {
      // Started on a full disk: start anyway, and recover when there is room.
      if (!isStorageFull(err)) throw err;
      r.log.warn({ jobId: row.id }, 'disk full: recovering jobs left running once there is room');
      return false;
    }
    if (to === 'queued') r.requeued();
    r.log.warn({ jobId: row.id, state: to }, 'recovered a job left running by a previous process');
  }
  return true;
}
