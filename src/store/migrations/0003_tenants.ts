import type { Kysely } from 'kysely';

/**
 * Tenants and admission control: per-token quotas (null = the runner's
 * `quotas.*` default), a queue deadline per job, and indexes for "this token's
 * jobs" and for the expiry sweep. Portable DDL, like 0001.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  for (const column of ['max_queued', 'max_running', 'submits_per_s', 'max_streams']) {
    await db.schema.alterTable('tokens').addColumn(column, 'integer').execute();
  }
  // ISO-8601 UTC like every timestamp here, so it compares as text.
  await db.schema.alterTable('jobs').addColumn('queue_expires_at', 'text').execute();
  await db.schema.createIndex('jobs_token').on('jobs').columns(['token_id', 'id']).execute();
  await db.schema.createIndex('jobs_queue_expiry').on('jobs').columns(['state', 'queue_expires_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('jobs_queue_expiry').execute();
  await db.schema.dropIndex('jobs_token').execute();
  await db.schema.alterTable('jobs').dropColumn('queue_expires_at').execute();
  for (const column of ['max_streams', 'submits_per_s', 'max_running', 'max_queued']) {
    await db.schema.alterTable('tokens').dropColumn(column).execute();
  }
}
