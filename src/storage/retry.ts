import { isStorageFull } from '../store/storage-full.js';
import { isStoreUnavailable } from '../store/unavailable.js';
import type { Logger } from '../util/log.js';

const RETRY_MS = 1000;

/**
 * Runs `write` until it succeeds, waiting while the disk is full or the database cannot be reached:
 * for writes that must land eventually (a running job's output and end). Other errors, and those two
 * once `giveUp()` says so (the runner is stopping), are thrown.
 */
export async function retryWhileFull<T>(write: () => Promise<T>, giveUp: () => boolean, log: Logger, what = 'the end of a job'): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await write();
    } catch (err) {
      const full = isStorageFull(err);
      if ((!full && !isStoreUnavailable(err)) || giveUp()) throw err;
      if (attempt === 0) {
        log.warn(full ? `disk full: retrying to record ${what} until there is room` : `store unreachable: retrying to record ${what} until it is back`);
      }
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
  }
}
