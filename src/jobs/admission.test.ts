import { describe, expect, it } from 'vitest';
import type { Store } from '../store/store.js';
import { Admission } from './admission.js';

const quotas = (max_running: number) => ({ max_queued: 0, max_running, submits_per_s: 0, max_streams: 0, max_sandboxes: 0 });
const admission = (maxRunning: number) =>
  new Admission({ queue: { max_queued: 100, max_timeout_ms: 60_000 }, quotas: quotas(maxRunning) } as never, {} as Store);

// The scheduler claims several jobs at once only when no max_running could be overshot by it.
describe('Admission.anyRunningLimit', () => {
  it('is false with no default and no token limit, true once a submitting token has one', () => {
    const a = admission(0);
    a.admitSubmit({ tokenId: 'tok_free', quotas: {} }).stored();
    expect(a.anyRunningLimit()).toBe(false);
    a.admitSubmit({ tokenId: 'tok_capped', quotas: { max_running: 2 } }).stored();
    expect(a.anyRunningLimit()).toBe(true);
  });

  it('is true when the default max_running applies', () => {
    expect(admission(3).anyRunningLimit()).toBe(true);
  });
});
