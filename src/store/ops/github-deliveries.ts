import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';

/**
 * Records a webhook delivery; false when its id was recorded before (a redelivery). The primary
 * key decides, so two concurrent copies of one delivery cannot both be new.
 */
export async function recordGithubDelivery(
  db: Kysely<Database>,
  row: { id: string; event: string; received_at: string },
): Promise<boolean> {
  const result = await db
    .insertInto('github_deliveries')
    .values({ ...row, job_id: null })
    .onConflict((oc) => oc.column('id').doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0n) === 1;
}

/** The job a delivery started. */
export async function setGithubDeliveryJob(db: Kysely<Database>, id: string, jobId: string): Promise<void> {
  await db.updateTable('github_deliveries').set({ job_id: jobId }).where('id', '=', id).execute();
}

/** A delivery whose job could not be submitted is forgotten, so a redelivery may try again. */
export async function forgetGithubDelivery(db: Kysely<Database>, id: string): Promise<void> {
  await db.deleteFrom('github_deliveries').where('id', '=', id).execute();
}

export async function getGithubDelivery(db: Kysely<Database>, id: string) {
  return db.selectFrom('github_deliveries').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Forgets deliveries received before `before` (ISO); returns how many. */
export async function pruneGithubDeliveries(db: Kysely<Database>, before: string): Promise<number> {
  const result = await db.deleteFrom('github_deliveries').where('received_at', '<', before).executeTakeFirst();
  return Number(result.numDeletedRows);
}
