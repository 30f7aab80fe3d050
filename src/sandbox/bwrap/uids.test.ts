import { describe, expect, it } from 'vitest';
import { UidRange } from './uids.js';

describe('UidRange', () => {
  it('never hands out a uid twice while it is in use, and says clearly when all are', () => {
    const r = new UidRange(61000, 3);
    const a = [r.acquire(), r.acquire(), r.acquire()];
    expect(new Set(a).size).toBe(3);
    expect(a.every((u) => u >= 61000 && u <= 61002)).toBe(true);
    expect(() => r.acquire()).toThrow(/no free host uid.*61000-61002.*uid_range_size/);
    r.release(a[1]!);
    expect(r.acquire()).toBe(a[1]);
    expect(r.used).toBe(3);
  });

  it('does not reuse a released uid while others are free (round robin)', () => {
    const r = new UidRange(100, 4);
    const first = r.acquire();
    r.release(first);
    const second = r.acquire();
    expect(second).not.toBe(first);
    r.release(second);
    expect([r.acquire(), r.acquire(), r.acquire()]).not.toContain(second);
  });
});
