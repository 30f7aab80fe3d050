import { PaddockError } from '../errors.js';

/**
 * SQLite's ways of saying the disk is full: SQLITE_FULL for a write, and
 * SQLITE_IOERR_SHMSIZE when the WAL index (`-shm`) cannot grow — what opening
 * a database on a full disk answers. ENOSPC is the same from the file system;
 * 53100 (disk_full) is PostgreSQL's SQLSTATE for it.
 */
const FULL_CODES = new Set(['SQLITE_FULL', 'SQLITE_IOERR_SHMSIZE', 'ENOSPC', '53100']);

export function isStorageFull(err: unknown): boolean {
  if (err instanceof PaddockError) return err.code === 'storage_full';
  return typeof err === 'object' && err !== null && FULL_CODES.has(String((err as { code?: unknown }).code));
}

/** Seconds a client is told to wait before retrying a submit refused for lack of disk space. */
export const STORAGE_RETRY_AFTER_S = 30;

export function storageFullError(cause?: unknown): PaddockError {
  return new PaddockError(
    'storage_full',
    'the runner is out of disk space for its store; retry later',
    { retry_after_s: STORAGE_RETRY_AFTER_S },
    cause === undefined ? undefined : { cause },
  );
}
