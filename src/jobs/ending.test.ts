import { describe, expect, it } from 'vitest';
import { PaddockError } from '../errors.js';
import { endOfRun, type RunEnd } from './ending.js';
import { CommandResult } from './result.js';

const result = {
  exit_code: 0, signal: null, stdout_truncated: false, stderr_truncated: false, timed_out: false,
  wall_ms: 3, cpu_ms: 1, max_rss_kb: 100,
};
const base: RunEnd = {
  outcome: { state: 'succeeded', reason: 'exit_code', exitCode: 0, result },
  error: undefined,
  outputFailure: undefined,
  aborted: undefined,
  retryOnRestart: false,
  resultSchema: CommandResult,
};

describe('endOfRun', () => {
  it("takes the job's own end when its result fits", () => {
    expect(endOfRun(base)).toMatchObject({ to: 'succeeded', end: { reason: 'exit_code', exitCode: 0 } });
  });

  it('never stores an impossible result or exit code', () => {
    const forged = { ...base, outcome: { ...base.outcome!, exitCode: 1e20, result: { ...result, exit_code: 1e20 } } };
    expect(endOfRun(forged)).toMatchObject({ to: 'failed', end: { reason: 'driver_error' } });
    expect(endOfRun({ ...base, outcome: { ...base.outcome!, exitCode: 256 } })).toMatchObject({ to: 'failed' });
  });

  it('a storage failure wins over everything else', () => {
    const full = new PaddockError('storage_full', 'disk full');
    expect(endOfRun({ ...base, outputFailure: full })).toMatchObject({ to: 'failed', end: { reason: 'storage_full' } });
  });

  it('requeues at shutdown only what asked for it; no outcome is cancelled or driver_error', () => {
    const shutdown = { ...base, outcome: { ...base.outcome!, state: 'failed' as const, reason: 'runner_shutdown' as const } };
    expect(endOfRun({ ...shutdown, retryOnRestart: true }).to).toBe('queued');
    expect(endOfRun(shutdown).to).toBe('failed');
    expect(endOfRun({ ...base, outcome: undefined, aborted: 'cancel' })).toMatchObject({ to: 'cancelled' });
    const err = new PaddockError('driver_error', 'engine gone');
    expect(endOfRun({ ...base, outcome: undefined, error: err })).toMatchObject({
      to: 'failed',
      end: { reason: 'driver_error', error: { code: 'driver_error', message: 'engine gone' } },
    });
  });
});
