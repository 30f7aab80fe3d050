import { describe, expect, it } from 'vitest';
import { startFailure } from './failures.js';
import { sharedUidRange, UidRange } from './uids.js';

describe('UidRange', () => {
  it('hands out distinct uids inside the range, round-robin, and refuses when all are taken', () => {
    const r = new UidRange(5000, 3);
    const taken = [r.take(), r.take(), r.take()];
    expect(taken).toEqual([5000, 5001, 5002]);
    expect(() => r.take()).toThrow(/all 3 container uids from 5000 are in use/);
    r.release(5001);
    expect(r.take()).toBe(5001);
    r.release(5000);
    r.release(5002);
    expect(r.take()).toBe(5002); // not the just-freed lowest: round-robin from the last handed out
    expect(r.inUse).toBe(2);
  });

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
