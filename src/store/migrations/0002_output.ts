import type { Kysely } from 'kysely';
import { isPostgres } from '../dialect.js';

/**
 * Output stored once and as bytes: a `stdout`/`stderr` event keeps its payload
 * in `bytes` (raw, binary-safe; `data` is then empty), where 0001 rows keep
 * JSON text in `data` — both still read. An index on `finished_at` serves
 * retention. `blob` is SQLite's type, `bytea` PostgreSQL's.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('job_events').addColumn('bytes', isPostgres(db) ? 'bytea' : 'blob').execute();
  await db.schema.createIndex('jobs_finished').on('jobs').columns(['finished_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('jobs_finished').execute();
  await db.schema.alterTable('job_events').dropColumn('bytes').execute();
}
