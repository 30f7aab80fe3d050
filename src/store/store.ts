import type { Kysely } from 'kysely';
import { openDatabase, type OpenOptions } from './open.js';
import { appendEvent, appendOutput, listEvents, readOutput } from './ops/events.js';
import {
  countJobsInState,
  findJobByIdempotencyKey,
  getJob,
  listJobs,
  listJobsInState,
} from './ops/jobs-read.js';
import { claimJobs, claimNextJob, insertJob, listExpiredLeases, renewLeases, setJobDriver, transitionJob } from './ops/jobs-write.js';
import { getCallbackTarget } from './ops/callbacks.js';
import { databaseSize, pruneJobs, releaseFreePages } from './ops/retention.js';
import { countActiveJobs, listExpiredQueued, nextQueueDeadline } from './ops/tenants.js';
import {
  deleteSandbox,
  getSandbox,
  insertSandbox,
  listLiveSandboxes,
  listSandboxes,
  pruneSandboxes,
  updateSandbox,
} from './ops/sandboxes.js';
import { getToken, insertToken, listTokens, revokeToken } from './ops/tokens.js';
import {
  forgetGithubDelivery,
  getGithubDelivery,
  pruneGithubDeliveries,
  recordGithubDelivery,
  setGithubDeliveryJob,
} from './ops/github-deliveries.js';
import { countSnapshots, deleteSnapshot, getSnapshot, insertSnapshot, listSnapshots } from './ops/snapshots.js';
import { getHost, heartbeatHost, listHosts, registerHost } from './ops/hosts.js';
import type { Database } from './schema.js';
import { PaddockError } from '../errors.js';
import { isStorageFull, storageFullError } from './storage-full.js';
import { isStoreUnavailable, storeUnavailableError } from './unavailable.js';

type Bound<F> = F extends (db: Kysely<Database>, ...args: infer A) => infer R ? (...args: A) => R : never;

const OPS = {
  insertJob,
  transitionJob,
  claimNextJob,
  claimJobs,
  setJobDriver,
  renewLeases,
  listExpiredLeases,
  getJob,
  findJobByIdempotencyKey,
  listJobs,
  listJobsInState,
  countJobsInState,
  appendEvent,
  listEvents,
  appendOutput,
  readOutput,
  pruneJobs,
  releaseFreePages,
  databaseSize,
  insertToken,
  getToken,
  listTokens,
  revokeToken,
  countActiveJobs,
  nextQueueDeadline,
  listExpiredQueued,
  insertSandbox,
  getSandbox,
  listSandboxes,
  listLiveSandboxes,
  updateSandbox,
  deleteSandbox,
  pruneSandboxes,
  insertSnapshot,
  getSnapshot,
  listSnapshots,
  countSnapshots,
  deleteSnapshot,
  getCallbackTarget,
  recordGithubDelivery,
  setGithubDeliveryJob,
  forgetGithubDelivery,
  getGithubDelivery,
  pruneGithubDeliveries,
  registerHost,
  heartbeatHost,
  listHosts,
  getHost,
};

/**
 * The store every component receives: one function per operation, with the
 * database bound in. Callers never build SQL; the ops live in ./ops.
 */
export type Store = { [K in keyof typeof OPS]: Bound<(typeof OPS)[K]> } & {
  close(): Promise<void>;
  /** Called whenever an operation failed for lack of disk space (the storage guard listens). */
  onStorageFull(listener: (err: unknown) => void): void;
};

/**
 * Every operation's "disk full" (SQLITE_FULL and friends) becomes one
 * `PaddockError('storage_full')` (507 with Retry-After), and listeners hear of it;
 * a database that cannot be reached becomes `store_unavailable` (503 with Retry-After).
 */
export function storeFor(db: Kysely<Database>): Store {
  const listeners: ((err: unknown) => void)[] = [];
  const bound = Object.fromEntries(
    Object.entries(OPS).map(([name, op]) => [
      name,
      (...args: unknown[]) =>
        ((op as Function)(db, ...args) as Promise<unknown>).catch((err: unknown) => {
          // Already typed (lease_lost): as it is.
          if (err instanceof PaddockError && err.code !== 'storage_full') throw err;
          if (isStoreUnavailable(err)) throw storeUnavailableError(err);
          if (!isStorageFull(err)) throw err;
          for (const listener of listeners) listener(err);
          throw storageFullError(err);
        }),
    ]),
  ) as Omit<Store, 'close' | 'onStorageFull'>;
  return { ...bound, close: () => db.destroy(), onStorageFull: (listener) => void listeners.push(listener) };
}

export async function openStore(url: string, opts?: OpenOptions): Promise<Store> {
  return storeFor(await openDatabase(url, opts));
}

export type { JobRow } from './ops/jobs-write.js';
export type { JobSummaryRow } from './ops/job-summary.js';
export type { CallbackTargetRow } from './ops/callbacks.js';
export type { OutputStream, StoredEvent } from './ops/events.js';
export type { StoredQuotas, TokenRow } from './ops/tokens.js';
export type { HostBeat, HostDriver, HostRow, HostState, NewHost } from './ops/hosts.js';
export type { SandboxFilter, SandboxPatch, SandboxRow } from './ops/sandboxes.js';
