import type { Kysely } from 'kysely';

/** A token's own cap on live sandboxes (null = the runner's `quotas.max_sandboxes`). Portable DDL, like 0001. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('tokens').addColumn('max_sandboxes', 'integer').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('tokens').dropColumn('max_sandboxes').execute();
}
