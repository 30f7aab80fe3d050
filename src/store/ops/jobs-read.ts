import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import type { JobRow } from './jobs-write.js';
import { type JobSummaryRow, selectJobSummary } from './job-summary.js';

export async function getJob(db: Kysely<Database>, id: string): Promise<JobRow | undefined> {
  return db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function findJobByIdempotencyKey(
  db: Kysely<Database>,
  tokenId: string | null,
  key: string,
): Promise<JobRow | undefined> {
  let q = db.selectFrom('jobs').selectAll().where('idempotency_key', '=', key);
  q = tokenId === null ? q.where('token_id', 'is', null) : q.where('token_id', '=', tokenId);
  return q.executeTakeFirst();
}

export interface JobFilter {
  state?: string | undefined;
  kind?: string | undefined;
  /** Only this token's jobs (a non-admin caller's own). */
  tokenId?: string | undefined;
  /** Return jobs older than this id (ids sort by creation time). */
  before?: string | undefined;
  limit: number;
}

/** Newest first, as summaries (no output, a trimmed spec); fetches one extra row to know whether another page exists. */
export async function listJobs(
  db: Kysely<Database>,
  filter: JobFilter,
): Promise<{ rows: JobSummaryRow[]; next: string | null }> {
  let q = selectJobSummary(db, db.selectFrom('jobs')).orderBy('id', 'desc').limit(filter.limit + 1);
  if (filter.state) q = q.where('state', '=', filter.state);
  if (filter.kind) q = q.where('kind', '=', filter.kind);
  if (filter.tokenId !== undefined) q = q.where('token_id', '=', filter.tokenId);
  if (filter.before) q = q.where('id', '<', filter.before);
  const rows = await q.execute();
  const more = rows.length > filter.limit;
  const page = more ? rows.slice(0, filter.limit) : rows;
  return { rows: page, next: more ? page.at(-1)!.id : null };
}

export async function listJobsInState(db: Kysely<Database>, state: string, host?: string): Promise<JobRow[]> {
  let q = db.selectFrom('jobs').selectAll().where('state', '=', state);
  if (host !== undefined) q = q.where('host', '=', host);
  return q.orderBy('id').execute();
}

export async function countJobsInState(db: Kysely<Database>, state: string): Promise<number> {
  const row = await db
    .selectFrom('jobs')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('state', '=', state)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
