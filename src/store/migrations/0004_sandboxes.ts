import type { Kysely } from 'kysely';

/**
 * Persistent sandboxes (POST /v1/sandboxes). One row per sandbox, kept after it
 * ends on its own (TTL, lifetime, died, restart) so GET can say why; DELETE drops
 * the row. `spec` and `labels` are JSON text, read back through a schema
 * (src/store/ops/sandboxes.ts). Portable DDL, like 0001.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('sandboxes')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('token_id', 'text')
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('detail', 'text')
    .addColumn('driver', 'text', (c) => c.notNull())
    .addColumn('image', 'text')
    .addColumn('spec', 'text', (c) => c.notNull())
    .addColumn('labels', 'text', (c) => c.notNull())
    .addColumn('host_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('last_used_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('max_lifetime_at', 'text', (c) => c.notNull())
    .addColumn('ended_at', 'text')
    .execute();
  await db.schema.createIndex('sandboxes_token').on('sandboxes').columns(['token_id', 'id']).execute();
  await db.schema.createIndex('sandboxes_host_state').on('sandboxes').columns(['host_id', 'state']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('sandboxes_host_state').execute();
  await db.schema.dropIndex('sandboxes_token').execute();
  await db.schema.dropTable('sandboxes').execute();
}
