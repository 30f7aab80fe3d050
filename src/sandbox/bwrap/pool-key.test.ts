import { describe, expect, it } from 'vitest';
import { poolKey } from './pool-key.js';

const limits = { timeout_ms: 1000, memory_mb: 64, cpu_ms: 1500, pids: 16, output_bytes: 100, disk_mb: 8, open_files: 32, cpus: 1 };

describe('bwrap poolKey', () => {
  it('ignores what each exec enforces (timeout, output, cpu_ms), not what the sandbox is made of', () => {
    const k = poolKey({ rootfs: undefined, limits });
    expect(poolKey({ rootfs: undefined, limits: { ...limits, timeout_ms: 5, output_bytes: 7, cpu_ms: 9 } })).toBe(k);
    for (const change of [{ memory_mb: 65 }, { pids: 17 }, { disk_mb: 9 }, { open_files: 33 }, { cpus: 2 }]) {
      expect(poolKey({ rootfs: undefined, limits: { ...limits, ...change } })).not.toBe(k);
    }
    expect(poolKey({ rootfs: '/img/python/rootfs', limits })).not.toBe(k);
  });
});
