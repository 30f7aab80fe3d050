import { describe, expect, it } from 'vitest';
import { startFailure } from './failures.js';
import { sharedUidRange } from './uids.js';

describe('UidRange', () => {
  it('is one per configuration in a process, shared by both container drivers', () => {
    expect(sharedUidRange(7000, 10)).toBe(sharedUidRange(7000, 10));
    expect(sharedUidRange(7000, 10)).not.toBe(sharedUidRange(7000, 11));
  });
});

describe('startFailure', () => {
  const defaults = { timeout_ms: 1, memory_mb: 512, cpu_ms: 1, pids: 128, output_bytes: 1, disk_mb: 64, open_files: 256, cpus: 1 };
  it('blames the job\'s limits when it asked for less than the probe started with', () => {
    const e = startFailure('runsc did not terminate', { ...defaults, pids: 2 }, defaults);
    expect({ code: e.code, message: e.message }).toEqual({
      code: 'limit_too_small',
      message: "the container could not start with this job's limits (pids 2): runsc did not terminate",
    });
  });
  it('is the driver\'s failure otherwise', () => {
    expect(startFailure('engine gone', { ...defaults, pids: 4096 }, defaults).code).toBe('driver_error');
  });
});
