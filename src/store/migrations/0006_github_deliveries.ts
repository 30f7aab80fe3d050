import type { Kysely } from 'kysely';

/**
 * GitHub webhook deliveries already taken (`X-GitHub-Delivery`), so a redelivery starts no second
 * job; `job_id` is the job a delivery started once it is submitted. Old rows are pruned
 * (src/store/ops/github-deliveries.ts). Portable DDL, like 0001.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('github_deliveries')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('event', 'text', (c) => c.notNull())
    .addColumn('job_id', 'text')
    .addColumn('received_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('github_deliveries_received').on('github_deliveries').column('received_at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('github_deliveries_received').execute();
  await db.schema.dropTable('github_deliveries').execute();
}
