import type { Kysely } from 'kysely';
import { isPostgres } from '../dialect.js';

/**
 * Filesystem snapshots of persistent sandboxes (POST /v1/sandboxes/:id/snapshots): the archive
 * is a file in the data dir of the host that took it (`host_id`), this row says whose it is and
 * what a sandbox made from it starts as (`spec`: the source's stored spec, JSON). Portable DDL; on
 * PostgreSQL the size is a bigint (SQLite's integer is 64-bit already).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('sandbox_snapshots')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('token_id', 'text')
    .addColumn('sandbox_id', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('driver', 'text', (c) => c.notNull())
    .addColumn('image', 'text')
    .addColumn('spec', 'text', (c) => c.notNull())
    .addColumn('labels', 'text', (c) => c.notNull())
    .addColumn('size_bytes', isPostgres(db) ? 'bigint' : 'integer', (c) => c.notNull())
    .addColumn('host_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('sandbox_snapshots_token').on('sandbox_snapshots').columns(['token_id', 'id']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('sandbox_snapshots_token').execute();
  await db.schema.dropTable('sandbox_snapshots').execute();
}
