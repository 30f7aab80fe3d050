import { describe, expect, it } from 'vitest';
import { execRlimits } from './bwrap/chain.js';
import { perExecRlimits, tightenRlimits } from './exec-limits.js';

const limits = { timeout_ms: 60_000, memory_mb: 512, cpu_ms: 3000, pids: 64, output_bytes: 1000, disk_mb: 16, open_files: 256, cpus: 1 };

describe('per-exec rlimits', () => {
  it('map each limit, never looser than the sandbox\'s', () => {
    expect(perExecRlimits(undefined, limits)).toEqual({});
    expect(perExecRlimits({ cpuMs: 500, pids: 10, fileSizeBytes: 4096, addressSpaceKb: 1024, stackBytes: 1 << 20, wallMs: 5, outputBytes: 3 }, limits)).toEqual({
      cpu: 1,
      nproc: 10,
      fsize: 4096,
      as: 1 << 20,
      stack: 1 << 20,
    });
    expect(perExecRlimits({ cpuMs: 60_000, pids: 1000, fileSizeBytes: 1 << 30 }, limits)).toEqual({ cpu: 3, nproc: 64, fsize: 16 << 20 });
    expect(perExecRlimits({ addressSpaceKb: Number.MAX_SAFE_INTEGER }, limits).as).toBe(2 ** 53);
  });

  it('tighten the bwrap driver\'s own, and leave them as they were without', () => {
    expect(execRlimits(limits, true)).toEqual({ cpu: 3, fsize: 16 << 20, nofile: 256, core: 0, nproc: 64 });
    expect(execRlimits(limits, false, { cpuMs: 1500, addressSpaceKb: 2 << 20, stackBytes: 65536 })).toEqual({
      cpu: 2,
      fsize: 16 << 20,
      nofile: 256,
      core: 0,
      nproc: 64,
      as: 512 << 20, // the sandbox's 512 MiB stays: 2 GiB asked is looser
      stack: 65536,
    });
    expect(tightenRlimits({ cpu: 2 }, { cpu: 5, as: 7 })).toEqual({ cpu: 2, as: 7 });
  });
});
