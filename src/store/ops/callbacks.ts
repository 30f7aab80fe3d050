import { type Kysely, sql } from 'kysely';
import type { Database } from '../schema.js';
import { jsonField, type JobSummaryRow, selectJobSummary } from './job-summary.js';

export interface CallbackTargetRow extends JobSummaryRow {
  callback_url: string | null;
  callback_secret: string | null;
  /** The submitting token's `callback_secret` (migration 0007). */
  token_callback_secret: string | null;
}

/**
 * What a state callback needs of a job, in one query: its summary row (spec and result trimmed in
 * the database, as list pages read them, so a spec of 8 MB of files is never loaded), its callback fields
 * and its token's secret.
 */
export async function getCallbackTarget(db: Kysely<Database>, id: string): Promise<CallbackTargetRow | undefined> {
  return selectJobSummary(db, db.selectFrom('jobs'))
    .select([
      jsonField(db, 'spec', 'callback_url').as('callback_url'),
      jsonField(db, 'spec', 'callback_secret').as('callback_secret'),
      sql<string | null>`(select t.callback_secret from tokens t where t.id = jobs.token_id)`.as('token_callback_secret'),
    ])
    .where('id', '=', id)
    .executeTakeFirst();
}
