import { type Kysely, PostgresAdapter } from 'kysely';

/**
 * Which engine a Kysely instance (or a transaction on it) talks to. The ops are one code path;
 * only locking (SKIP LOCKED), binary columns and SQLite's file pragmas differ.
 */
export function isPostgres(db: Kysely<unknown> | Kysely<any>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

/** `postgres://…` / `postgresql://…` name a PostgreSQL store; `sqlite:…` the embedded one. */
export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//.test(url);
}
