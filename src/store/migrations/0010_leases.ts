import type { Kysely } from 'kysely';

/**
 * Fenced leases (fleet mode): each claim of a job writes a fresh `lease_token`, and every write of the
 * run that claim started (its output, its events, its end) must still carry it — a host that comes back
 * after its lease was taken over writes nothing. The index serves the sweep for expired leases.
 * Portable DDL, like 0001.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('jobs').addColumn('lease_token', 'text').execute();
  await db.schema.createIndex('jobs_lease_expiry').on('jobs').columns(['state', 'lease_expires_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('jobs_lease_expiry').execute();
  await db.schema.alterTable('jobs').dropColumn('lease_token').execute();
}
