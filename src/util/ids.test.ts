import { describe, expect, it } from 'vitest';
import { newId } from './ids.js';

describe('newId', () => {
  it('is sortable in creation order, even within one millisecond', () => {
    const ids = Array.from({ length: 2000 }, () => newId('job'));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids[0]).toMatch(/^job_[0-9a-z]{26}$/);
  });
});
