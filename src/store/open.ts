import { existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { PaddockError } from '../errors.js';
import { migrationProvider } from './migrations/index.js';
import { isStorageFull } from './storage-full.js';
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
    return new SqliteDialect({ database: withStatementCache(file) });
  }
  const scheme = url.split(':')[0];
  throw new PaddockError(
    'config_invalid',
    `store_url scheme "${scheme}:" is not supported yet; use sqlite:<path> (PostgreSQL fleet mode is planned)`,
    { key: 'store_url' },
  );
}

/** How often a connection opened without shared memory (disk was full) tries to become a normal one. */
const SHARED_RETRY_MS = 2000;

/**
 * Opens the SQLite file. WAL lets the CLI read while the server writes; NORMAL
 * sync keeps commits durable across a process crash (what kill -9 tests) at a
 * fraction of FULL's cost. A fresh file gets incremental auto-vacuum, so pruning
 * can give pages back to the file system. `exclusive` keeps the WAL index in
 * memory instead of the `-shm` file: the only way to open on a full disk.
 */
function openSqlite(file: string, exclusive: boolean): SQLite.Database {
  const fresh = file === ':memory:' || !existsSync(file) || statSync(file).size === 0;
  const sqlite = new SQLite(file);
  try {
    if (exclusive) sqlite.pragma('locking_mode = EXCLUSIVE');
    sqlite.pragma('busy_timeout = 5000');
    // Only on a new file: on an existing one it writes (and fails on a full disk) without taking effect.
    if (fresh) sqlite.pragma('auto_vacuum = INCREMENTAL');
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    // A checkpointed WAL is cut back to this size instead of keeping its peak on disk.
    sqlite.pragma(`journal_size_limit = ${4 * 1024 * 1024}`);
    sqlite.prepare('select count(*) from sqlite_master').get();
    return sqlite;
  } catch (err) {
    sqlite.close();
    throw err;
  }
}

/**
 * Kysely prepares every query afresh; the runner issues the same few statements
 * for every job, so reuse them. Safe because SQLite has one connection here and
 * Kysely runs one statement at a time on it.
 *
 * Also what makes a full disk survivable at this level: SQLite rolls a
 * transaction back itself when a write fails with SQLITE_FULL, after which
 * Kysely's own `rollback` would throw "no transaction is active" and hide the
 * real error — so `rollback` outside a transaction does nothing. And a start
 * on a full disk (no room for `-shm`) opens in exclusive mode, switching back
 * to a shared connection once there is room again.
 */
function withStatementCache(file: string, max = 256) {
  const cache = new Map<string, SQLite.Statement>();
  let exclusive = false;
  let nextTry = 0;
  let db: SQLite.Database;
  try {
    db = openSqlite(file, false);
  } catch (err) {
    if (file === ':memory:' || !isStorageFull(err)) throw err;
    db = openSqlite(file, true);
    exclusive = true;
    nextTry = Date.now() + SHARED_RETRY_MS;
  }
  const noop = { reader: false, run: () => ({ changes: 0, lastInsertRowid: 0 }) };
  const becomeShared = () => {
    nextTry = Date.now() + SHARED_RETRY_MS;
    db.close();
    cache.clear();
    try {
      db = openSqlite(file, false);
      exclusive = false;
    } catch {
      db = openSqlite(file, true);
    }
  };
  return {
    close: () => db.close(),
    prepare(sql: string) {
      if (sql === 'rollback' && !db.inTransaction) return noop as unknown as SQLite.Statement;
      // A prepared `incremental_vacuum` frees one page per step; exec runs it to the end.
      if (sql.startsWith('pragma incremental_vacuum')) {
        return { reader: false, run: () => (db.exec(sql), noop.run()) } as unknown as SQLite.Statement;
      }
      if (exclusive && Date.now() >= nextTry && !db.inTransaction) becomeShared();
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
