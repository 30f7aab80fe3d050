import { type ErrorCode, isErrorCode, PaddockError } from '../errors.js';

/** The problem+json fields every error has; whatever else the body holds goes into `details`. */
const PROBLEM_FIELDS = new Set(['type', 'title', 'status', 'detail', 'code']);

/** A problem body is a few hundred bytes; more than this is not read (a proxy's HTML page, say). */
export const MAX_PROBLEM_BYTES = 64 * 1024;

/**
 * A code for a status when the body names none this client knows (an older
 * client against a newer runner, or a proxy in between).
 */
function codeForStatus(status: number): ErrorCode {
  switch (status) {
    case 400:
      return 'validation_failed';
    case 401:
      return 'unauthorized';
    case 403:
      return 'forbidden';
    case 404:
      return 'not_found';
    case 409:
      return 'conflict';
    case 413:
      return 'payload_too_large';
    case 415:
      return 'unsupported_media_type';
    case 429:
      return 'overloaded';
    case 503:
      return 'unreachable';
    case 507:
      return 'storage_full';
    default:
      return 'internal';
  }
}

/**
 * An HTTP error answer as a PaddockError with the server's stable `code`.
 * The body's extra members (quota, state, errors…) become `details`; a code
 * this client does not know is kept there as `server_code`; Retry-After
 * becomes `details.retry_after_s`, so a caller may wait and try again.
 */
export function problemToError(status: number, body: unknown, headers?: Headers): PaddockError {
  const problem = body !== null && typeof body === 'object' ? (body as Record<string, unknown>) : {};
  const details: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(problem)) if (!PROBLEM_FIELDS.has(k)) details[k] = v;
  let code: ErrorCode;
  if (isErrorCode(problem.code)) code = problem.code;
  else {
    code = codeForStatus(status);
    if (typeof problem.code === 'string') details.server_code = problem.code;
  }
  const retryAfter = Number(headers?.get('retry-after') ?? Number.NaN);
  if (Number.isFinite(retryAfter)) details.retry_after_s = retryAfter;
  const message = typeof problem.detail === 'string' ? problem.detail : `HTTP ${status}`;
  return new PaddockError(code, message, Object.keys(details).length ? details : undefined, { status });
}

/** Reads at most MAX_PROBLEM_BYTES of an error response and maps it; the rest of the body is dropped. */
export async function errorFromResponse(res: Response): Promise<PaddockError> {
  let body: unknown;
  try {
    const text = await readCapped(res, MAX_PROBLEM_BYTES);
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined; // not JSON, or cut at the cap: the status still says what happened
  }
  return problemToError(res.status, body, res.headers);
}

async function readCapped(res: Response, max: number): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
      if (size > max) throw new Error('problem body over the cap');
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).toString('utf8');
}
