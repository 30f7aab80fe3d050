import type { Kysely } from 'kysely';

/**
 * The claim takes the next queued job by `priority desc, id asc`. 0001's index (state, priority, id)
 * runs one way only, so neither dialect could walk it in that order and every claim sorted all
 * queued rows (PostgreSQL: a scan and top-N sort, ~2 ms per claim at 3,000 queued, growing with the
 * queue). An index in the claim's own order makes it the first entry of a range scan.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('jobs_claim_order').on('jobs').columns(['state', 'priority desc', 'id']).execute();
  await db.schema.dropIndex('jobs_queue').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('jobs_queue').on('jobs').columns(['state', 'priority', 'id']).execute();
  await db.schema.dropIndex('jobs_claim_order').execute();
}
