import { mkdirSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { PaddockError } from '../errors.js';
import { migrationProvider } from './migrations/index.js';
import type { Database } from './schema.js';

/**
 * Opens the store named by a URL and runs pending migrations. Only the dialect
 * differs between engines; every caller speaks Kysely against one schema.
 */
export async function openDatabase(url: string): Promise<Kysely<Database>> {
  const db = new Kysely<Database>({ dialect: dialectFor(url) });
  const { error, results } = await new Migrator({ db, provider: migrationProvider }).migrateToLatest();
  if (error) {
    await db.destroy();
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw new PaddockError('internal', `store migration ${failed ?? ''} failed: ${(error as Error).message}`);
  }
  return db;
}

function dialectFor(url: string) {
  if (url.startsWith('sqlite:')) {
    const file = url.slice('sqlite:'.length);
    if (file !== ':memory:') mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    const sqlite = new SQLite(file);
    // WAL lets the CLI read while the server writes; NORMAL sync keeps commits
    // durable across a process crash (what kill -9 tests) at a fraction of FULL's cost.
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('busy_timeout = 5000');
    return new SqliteDialect({ database: withStatementCache(sqlite) });
  }
  const scheme = url.split(':')[0];
  throw new PaddockError(
    'config_invalid',
    `store_url scheme "${scheme}:" is not supported yet; use sqlite:<path> (PostgreSQL fleet mode is planned)`,
    { key: 'store_url' },
  );
}

/**
 * Kysely prepares every query afresh; the runner issues the same few statements
 * for every job, so reuse them. Safe because SQLite has one connection here and
 * Kysely runs one statement at a time on it.
 */
function withStatementCache(db: SQLite.Database, max = 256) {
  const cache = new Map<string, SQLite.Statement>();
  return {
    close: () => db.close(),
    prepare(sql: string) {
      let stmt = cache.get(sql);
      if (!stmt) {
        stmt = db.prepare(sql);
        if (cache.size >= max) cache.delete(cache.keys().next().value!);
        cache.set(sql, stmt);
      }
      return stmt;
    },
  };
}
