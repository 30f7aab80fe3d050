import { type Kysely, type RawBuilder, type SelectQueryBuilder, sql } from 'kysely';
import { isPostgres } from '../dialect.js';
import type { Database } from '../schema.js';
import type { JobRow } from './jobs-write.js';

/**
 * A job row for list pages: `spec` holds only what the view shows (image,
 * limits) and `result` has no `stdout`/`stderr`, both trimmed inside the database so
 * the runner never loads them. Full rows once made a 500-job page 206 MB (a
 * spec may carry 8 MB of files and stdin; a result, 2 × 64 MiB of output).
 */
const COLUMNS = [
  'id',
  'kind',
  'state',
  'priority',
  'attempts',
  'reason',
  'error',
  'exit_code',
  'driver',
  'labels',
  'host',
  'token_id',
  'created_at',
  'started_at',
  'finished_at',
  'updated_at',
] as const;

export type JobSummaryRow = Pick<JobRow, (typeof COLUMNS)[number] | 'spec' | 'result'>;

/** Selects a JobSummaryRow per job. Columns are listed because the big ones must stay out. */
export function selectJobSummary<O>(db: Kysely<Database>, q: SelectQueryBuilder<Database, 'jobs', O>) {
  if (isPostgres(db)) {
    return q.select([
      ...COLUMNS,
      sql<string>`jsonb_build_object('image', spec::jsonb->'image', 'limits', spec::jsonb->'limits', 'callback_url', spec::jsonb->'callback_url', 'callback_secret', coalesce(jsonb_typeof(spec::jsonb->'callback_secret'), 'null') <> 'null')::text`.as(
        'spec',
      ),
      sql<string | null>`(result::jsonb - 'stdout' - 'stderr')::text`.as('result'),
    ]);
  }
  return q.select([
    ...COLUMNS,
    // The callback secret only as a flag: the view shows it redacted, so its value need not be read.
    sql<string>`json_object('image', json_extract(spec, '$.image'), 'limits', json(json_extract(spec, '$.limits')), 'callback_url', json_extract(spec, '$.callback_url'), 'callback_secret', json_extract(spec, '$.callback_secret') is not null)`.as(
      'spec',
    ),
    sql<string | null>`json_remove(result, '$.stdout', '$.stderr')`.as('result'),
  ]);
}

/**
 * One top-level field of a JSON text column, as text (strings) — SQLite's JSON path or PostgreSQL's
 * `->>`. Keys are quoted, so `.` and `/` in a label key stay literal; callers pass only keys their
 * grammar allows (no quotes).
 */
export function jsonField(db: Kysely<Database>, column: 'spec' | 'labels', key: string): RawBuilder<string | null> {
  return isPostgres(db)
    ? sql<string | null>`(${sql.ref(column)}::jsonb ->> ${key})`
    : sql<string | null>`json_extract(${sql.ref(column)}, ${`$."${key}"`})`;
}
