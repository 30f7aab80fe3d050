import { type Kysely, sql } from 'kysely';
import { nowIso } from '../../util/ids.js';
import type { Database, JobEventsTable } from '../schema.js';

export interface StoredEvent {
  seq: number;
  type: string;
  data: unknown;
  created_at: string;
}

/**
 * Appends one event and returns its seq. The seq is computed in the same
 * statement, so it is gap-free per job without a read-then-write race.
 */
export async function appendEvent(
  db: Kysely<Database>,
  jobId: string,
  type: string,
  data: unknown,
): Promise<StoredEvent> {
  const created_at = nowIso();
  const row = await db
    .insertInto('job_events')
    .values({
      job_id: jobId,
      seq: sql<number>`(select coalesce(max(seq), 0) + 1 from job_events where job_id = ${jobId})`,
      type,
      data: JSON.stringify(data),
      created_at,
    })
    .returning('seq')
    .executeTakeFirstOrThrow();
  return { seq: Number(row.seq), type, data, created_at };
}

export async function listEvents(
  db: Kysely<Database>,
  jobId: string,
  afterSeq: number,
  limit = 1000,
): Promise<StoredEvent[]> {
  const rows = await db
    .selectFrom('job_events')
    .selectAll()
    .where('job_id', '=', jobId)
    .where('seq', '>', afterSeq)
    .orderBy('seq')
    .limit(limit)
    .execute();
  return rows.map(toEvent);
}

const toEvent = (r: JobEventsTable): StoredEvent => ({
  seq: Number(r.seq),
  type: r.type,
  data: JSON.parse(r.data),
  created_at: r.created_at,
});
