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
 * `move` is the UPDATE … RETURNING * of the job; `data` the event's JSON text, which may use the
 * moved row's columns as `moved.<column>`.
 */
export async function moveWithEvent(
  db: Kysely<Database>,
  move: OperationNodeSource,
  data: RawBuilder<string> | string,
  eventData: (row: JobRow) => Record<string, unknown>,
  createdAt: string,
): Promise<{ row: JobRow; event: StoredEvent } | undefined> {
  const dataSql = typeof data === 'string' ? sql`${data}` : data;
  const r = await sql<JobRow & { event_seq: number | string | null }>`
    with moved as (${move}),
    ev as (
      insert into job_events (job_id, seq, type, data, bytes, created_at)
      select moved.id, (select coalesce(max(e.seq), 0) + 1 from job_events e where e.job_id = moved.id), 'state', ${dataSql}, null, ${createdAt}
      from moved
      on conflict (job_id, seq) do nothing
      returning seq
    )
    select moved.*, (select seq from ev) as event_seq from moved`.execute(db);
  const found = r.rows[0];
  if (!found) return undefined;
  const { event_seq, ...row } = found;
  const payload = eventData(row);
  const event =
    event_seq === null || event_seq === undefined
      ? await appendEvent(db, row.id, 'state', payload)
      : { seq: Number(event_seq), type: 'state', data: payload, created_at: createdAt };
  return { row, event };
}
