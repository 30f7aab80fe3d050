import type { Kysely } from 'kysely';

/** A token's own HMAC key for the status callbacks of its jobs (null: the job's, else `callbacks.secret`). */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('tokens').addColumn('callback_secret', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('tokens').dropColumn('callback_secret').execute();
}
