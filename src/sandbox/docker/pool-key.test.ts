import { describe, expect, it } from 'vitest';
import { type PoolKey, poolKey, poolLabel } from './pool-key.js';

const limits = { timeout_ms: 60_000, memory_mb: 512, cpu_ms: 60_000, pids: 128, output_bytes: 1 << 20, disk_mb: 64, open_files: 256, cpus: 1 };
const base: PoolKey = { image: 'paddock/base:latest', limits, network: 'none' };

describe('poolKey', () => {
  it('ignores the limits the runner enforces (timeout, output), so those jobs share warm containers', () => {
    const other = { ...base, limits: { ...base.limits, timeout_ms: base.limits.timeout_ms + 1, output_bytes: 1 } };
    expect(poolKey(other)).toBe(poolKey(base));
  });

  it('differs in anything the container is made of', () => {
    const keys = [
      base,
      { ...base, image: 'paddock/python:latest' },
      { ...base, network: 'egress' as const },
      { ...base, limits: { ...base.limits, memory_mb: base.limits.memory_mb + 1 } },
      { ...base, limits: { ...base.limits, pids: base.limits.pids + 1 } },
    ].map(poolKey);
    expect(new Set(keys).size).toBe(keys.length);
  });
});

describe('poolLabel', () => {
  it('is 12 hex digits, the same for one key and different for another', () => {
    expect(poolLabel(poolKey(base))).toMatch(/^[0-9a-f]{12}$/);
    expect(poolLabel(poolKey(base))).toBe(poolLabel(poolKey({ ...base })));
    expect(poolLabel(poolKey(base))).not.toBe(poolLabel(poolKey({ ...base, network: 'egress' })));
  });
});
