import { describe, expect, it } from 'vitest';
import { PaddockError } from '../errors.js';
import { LANE_BATCH, RequestLane } from './request-lane.js';

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('RequestLane', () => {
  it('lets a batch through per turn of the event loop, with I/O-time in between', async () => {
    const lane = new RequestLane(1000);
    const done: number[] = [];
    for (let i = 0; i < 40; i++) void lane.enter('a').then(() => done.push(i));
    expect(lane.waiting).toBe(40);
    await turn();
    expect(done).toHaveLength(LANE_BATCH);
    await turn();
    expect(done).toHaveLength(2 * LANE_BATCH);
    await turn();
    expect(done).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(lane.waiting).toBe(0);
  });

  it("serves callers round-robin: one caller's burst delays another by a turn, not by the burst", async () => {
    const lane = new RequestLane(1000);
    const order: string[] = [];
    for (let i = 0; i < 100; i++) void lane.enter('burst').then(() => order.push('burst'));
    void lane.enter('other').then(() => order.push('other'));
    void lane.enter('third').then(() => order.push('third'));
    await turn();
    expect(order.slice(0, 3).sort()).toEqual(['burst', 'other', 'third']);
    expect(order).toHaveLength(LANE_BATCH);
  });

  it('refuses with 429 overloaded and Retry-After when full, and takes requests again once drained', async () => {
    const lane = new RequestLane(3);
    const entered = [lane.enter('a'), lane.enter('b'), lane.enter('a')];
    let refused: unknown;
    try {
      await lane.enter('c');
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(PaddockError);
    expect((refused as PaddockError).code).toBe('overloaded');
    expect((refused as PaddockError).status).toBe(429);
    expect((refused as PaddockError).retryAfterS).toBe(1);
    await Promise.all(entered);
    await expect(lane.enter('c')).resolves.toBeUndefined();
  });
});
