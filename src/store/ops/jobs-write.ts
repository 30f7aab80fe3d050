import { randomBytes } from 'node:crypto';
import { type Kysely, type Selectable, sql, type Updateable } from 'kysely';
import type { JobState } from '../../jobs/states.js';
import { nowIso } from '../../util/ids.js';
import { isPostgres } from '../dialect.js';
import type { Database, JobsTable } from '../schema.js';
import { appendEvent, type StoredEvent } from './events.js';
import { moveWithEvent } from './pg-moves.js';

export type JobRow = Selectable<JobsTable>;

export interface NewJob {
  id: string;
  kind: string;
  spec: unknown;
  priority: number;
  labels: Record<string, string> | undefined;
  token_id: string | null;
  idempotency_key: string | null;
  request_hash: string | null;
  driver: string | null;
  /** ISO time after which the job, still queued, ends `expired`. */
  queue_expires_at?: string | null;
  /** What the job needs of its host (src/fleet/needs.ts); a claim takes it only where all are met. */
  needs?: readonly string[] | undefined;
  /** Claimed at once by this host (a runner with a free slot and nothing queued): saves the claim's transaction. */
  start?: { host: string; leaseMs: number } | undefined;
}

/**
 * Inserts a queued job and its first event in one transaction; with `start`, also its claim
 * (state `running`, attempt 1, the lease) and that event, as claimNextJob would have written them.
 */
export async function insertJob(
  db: Kysely<Database>,
  job: NewJob,
): Promise<{ row: JobRow; event: StoredEvent; started?: StoredEvent | undefined }> {
  return db.transaction().execute(async (trx) => {
    const now = nowIso();
    const start = job.start;
    const row = await trx
      .insertInto('jobs')
      .values({
        id: job.id,
        kind: job.kind,
        spec: JSON.stringify(job.spec),
        state: start ? 'running' : 'queued',
        priority: job.priority,
        attempts: start ? 1 : 0,
        labels: job.labels ? JSON.stringify(job.labels) : null,
        token_id: job.token_id,
        idempotency_key: job.idempotency_key,
        request_hash: job.request_hash,
        created_at: now,
        updated_at: now,
        reason: null,
        error: null,
        result: null,
        exit_code: null,
        driver: job.driver,
        queue_expires_at: job.queue_expires_at ?? null,
        host: start?.host ?? null,
        lease_expires_at: start ? new Date(Date.now() + start.leaseMs).toISOString() : null,
        lease_token: start ? newLeaseToken() : null,
        started_at: start ? now : null,
        finished_at: null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    if (job.needs?.length) {
      await trx.insertInto('job_needs').values(job.needs.map((need) => ({ job_id: job.id, need }))).execute();
    }
    const event = await appendEvent(trx, job.id, 'state', { state: 'queued' });
    const started = start ? await appendEvent(trx, job.id, 'state', { state: 'running', attempt: 1 }) : undefined;
    if (!start) await notifyQueued(trx);
    return { row, event, started };
  });
}

export interface Transition {
  id: string;
  from: readonly JobState[];
  to: JobState;
  reason?: string | null;
  patch?: Updateable<JobsTable>;
  eventData?: Record<string, unknown>;
  /** Only if the job still holds this lease: the move of the run that claim started (fencing). */
  lease?: string | null | undefined;
}

/**
 * Moves a job between states iff it is currently in one of `from`; returns
 * undefined when another writer got there first (e.g. cancel racing completion).
 */
export async function transitionJob(
  db: Kysely<Database>,
  t: Transition,
): Promise<{ row: JobRow; event: StoredEvent } | undefined> {
  const now = nowIso();
  const terminal = !['queued', 'running'].includes(t.to);
  const update = (q: Kysely<Database>) => {
    let u = q
      .updateTable('jobs')
      .set({
        ...t.patch,
        state: t.to,
        reason: t.reason ?? null,
        updated_at: now,
        ...(terminal ? { finished_at: now, lease_expires_at: null, lease_token: null } : {}),
        ...(t.to === 'queued' ? { lease_expires_at: null, lease_token: null } : {}),
      })
      .where('id', '=', t.id)
      .where('state', 'in', [...t.from]);
    if (t.lease) u = u.where('lease_token', '=', t.lease);
    return u.returningAll();
  };
  const data = { state: t.to, ...(t.reason ? { reason: t.reason } : {}), ...t.eventData };
  if (isPostgres(db)) {
    const [moved] = await moveWithEvent(db, update(db), JSON.stringify(data), () => data, now);
    // After the commit, which is when PostgreSQL would deliver it anyway.
    if (moved && t.to === 'queued') await notifyQueued(db);
    return moved;
  }
  return db.transaction().execute(async (trx) => {
    const row = await update(trx).executeTakeFirst();
    if (!row) return undefined;
    const event = await appendEvent(trx, t.id, 'state', data);
    return { row, event };
  });
}

/** What a host's claim passes over: jobs of tokens at their max_running, jobs needing what it lacks. */
export interface ClaimSkip {
  tokens?: readonly string[];
  caps?: readonly string[];
}

/** Claims the next queued job (priority, then FIFO) for `host`. */
export async function claimNextJob(
  db: Kysely<Database>,
  host: string,
  leaseMs: number,
  skip: ClaimSkip = {},
): Promise<{ row: JobRow; event: StoredEvent } | undefined> {
  return (await claimJobs(db, host, leaseMs, 1, skip))[0];
}

/**
 * Claims up to `limit` queued jobs (priority, then FIFO) for `host` at once — one statement on
 * PostgreSQL, one transaction on SQLite — each moved to running with its state event. The jobs of one
 * claim share its fresh lease token (fencing is by job id and token, so that is still a new token for
 * each job). Returned in claim order.
 */
export async function claimJobs(
  db: Kysely<Database>,
  host: string,
  leaseMs: number,
  limit: number,
  skip: ClaimSkip = {},
): Promise<{ row: JobRow; event: StoredEvent }[]> {
  const now = nowIso();
  const n = Math.max(1, Math.floor(limit));
  const claim = {
    state: 'running' as const,
    // A requeued job starts afresh: the previous attempt's end is in its events.
    reason: null,
    error: null,
    host,
    started_at: now,
    updated_at: now,
    lease_expires_at: new Date(Date.now() + leaseMs).toISOString(),
    lease_token: newLeaseToken(),
  };
  if (isPostgres(db)) {
    // One statement: the next rows, locked (hosts claiming at once each lock different ones instead
    // of queueing on the first), moved to running, and their events. ARRAY(…) runs the locking
    // subquery exactly once, where an IN (…) semi-join could be rescanned and take more than `n`.
    const move = db
      .updateTable('jobs')
      .set((eb) => ({ ...claim, attempts: eb('attempts', '+', 1) }))
      .where(sql<boolean>`id = any(array(${nextQueued(db, now, skip, n).forUpdate().skipLocked()}))`)
      .where('state', '=', 'queued')
      .returningAll();
    const data = sql<string>`'{"state":"running","attempt":' || moved.attempts || '}'`;
    return moveWithEvent(db, move, data, (row) => ({ state: 'running', attempt: row.attempts }), now);
  }
  return db.transaction().execute(async (trx) => {
    const next = await nextQueued(trx, now, skip, n).execute();
    const out: { row: JobRow; event: StoredEvent }[] = [];
    for (const { id } of next) {
      const row = await trx
        .updateTable('jobs')
        .set((eb) => ({ ...claim, attempts: eb('attempts', '+', 1) }))
        .where('id', '=', id)
        .where('state', '=', 'queued')
        .returningAll()
        .executeTakeFirst();
      if (!row) continue;
      const event = await appendEvent(trx, row.id, 'state', { state: 'running', attempt: row.attempts });
      out.push({ row, event });
    }
    return out;
  });
}

/** The ids of the next `limit` jobs to claim: queued, priority then FIFO, that this host may take. */
function nextQueued(db: Kysely<Database>, now: string, skip: ClaimSkip, limit: number) {
  let q = db
    .selectFrom('jobs')
    .select('id')
    .where('state', '=', 'queued')
    // Admission: a job past its queue deadline is never started (the sweep ends it
    // `expired`), and jobs of tokens at their max_running wait. NOT IN alone would
    // also skip jobs without a token (NULL), hence the OR.
    .where((eb) => eb.or([eb('queue_expires_at', 'is', null), eb('queue_expires_at', '>', now)]));
  if (skip.tokens?.length) {
    const tokens = [...skip.tokens];
    q = q.where((eb) => eb.or([eb('token_id', 'is', null), eb('token_id', 'not in', tokens)]));
  }
  if (skip.caps) {
    // Only jobs with no need this host does not meet (jobs with no needs have no rows).
    const caps = [...skip.caps];
    q = q.where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('job_needs')
            .select('job_needs.need')
            .whereRef('job_needs.job_id', '=', 'jobs.id')
            .$if(caps.length > 0, (sq) => sq.where('job_needs.need', 'not in', caps)),
        ),
      ),
    );
  }
  return q.orderBy('priority', 'desc').orderBy('id', 'asc').limit(limit);
}

