import { type Kysely, sql } from 'kysely';
import { PaddockError } from '../../errors.js';
import { nowIso } from '../../util/ids.js';
import { isPostgres } from '../dialect.js';
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
  lease?: string | null,
): Promise<StoredEvent> {
  const created_at = nowIso();
  const row = { job_id: jobId, type, data: JSON.stringify(data), bytes: null, created_at };
  const seq = lease
    ? await db.transaction().execute(async (trx) => (await holdLease(trx, jobId, lease), insertNextSeq(trx, row)))
    : await insertNextSeq(db, row);
  return { seq, type, data, created_at };
}

/**
 * Fencing: the write goes on only while the job is running under `lease`, else `lease_lost`. On
 * PostgreSQL the row is share-locked until the write commits, so a takeover cannot slip in between.
 */
async function holdLease(trx: Kysely<Database>, jobId: string, lease: string): Promise<void> {
  const q = trx.selectFrom('jobs').select('id').where('id', '=', jobId).where('state', '=', 'running').where('lease_token', '=', lease);
  const held = await (isPostgres(trx) ? q.forShare() : q).executeTakeFirst();
  if (!held) throw new PaddockError('lease_lost', `job ${jobId} is no longer held under this lease; nothing written`);
}

/** Writers of one job's events racing for a seq (PostgreSQL, several hosts) take turns: at most this many. */
const SEQ_TRIES = 20;

/**
 * Inserts an event at the job's next seq. The seq is computed in the statement; where two writers
 * compute the same one (PostgreSQL, READ COMMITTED), the later insert does nothing — which, unlike a
 * unique violation, leaves its transaction usable — and tries again with a fresh snapshot.
 */
async function insertNextSeq(db: Kysely<Database>, row: Omit<JobEventsTable, 'seq'>): Promise<number> {
  for (let i = 0; i < SEQ_TRIES; i++) {
    const inserted = await db
      .insertInto('job_events')
      .values({ ...row, seq: sql<number>`(select coalesce(max(seq), 0) + 1 from job_events where job_id = ${row.job_id})` })
      .onConflict((oc) => oc.columns(['job_id', 'seq']).doNothing())
      .returning('seq')
      .executeTakeFirst();
    if (inserted) return Number(inserted.seq);
  }
  throw new Error(`job ${row.job_id}: no free event seq after ${SEQ_TRIES} tries`);
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

/** Output rows (0002) carry bytes; they read as `{data: text}` like the JSON rows of 0001. */
const toEvent = (r: JobEventsTable): StoredEvent => ({
  seq: Number(r.seq),
  type: r.type,
  data: r.bytes ? { data: utf8.decode(r.bytes) } : JSON.parse(r.data),
  created_at: r.created_at,
});

const utf8 = new TextDecoder('utf-8');

export type OutputStream = 'stdout' | 'stderr';

/**
 * Appends output chunks as `stdout`/`stderr` events with raw bytes (no JSON:
 * a NUL costs one byte, not six) in one transaction, in the order given.
 */
export async function appendOutput(
  db: Kysely<Database>,
  jobId: string,
  chunks: readonly { stream: OutputStream; bytes: Buffer }[],
  lease?: string | null,
): Promise<StoredEvent[]> {
  if (chunks.length === 0) return [];
  return db.transaction().execute(async (trx) => {
    if (lease) await holdLease(trx, jobId, lease);
    const created_at = nowIso();
    const events: StoredEvent[] = [];
    for (const { stream, bytes } of chunks) {
      const seq = await insertNextSeq(trx, { job_id: jobId, type: stream, data: '', bytes, created_at });
      events.push({ seq, type: stream, data: { data: utf8.decode(bytes) }, created_at });
    }
    return events;
  });
}

/** Rows read at a time while assembling a job's output (each ≤ 64 KiB). */
const OUTPUT_PAGE = 64;

/**
 * A job's stored output per stream, at most `capBytes` each (the job's
 * `output_bytes`, which the drivers already enforce), byte for byte.
 */
export async function readOutput(
  db: Kysely<Database>,
  jobId: string,
  capBytes: number,
): Promise<Record<OutputStream, Buffer>> {
  const parts: Record<OutputStream, Buffer[]> = { stdout: [], stderr: [] };
  const sizes: Record<OutputStream, number> = { stdout: 0, stderr: 0 };
  let after = 0;
  for (;;) {
    const rows = await db
      .selectFrom('job_events')
      .select(['seq', 'type', 'data', 'bytes'])
      .where('job_id', '=', jobId)
      .where('type', 'in', ['stdout', 'stderr'])
      .where('seq', '>', after)
      .orderBy('seq')
      .limit(OUTPUT_PAGE)
      .execute();
    for (const r of rows) {
      const stream = r.type as OutputStream;
      const room = capBytes - sizes[stream];
      if (room <= 0) continue;
      const bytes = r.bytes ?? Buffer.from((JSON.parse(r.data) as { data: string }).data, 'utf8');
      const part = bytes.length > room ? bytes.subarray(0, room) : bytes;
      parts[stream].push(part);
      sizes[stream] += part.length;
    }
    if (rows.length < OUTPUT_PAGE || (sizes.stdout >= capBytes && sizes.stderr >= capBytes)) break;
    after = Number(rows.at(-1)!.seq);
  }
  return { stdout: Buffer.concat(parts.stdout), stderr: Buffer.concat(parts.stderr) };
}
