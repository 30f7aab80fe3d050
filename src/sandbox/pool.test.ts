import { describe, expect, it } from 'vitest';
import { createLogger } from '../util/log.js';
import { WarmPool } from './pool.js';

const log = createLogger('silent');
const tick = () => new Promise((r) => setTimeout(r, 5));
const limits = (size: number, maxKeys = 4, idleMs = 60_000) => ({ size, maxKeys, idleMs });

describe('WarmPool', () => {
  it('fills to its size, hands each item out once and refills', async () => {
    let made = 0;
    const disposed: number[] = [];
    const pool = new WarmPool(limits(2), async () => ++made, async (n) => void disposed.push(n), log);
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
    const pool = new WarmPool(limits(3), async () => {
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
    const pool = new WarmPool(limits(0), async () => ++made, async () => undefined, log);
    pool.fill('k');
    await tick();
    expect(made).toBe(0);
  });

  it('keeps only the most recently used keys warm', async () => {
    const disposed: string[] = [];
    const pool = new WarmPool(limits(1, 2), async (key) => key, async (k) => void disposed.push(k), log);
    pool.fill('a');
    pool.fill('b');
    await tick();
    pool.fill('a'); // a is now more recent than b
    pool.fill('c'); // three keys: b, the least recently used, goes
    await tick();
    expect(disposed).toEqual(['b']);
    expect([pool.ready('a'), pool.ready('b'), pool.ready('c')]).toEqual([1, 0, 1]);
    await pool.drain();
  });

  it('lets go of keys idle for too long', async () => {
    const disposed: string[] = [];
    const pool = new WarmPool(limits(1, 10, 20), async (key) => key, async (k) => void disposed.push(k), log);
    pool.fill('old');
    await tick();
    await new Promise((r) => setTimeout(r, 30));
    pool.fill('new');
    await tick();
    expect(disposed).toEqual(['old']);
    await pool.drain();
  });
});
