import { existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, type MigrationLockOptions, Migrator, PostgresDialect, SqliteAdapter, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import { redactUrl } from '../config/load.js';
import { PaddockError } from '../errors.js';
import { isPostgresUrl } from './dialect.js';
import { migrationProvider } from './migrations/index.js';
import { isStorageFull } from './storage-full.js';
import type { Database } from './schema.js';

/**
 * Opens the store named by a URL and runs pending migrations. Only the dialect
 * differs between engines; every caller speaks Kysely against one schema.
 */
export async function openDatabase(url: string, opts: OpenOptions = {}): Promise<Kysely<Database>> {
  const db = new Kysely<Database>({ dialect: dialectFor(url, opts) });
  // On PostgreSQL Kysely's migrator holds an advisory lock for the whole run: hosts starting at once
  // take turns, and the later ones find nothing left to do.
  const { error, results } = await new Migrator({ db, provider: migrationProvider }).migrateToLatest();
  if (error) {
    await db.destroy();
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    if (!failed && isPostgresUrl(url)) throw unreachableStore(url, error);
    throw new PaddockError('internal', `store migration ${failed ?? ''} failed: ${(error as Error).message}`);
  }
  return db;
}

export interface OpenOptions {
  /** Hears errors of idle PostgreSQL connections (a restart, a dropped link); unheard they would end the process. */
  onPoolError?: (err: Error) => void;
  /** PostgreSQL connections per host. */
  poolSize?: number;
}

function dialectFor(url: string, opts: OpenOptions) {
  if (url.startsWith('sqlite:')) {
    const file = url.slice('sqlite:'.length);
    if (file !== ':memory:') mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    return new MigrationLockingSqliteDialect({ database: withStatementCache(file) });
  }
  if (isPostgresUrl(url)) return new PostgresDialect({ pool: postgresPool(url, opts) });
  const scheme = url.split(':')[0];
  throw new PaddockError(
    'config_invalid',
    `store_url scheme "${scheme}:" is not supported; use sqlite:<path> or postgres://user:password@host:port/database`,
    { key: 'store_url' },
  );
}

/**
 * Kysely's SQLite adapter takes no migration lock (one connection, it assumes), so two processes
 * opening a fresh file at once (`paddock serve` and a CLI command) both ran 0001 and one failed on
 * "table jobs already exists". Here the whole run is one `BEGIN IMMEDIATE` transaction: the second
 * waits (busy_timeout) and then finds nothing pending.
 */
class MigrationLockingSqliteAdapter extends SqliteAdapter {
  #held = false;
  override async acquireMigrationLock(db: Kysely<any>, _opt: MigrationLockOptions): Promise<void> {
    await sql`begin immediate`.execute(db);
    this.#held = true;
  }
  override async releaseMigrationLock(db: Kysely<any>, _opt: MigrationLockOptions): Promise<void> {
    // Not after a failed `begin`: a commit error would hide why.
    if (!this.#held) return;
    this.#held = false;
    await sql`commit`.execute(db);
  }
}

class MigrationLockingSqliteDialect extends SqliteDialect {
  override createAdapter() {
    return new MigrationLockingSqliteAdapter();
  }
}

/** int8 (counts, sizes) as numbers, like SQLite's integers: every figure here fits in 2^53. */
const PG_INT8 = 20;
const pgTypes = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === PG_INT8 && format !== 'binary' ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

function postgresPool(url: string, opts: OpenOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.poolSize ?? 10,
    types: pgTypes,
    // An unreachable database must fail a query, not hang it: the caller decides to retry or degrade.
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30_000,
    application_name: 'paddock',
  });
  pool.on('error', (err) => opts.onPoolError?.(err));
  return pool;
}

function unreachableStore(url: string, cause: unknown): PaddockError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new PaddockError(
    'store_unavailable',
    `cannot reach the store at ${redactUrl(url)}: ${why}`,
    { retry_after_s: 5 },
    { cause },
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
