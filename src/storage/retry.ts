import { isStorageFull } from '../store/storage-full.js';
import type { Logger } from '../util/log.js';

const RETRY_MS = 1000;

/**
 * Runs `write` until it succeeds, waiting while the disk is full: for writes
 * that must land eventually (a running job's end). Other errors, and a full
 * disk once `giveUp()` says so (the runner is stopping), are thrown.
 */
export async function retryWhileFull<T>(write: () => Promise<T>, giveUp: () => boolean, log: Logger): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await write();
    } catch (err) {
      if (!isStorageFull(err) || giveUp()) throw err;
      if (attempt === 0) log.warn('disk full: retrying to record the end of a job until there is room');
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
  }
}
