import { describe, expect, it } from 'vitest';
import type { JobRow } from '../store/store.js';
import { replayOf } from './idempotency.js';

const stored = (request_hash: string | null) => ({ id: 'job_1', request_hash }) as JobRow;

describe('replayOf', () => {
  it('returns the stored job for the same request, or when either hash is missing', () => {
    expect(replayOf(stored('h1'), 'h1').id).toBe('job_1');
    expect(replayOf(stored(null), 'h1').id).toBe('job_1');
    expect(replayOf(stored('h1'), undefined).id).toBe('job_1');
  });

  it('refuses a different request under the same key, naming the job', () => {
    expect(() => replayOf(stored('h1'), 'h2')).toThrow(
      expect.objectContaining({ code: 'idempotency_key_reused', details: { job_id: 'job_1' } }),
    );
  });
});
