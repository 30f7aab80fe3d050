/**
 * Table types shared by every dialect. Timestamps are ISO-8601 UTC strings and
 * JSON columns are text, so SQLite and PostgreSQL store and sort them alike.
 */
export interface JobsTable {
  id: string;
  kind: string;
  spec: string;
  state: string;
  priority: number;
  attempts: number;
  reason: string | null;
  error: string | null;
  result: string | null;
  exit_code: number | null;
  driver: string | null;
  labels: string | null;
  host: string | null;
  lease_expires_at: string | null;
  token_id: string | null;
  idempotency_key: string | null;
  request_hash: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  updated_at: string;
}

export interface JobEventsTable {
  job_id: string;
  seq: number;
  type: string;
  data: string;
  created_at: string;
}

export interface TokensTable {
  id: string;
  name: string;
  hash: string;
  scopes: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface Database {
  jobs: JobsTable;
  job_events: JobEventsTable;
  tokens: TokensTable;
}
