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
  /** Written by each claim (migration 0010); the run's writes must carry it. Null when not running. */
  lease_token: string | null;
  token_id: string | null;
  idempotency_key: string | null;
  request_hash: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  updated_at: string;
  /** A queued job not started by then ends `expired` (queue_timeout_ms); null = never. */
  queue_expires_at: string | null;
}

export interface JobEventsTable {
  job_id: string;
  seq: number;
  type: string;
  /** JSON; empty for output rows that keep their payload in `bytes`. */
  data: string;
  /** Raw output bytes of a `stdout`/`stderr` event (migration 0002); null otherwise and in older rows. */
  bytes: Buffer | null;
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
  /** Quotas; null = the runner's `quotas.*` default. */
  max_queued: number | null;
  max_running: number | null;
  submits_per_s: number | null;
  max_streams: number | null;
  /** Live sandboxes at once (migration 0005); null = `quotas.max_sandboxes`. */
  max_sandboxes: number | null;
  /** HMAC key of the status callbacks of this token's jobs (migration 0007); null = none of its own. */
  callback_secret: string | null;
}

/** Persistent sandboxes (migration 0004); `spec` and `labels` are JSON. */
export interface SandboxesTable {
  id: string;
  token_id: string | null;
  /** running | paused | destroyed */
  state: string;
  reason: string | null;
  detail: string | null;
  driver: string;
  image: string | null;
  spec: string;
  labels: string;
  /** The runner that holds (or held) the sandbox; only it can reach it. */
  host_id: string;
  created_at: string;
  last_used_at: string;
  /** Idle deadline: last use + the sandbox's timeout_ms. */
  expires_at: string;
  max_lifetime_at: string;
  ended_at: string | null;
}

export interface Database {
  jobs: JobsTable;
  job_events: JobEventsTable;
  tokens: TokensTable;
  sandboxes: SandboxesTable;
  github_deliveries: GithubDeliveriesTable;
  sandbox_snapshots: SandboxSnapshotsTable;
  hosts: HostsTable;
  job_needs: JobNeedsTable;
}

/** Filesystem snapshots of sandboxes (migration 0008); the archive is a file on `host_id`. */
export interface SandboxSnapshotsTable {
  id: string;
  token_id: string | null;
  /** The sandbox it was taken of (which may be gone since). */
  sandbox_id: string;
  /** `filesystem`: the sandbox's writable dirs; memory snapshots come with the microVM driver. */
  kind: string;
  driver: string;
  image: string | null;
  /** The source's stored spec (JSON), what a sandbox made from it starts with. */
  spec: string;
  labels: string;
  size_bytes: number;
  host_id: string;
  created_at: string;
}

/** GitHub webhook deliveries already taken (migration 0006), for de-duplication. */
export interface GithubDeliveriesTable {
  id: string;
  event: string;
  job_id: string | null;
  received_at: string;
}

/** A queued job's needs of its host, one row each (migration 0012; src/fleet/needs.ts). */
export interface JobNeedsTable {
  job_id: string;
  need: string;
}

/** A fleet's hosts (migration 0009): each `paddock serve` on this store, as its last heartbeat left it. */
export interface HostsTable {
  /** The host's `host_id`. */
  id: string;
  /** Where other hosts reach its API (`fleet.advertise_url`); null: nowhere (behind NAT). */
  address: string | null;
  version: string;
  /** up | draining | stopped — what the host says; `lost` is read from a stale heartbeat. */
  state: string;
  /** JSON: [{name, available, isolation}] */
  drivers: string;
  /** JSON: {key: value} */
  labels: string;
  /** JSON: image names present */
  images: string;
  /** JSON: the needs it meets (src/fleet/needs.ts; migration 0012). */
  caps: string;
  /** Jobs it runs at once (max_concurrent_jobs). */
  capacity: number;
  running: number;
  /** 1 when `address` answers for it, so sandboxes may be placed there and proxied to. */
  reachable: number;
  started_at: string;
  heartbeat_at: string;
}
