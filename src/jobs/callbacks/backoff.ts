/** When the first retry comes; each later one waits twice as long, up to RETRY_CAP_MS. */
export const RETRY_BASE_MS = 1000;
/** No wait between tries is longer, a receiver's Retry-After included. */
export const RETRY_CAP_MS = 60_000;

export interface Backoff {
  baseMs: number;
  capMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { baseMs: RETRY_BASE_MS, capMs: RETRY_CAP_MS };

/**
 * The wait after try `attempt` (1-based) failed: exponential, with "equal jitter" (half fixed, half
 * random) so many jobs failing at once against one receiver do not retry in lockstep, while a
 * retry never comes much sooner than the schedule says.
 */
export function retryDelayMs(attempt: number, backoff: Backoff = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const step = Math.min(backoff.capMs, backoff.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(step / 2 + (step / 2) * random());
}

/** `Retry-After` as seconds or an HTTP date, in ms from `now`; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (!value) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Worth trying again: the receiver is down or overloaded. Other 4xx say the request itself is wrong. */
export const isRetryableStatus = (status: number): boolean => status >= 500 || status === 429 || status === 408;
