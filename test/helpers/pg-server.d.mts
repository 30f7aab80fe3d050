/**
 * A private PostgreSQL server per test file (or bench run), so a test may stop and restart it
 * without touching anyone else's database.
 */
export interface PgServer {
  readonly port: number;
  /** A URL for `database` on this server. */
  url(database?: string): string;
  /** A fresh, empty database; returns its URL. */
  createDatabase(): Promise<string>;
  /** Fast shutdown (clients are cut off), as a database outage looks to a runner. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** The newest installed PostgreSQL's bin dir, or undefined. */
export function postgresBinDir(): string | undefined;

/** `listen`: one more address to listen on; `allow`: a CIDR whose clients are trusted too. */
export function startPostgres(opts?: { listen?: string; allow?: string }): Promise<PgServer>;
