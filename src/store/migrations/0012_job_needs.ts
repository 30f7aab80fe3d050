import type { Kysely } from 'kysely';

/**
 * What a queued job needs of its host (src/fleet/needs.ts), one row per need, so a claim takes only
 * jobs whose every need is among the claiming host's capabilities — a NOT EXISTS the same on both
 * dialects. Jobs without needs (most) have no rows. `hosts.caps` (JSON) is what each host offers, read
 * at submit to tell whether any host of the fleet would run a job. Portable DDL, like 0001.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('job_needs')
    .addColumn('job_id', 'text', (c) => c.notNull())
    .addColumn('need', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('job_needs_pk', ['job_id', 'need'])
    .execute();
  await db.schema.alterTable('hosts').addColumn('caps', 'text', (c) => c.notNull().defaultTo('[]')).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('hosts').dropColumn('caps').execute();
  await db.schema.dropTable('job_needs').execute();
}
