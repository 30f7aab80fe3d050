import { describe, expect, it } from 'vitest';
import { createLogger } from '../util/log.js';
import { WarmPool } from './pool.js';

const log = createLogger('silent');
const tick = () => new Promise((r) => setTimeout(r, 5));

describe('WarmPool', () => {
  it('fills to its size, hands each item out once and refills', async () => {
    let made = 0;
    const disposed: number[] = [];
    const pool = new WarmPool(2, async () => ++made, async (n) => void disposed.push(n), log);
    pool.fill('k');
    pool.fill('k'); // no overfill while creations are pending
    await tick();
    expect(made).toBe(2);
    expect(pool.ready('k')).toBe(2);
    const a = pool.take('k');
    const b = pool.take('k');
    expect(new Set([a, b]).size).toBe(2);
    await tick();
    expect(pool.ready('k')).toBe(2);
    expect(made).toBe(4);
    await pool.drain();
    expect(disposed.sort()).toEqual([3, 4]);
    expect(pool.take('k')).toBeUndefined();
  });

  it('returns nothing when empty and backs off after a failure', async () => {
    let calls = 0;
    const pool = new WarmPool(3, async () => {
      calls++;
      throw new Error('docker down');
    }, async () => undefined, log);
    expect(pool.take('k')).toBeUndefined();
    await tick();
    const after = calls;
    pool.fill('k');
    await tick();
    expect(calls).toBe(after);
    await pool.drain();
  });

  it('size 0 is off', async () => {
    let made = 0;
    const pool = new WarmPool(0, async () => ++made, async () => undefined, log);
    pool.fill('k');
    await tick();
    expect(made).toBe(0);
  });
});
