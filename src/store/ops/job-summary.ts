import { type SelectQueryBuilder, sql } from 'kysely';
import type { Database } from '../schema.js';
import type { JobRow } from './jobs-write.js';

/**
 * A job row for list pages: `spec` holds only what the view shows (image,
 * limits) and `result` has no `stdout`/`stderr`, both trimmed inside SQLite so
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
export function selectJobSummary<O>(q: SelectQueryBuilder<Database, 'jobs', O>) {
  return q.select([
    ...COLUMNS,
    // The callback secret only as a flag: the view shows it redacted, so its value need not be read.
    sql<string>`json_object('image', json_extract(spec, '$.image'), 'limits', json(json_extract(spec, '$.limits')), 'callback_url', json_extract(spec, '$.callback_url'), 'callback_secret', json_extract(spec, '$.callback_secret') is not null)`.as(
      'spec',
    ),
    sql<string | null>`json_remove(result, '$.stdout', '$.stderr')`.as('result'),
  ]);
}
