import { type Kysely, sql } from 'kysely';
import type { Database } from '../schema.js';
import { isPostgres } from '../dialect.js';

const ACTIVE = ['queued', 'running'];

export interface PruneBatch {
  /** Delete finished jobs that ended before this ISO time. */
  finishedBefore?: string | undefined;
  /** Keep this many of the newest finished jobs; older ones go. */
  keep?: number | undefined;
  /** At most this many jobs per call, so one call never holds the database long. */
  limit: number;
}

/**
 * Deletes one batch of finished jobs (never queued or running ones) with all
 * their events, in one transaction. Returns how many jobs and events went;
 * fewer jobs than `limit` means nothing more matches. `ids` are the jobs that went
 * (what else a job owns, its artifacts, goes after them).
 */
export async function pruneJobs(db: Kysely<Database>, batch: PruneBatch): Promise<{ jobs: number; events: number; ids: string[] }> {
  return db.transaction().execute(async (trx) => {
    const ids = new Set<string>();
    if (batch.finishedBefore) {
      const rows = await trx
        .selectFrom('jobs')
        .select('id')
        .where('finished_at', '<', batch.finishedBefore)
        .where('state', 'not in', ACTIVE)
        .orderBy('finished_at')
        .limit(batch.limit)
        .execute();
      rows.forEach((r) => ids.add(r.id));
    }
    if (batch.keep !== undefined && ids.size < batch.limit) {
      const rows = await trx
        .selectFrom('jobs')
        .select('id')
        .where('state', 'not in', ACTIVE)
        .orderBy('id', 'desc')
        .limit(batch.limit - ids.size)
        .offset(batch.keep)
        .execute();
      rows.forEach((r) => ids.add(r.id));
    }
    if (ids.size === 0) return { jobs: 0, events: 0, ids: [] };
    const list = [...ids];
    const events = await trx.deleteFrom('job_events').where('job_id', 'in', list).executeTakeFirst();
    await trx.deleteFrom('job_needs').where('job_id', 'in', list).execute();
    const jobs = await trx.deleteFrom('jobs').where('id', 'in', list).where('state', 'not in', ACTIVE).executeTakeFirst();
    return { jobs: Number(jobs.numDeletedRows), events: Number(events.numDeletedRows), ids: list };
  });
}

/**
 * Gives up to `pages` free pages back to the file system (databases created
 * with incremental auto-vacuum; elsewhere freed pages are reused by SQLite).
 */
export async function releaseFreePages(db: Kysely<Database>, pages: number): Promise<void> {
  // PostgreSQL's autovacuum reclaims dead rows itself.
  if (isPostgres(db)) return;
  await sql.raw(`pragma incremental_vacuum(${Math.max(0, Math.floor(pages))})`).execute(db);
}

/** Bytes the database file holds and how many of them are free pages. */
export async function databaseSize(db: Kysely<Database>): Promise<{ bytes: number; freeBytes: number }> {
  if (isPostgres(db)) {
    const { rows } = await sql<{ bytes: number }>`select pg_database_size(current_database()) as bytes`.execute(db);
    return { bytes: Number(rows[0]!.bytes), freeBytes: 0 };
  }
  const one = async (name: string) =>
    Number(Object.values((await sql.raw(`pragma ${name}`).execute(db)).rows[0] as Record<string, unknown>)[0]);
  const pageSize = await one('page_size');
  return { bytes: (await one('page_count')) * pageSize, freeBytes: (await one('freelist_count')) * pageSize };
}
