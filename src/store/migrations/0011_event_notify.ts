import { type Kysely, sql } from 'kysely';
import { isPostgres } from '../dialect.js';

/**
 * PostgreSQL only: every stored job event NOTIFYs `paddock_job_events` with `<job id>:<seq>`, so
 * a host following a job that another host runs (an event stream, `?wait=true`) hears of it at once
 * (src/fleet/remote-events.ts). A trigger costs the writer no round trip. SQLite: one host, nothing to do.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  if (!isPostgres(db)) return;
  await sql`create or replace function paddock_notify_job_event() returns trigger language plpgsql as $$
    begin
      perform pg_notify('paddock_job_events', new.job_id || ':' || new.seq);
      return null;
    end $$`.execute(db);
  await sql`create trigger job_events_notify after insert on job_events for each row execute function paddock_notify_job_event()`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  if (!isPostgres(db)) return;
  await sql`drop trigger if exists job_events_notify on job_events`.execute(db);
  await sql`drop function if exists paddock_notify_job_event()`.execute(db);
}
