import { expect, test } from 'vitest';
import { isRetryableStatus, parseRetryAfter, retryDelayMs } from './backoff.js';

test('the schedule doubles from 1 s and stops at 60 s; jitter takes at most half of a step', () => {
  const low = (n: number) => retryDelayMs(n, undefined, () => 0);
  const high = (n: number) => retryDelayMs(n, undefined, () => 1);
  expect([1, 2, 3, 4, 5, 6, 7, 8].map(high)).toEqual([1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]);
  expect([1, 2, 3, 4, 5].map(low)).toEqual([500, 1000, 2000, 4000, 8000]);
  expect(retryDelayMs(40, undefined, () => 1)).toBe(60000);
  const spread = new Set(Array.from({ length: 50 }, () => retryDelayMs(3)));
  expect(spread.size).toBeGreaterThan(10);
  for (const d of spread) expect(d >= 2000 && d <= 4000).toBe(true);
});

test('Retry-After as seconds or as an HTTP date', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  expect(parseRetryAfter('7', now)).toBe(7000);
  expect(parseRetryAfter(' 0 ', now)).toBe(0);
  expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
  expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
  expect(parseRetryAfter('soon', now)).toBeUndefined();
  expect(parseRetryAfter(undefined, now)).toBeUndefined();
});

test('5xx, 429 and 408 are retried; other 4xx and 3xx are not', () => {
  expect([500, 502, 503, 504, 429, 408].every(isRetryableStatus)).toBe(true);
  expect([400, 401, 403, 404, 409, 410, 422, 301, 302, 307].some(isRetryableStatus)).toBe(false);
});
