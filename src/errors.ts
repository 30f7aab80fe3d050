/**
 * One error type with a stable `code`. The HTTP layer maps it to problem+json
 * (src/server/problem.ts) and the CLI to an exit code (src/cli/exit.ts); both
 * read the same table below, so a code means the same thing everywhere.
 */
export const ERROR_CODES = {
  validation_failed: { status: 400, title: 'Request is not valid', exit: 2 },
  config_invalid: { status: 500, title: 'Configuration is not valid', exit: 2 },
  unauthorized: { status: 401, title: 'Authentication required', exit: 3 },
  forbidden: { status: 403, title: 'Token lacks the required scope', exit: 3 },
  not_found: { status: 404, title: 'Not found', exit: 4 },
  conflict: { status: 409, title: 'Conflict with the current state', exit: 1 },
  lease_lost: { status: 409, title: 'This host no longer holds the job (its lease expired and was taken over)', exit: 1 },
  idempotency_key_reused: { status: 422, title: 'Idempotency-Key was used for a different request', exit: 1 },
  payload_too_large: { status: 413, title: 'Request body is too large', exit: 2 },
  unsupported_media_type: { status: 415, title: 'Unsupported content type', exit: 2 },
  limit_exceeded: { status: 422, title: 'A limit is above what this runner allows', exit: 2 },
  limit_too_small: { status: 400, title: 'A limit is below what the sandbox driver can start with', exit: 2 },
  queue_full: { status: 429, title: 'The job queue is full', exit: 1 },
  quota_exceeded: { status: 429, title: 'A quota of this token is used up', exit: 1 },
  too_many_streams: { status: 429, title: 'Too many open event streams', exit: 1 },
  too_many_execs: { status: 429, title: 'Too many execs running in this sandbox', exit: 1 },
  overloaded: { status: 429, title: 'The runner has too many requests waiting', exit: 1 },
  store_unavailable: { status: 503, title: 'The job store (PostgreSQL) cannot be reached', exit: 1 },
  storage_full: { status: 507, title: 'The runner is short of disk space', exit: 1 },
  driver_unavailable: { status: 422, title: 'Sandbox driver is not available', exit: 1 },
  image_not_found: { status: 422, title: 'Image not found', exit: 1 },
  no_host_fits: { status: 422, title: "No host meets the job's needs (driver, isolation, image, host labels)", exit: 1 },
  snapshot_too_large: { status: 413, title: "The sandbox's files are more than a snapshot may hold", exit: 1 },
  snapshot_failed: { status: 422, title: "The sandbox's files could not be archived or restored", exit: 1 },
  image_build_failed: { status: 500, title: 'Image build failed', exit: 1 },
  repo_unavailable: { status: 502, title: 'The repository could not be fetched (unreachable, unknown or refused)', exit: 1 },
  repo_ref_not_found: { status: 422, title: 'The repository has no such branch, tag or commit', exit: 4 },
  repo_timeout: { status: 504, title: 'A git operation on the repository took too long', exit: 1 },
  repo_push_rejected: { status: 409, title: 'The repository rejected the push', exit: 1 },
  patch_rejected: { status: 422, title: 'The patch does not apply to its base commit or leaves the work tree', exit: 1 },
  driver_error: { status: 502, title: 'Sandbox driver failed', exit: 1 },
  agent_protocol_error: { status: 502, title: 'The sandbox agent broke its protocol', exit: 1 },
  agent_died: { status: 502, title: 'The sandbox agent is gone', exit: 1 },
  agent_auth_unavailable: { status: 503, title: 'No usable model API credential (API key or OAuth login)', exit: 3 },
  preview_unreachable: { status: 502, title: 'Nothing answers on that port in the sandbox', exit: 1 },
  preview_timeout: { status: 504, title: 'The server in the sandbox did not answer in time', exit: 1 },
  github_unauthorized: { status: 502, title: 'GitHub refused the configured credentials', exit: 1 },
  github_not_found: { status: 422, title: 'GitHub has no such repository or object (or the credentials cannot see it)', exit: 4 },
  issue_not_found: { status: 422, title: 'GitHub issue not found', exit: 4 },
  github_error: { status: 502, title: 'GitHub answered with an error', exit: 1 },
  github_not_configured: { status: 422, title: 'This runner has no GitHub credentials', exit: 2 },
  agent_error: { status: 502, title: 'The agent CLI failed', exit: 1 },
  unknown_language: { status: 422, title: 'No such judge language', exit: 2 },
  language_unhealthy: { status: 503, title: 'The judge language failed its smoke test', exit: 1 },
  shutting_down: { status: 503, title: 'Runner is shutting down', exit: 1 },
  unreachable: { status: 503, title: 'Server could not be reached', exit: 1 },
  internal: { status: 500, title: 'Internal error', exit: 1 },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class PaddockError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  /** Set where one code has a transient form (driver_unavailable: 503 while a probe fails, 422 when unknown). */
  private readonly statusOverride: number | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    details?: Record<string, unknown>,
    options?: ErrorOptions & { status?: number },
  ) {
    super(message, options);
    this.name = 'PaddockError';
    this.code = code;
    this.details = details;
    this.statusOverride = options?.status;
  }

  /** Seconds after which a retry may succeed (429, 503, 507); sent as `Retry-After`. */
  get retryAfterS(): number | undefined {
    const v = this.details?.retry_after_s;
    return typeof v === 'number' ? v : undefined;
  }

  get status(): number {
    return this.statusOverride ?? ERROR_CODES[this.code].status;
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

/** Normalises anything thrown into a PaddockError; unknown values become `internal`. */
export function toPaddockError(err: unknown): PaddockError {
  if (err instanceof PaddockError) return err;
  if (err instanceof Error) return new PaddockError('internal', err.message, undefined, { cause: err });
  return new PaddockError('internal', String(err));
}
