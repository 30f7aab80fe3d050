import { describe, expect, it } from 'vitest';
import { UidRange } from './uid-range.js';

describe('UidRange', () => {
  it('hands out distinct uids inside the range and says clearly when all are in use', () => {
    const r = new UidRange(61000, 3, 'sandbox.uid_range_*');
    const taken = [r.take(), r.take(), r.take()];
    expect(taken).toEqual([61000, 61001, 61002]);
    expect(() => r.take()).toThrow(/no free host uid: all 3 of sandbox.uid_range_\* \(61000-61002\)/);
    r.release(61001);
    expect(r.take()).toBe(61001);
    expect(r.inUse).toBe(3);
  });

  it('does not reuse a released uid while others are free (round robin)', () => {
    const r = new UidRange(100, 4, 'x');
    const first = r.take();
    r.release(first);
    const second = r.take();
    expect(second).not.toBe(first);
    r.release(second);
    expect([r.take(), r.take(), r.take()]).not.toContain(second);
  });
});
