import { type Kysely, type OperationNodeSource, type RawBuilder, sql } from 'kysely';
import type { Database } from '../schema.js';
import { appendEvent, type StoredEvent } from './events.js';
import type { JobRow } from './jobs-write.js';

/**
 * PostgreSQL: a job's state change and its `state` event in ONE statement (a data-modifying CTE),
 * where SQLite takes a transaction of several. One statement is atomic by itself, so the claim and
 * the end of a job cost a round trip each instead of four or five — the fleet's queue path
 * (bench/fleet). The event's seq is computed in the statement, as insertNextSeq does; in the rare
 * race for a seq (another writer of the same job's events at that instant) the event is appended
 * after, on its own: the state change stands either way.
 *
 * `move` is the UPDATE … RETURNING * of the jobs (one, or a claim's batch); `data` the event's JSON
 * text, which may use each moved row's columns as `moved.<column>`. Rows come back in claim order.
 */
export async function moveWithEvent(
  db: Kysely<Database>,
  move: OperationNodeSource,
  data: RawBuilder<string> | string,
  eventData: (row: JobRow) => Record<string, unknown>,
  createdAt: string,
): Promise<{ row: JobRow; event: StoredEvent }[]> {
  const dataSql = typeof data === 'string' ? sql`${data}` : data;
  const r = await sql<JobRow & { event_seq: number | string | null }>`
    with moved as (${move}),
    ev as (
      insert into job_events (job_id, seq, type, data, bytes, created_at)
      select moved.id, (select coalesce(max(e.seq), 0) + 1 from job_events e where e.job_id = moved.id), 'state', ${dataSql}, null, ${createdAt}
      from moved
      on conflict (job_id, seq) do nothing
      returning job_id, seq
    )
    select moved.*, ev.seq as event_seq from moved left join ev on ev.job_id = moved.id order by moved.priority desc, moved.id`.execute(db);
  const out: { row: JobRow; event: StoredEvent }[] = [];
  for (const { event_seq, ...row } of r.rows) {
    const payload = eventData(row);
    const event =
      event_seq === null || event_seq === undefined
        ? await appendEvent(db, row.id, 'state', payload)
        : { seq: Number(event_seq), type: 'state', data: payload, created_at: createdAt };
    out.push({ row, event });
  }
  return out;
}