/** The driver the claiming host picked for a job (fenced by its lease, like every write of the run). */
export async function setJobDriver(db: Kysely<Database>, id: string, driver: string, lease: string | null): Promise<void> {
  let q = db.updateTable('jobs').set({ driver }).where('id', '=', id);
  if (lease) q = q.where('lease_token', '=', lease);
  await q.execute();
}

/** A claim's fencing token: unguessable, so no other writer can carry it by accident. */
const newLeaseToken = () => randomBytes(12).toString('base64url');

/**
 * Extends the leases of the jobs this host runs; returns the ids it still holds. A job missing from
 * the answer was ended elsewhere (a cancel on another host) or taken over: its run must stop.
 */
export async function renewLeases(db: Kysely<Database>, host: string, ids: readonly string[], leaseMs: number): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await db
    .updateTable('jobs')
    .set({ lease_expires_at: new Date(Date.now() + leaseMs).toISOString() })
    .where('id', 'in', [...ids])
    .where('host', '=', host)
    .where('state', '=', 'running')
    .returning('id')
    .execute();
  return rows.map((r) => r.id);
}

/** Running jobs whose lease ran out (their host crashed, stalled or lost the database), oldest first. */
export async function listExpiredLeases(db: Kysely<Database>, limit: number): Promise<JobRow[]> {
  return db
    .selectFrom('jobs')
    .selectAll()
    .where('state', '=', 'running')
    .where('lease_expires_at', '<', nowIso())
    .orderBy('lease_expires_at')
    .limit(limit)
    .execute();
}

/** The channel hosts LISTEN on: a job was queued (src/fleet/wakeup.ts). */
export const QUEUED_CHANNEL = 'paddock_jobs_queued';

/** Wakes idle hosts once the transaction commits (PostgreSQL delivers NOTIFY at commit); SQLite has one host. */
async function notifyQueued(trx: Kysely<Database>): Promise<void> {
  if (isPostgres(trx)) await sql`select pg_notify(${QUEUED_CHANNEL}, '')`.execute(trx);
}
