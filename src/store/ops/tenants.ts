import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';

/** Queued and running jobs per token: what admission control counts in memory, recounted from here. */
export async function countActiveJobs(
  db: Kysely<Database>,
): Promise<{ token_id: string | null; state: string; n: number }[]> {
  const rows = await db
    .selectFrom('jobs')
    .select(['token_id', 'state', (eb) => eb.fn.countAll<number>().as('n')])
    .where('state', 'in', ['queued', 'running'])
    .groupBy(['token_id', 'state'])
    .execute();
  return rows.map((r) => ({ ...r, n: Number(r.n) }));
}

/** The earliest queue deadline of any queued job (ISO), or undefined when none has one. */
export async function nextQueueDeadline(db: Kysely<Database>): Promise<string | undefined> {
  const row = await db
    .selectFrom('jobs')
    .select('queue_expires_at')
    .where('state', '=', 'queued')
    .where('queue_expires_at', 'is not', null)
    .orderBy('queue_expires_at')
    .limit(1)
    .executeTakeFirst();
  return row?.queue_expires_at ?? undefined;
}

/** Queued jobs whose deadline is at or before `now`, oldest deadline first. */
export async function listExpiredQueued(db: Kysely<Database>, now: string, limit: number) {
  return db
    .selectFrom('jobs')
    .selectAll()
    .where('state', '=', 'queued')
    .where('queue_expires_at', '<=', now)
    .orderBy('queue_expires_at')
    .limit(limit)
    .execute();
}
