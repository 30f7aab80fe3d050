import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type PgServer, postgresBinDir, startPostgres } from './pg-server.mjs';

export { type PgServer, postgresBinDir, startPostgres };

/** Whether the PostgreSQL variants run: always under CI=true (missing binaries then fail the test). */
export const postgresAvailable = (): boolean => process.env.CI === 'true' || postgresBinDir() !== undefined;

let shared: Promise<PgServer> | undefined;

/** One server for the whole test file, started on first use and stopped when the worker exits. */
export function sharedPostgres(): Promise<PgServer> {
  shared ??= startPostgres();
  return shared;
}

/**
 * The stores a store-touching test runs against: SQLite (a file in a temp dir) and PostgreSQL (a fresh
 * database on this file's server). `fresh()` gives a new, empty store URL per call.
 */
export const STORE_ENGINES: { engine: 'sqlite' | 'postgres'; fresh: () => Promise<string> }[] = [
  { engine: 'sqlite', fresh: async () => `sqlite:${mkdtempSync(path.join(os.tmpdir(), 'paddock-store-'))}/paddock.db` },
  ...(postgresAvailable() ? [{ engine: 'postgres' as const, fresh: async () => (await sharedPostgres()).createDatabase() }] : []),
];
