import type { Kysely } from 'kysely';
import { openDatabase } from './open.js';
import { appendEvent, listEvents } from './ops/events.js';
import {
  countJobsInState,
  findJobByIdempotencyKey,
  getJob,
  listJobs,
  listJobsInState,
} from './ops/jobs-read.js';
import { claimNextJob, insertJob, transitionJob } from './ops/jobs-write.js';
import { getToken, insertToken, listTokens, revokeToken } from './ops/tokens.js';
import type { Database } from './schema.js';

type Bound<F> = F extends (db: Kysely<Database>, ...args: infer A) => infer R ? (...args: A) => R : never;

const OPS = {
  insertJob,
  transitionJob,
  claimNextJob,
  getJob,
  findJobByIdempotencyKey,
  listJobs,
  listJobsInState,
  countJobsInState,
  appendEvent,
  listEvents,
  insertToken,
  getToken,
  listTokens,
  revokeToken,
};

/**
 * The store every component receives: one function per operation, with the
 * database bound in. Callers never build SQL; the ops live in ./ops.
 */
export type Store = { [K in keyof typeof OPS]: Bound<(typeof OPS)[K]> } & { close(): Promise<void> };

export function storeFor(db: Kysely<Database>): Store {
  const bound = Object.fromEntries(
    Object.entries(OPS).map(([name, op]) => [name, (...args: unknown[]) => (op as Function)(db, ...args)]),
  ) as Omit<Store, 'close'>;
  return { ...bound, close: () => db.destroy() };
}

export async function openStore(url: string): Promise<Store> {
  return storeFor(await openDatabase(url));
}

export type { JobRow } from './ops/jobs-write.js';
export type { JobSummaryRow } from './ops/job-summary.js';
export type { StoredEvent } from './ops/events.js';
export type { TokenRow } from './ops/tokens.js';
