import { describe, expect, it } from 'vitest';
import { coalesced } from './coalesce.js';

/** A task whose runs finish only when the test says so. */
function gatedTask() {
  const gates: (() => void)[] = [];
  let runs = 0;
  let concurrent = 0;
  let maxConcurrent = 0;
  const task = () => {
    runs++;
    maxConcurrent = Math.max(maxConcurrent, ++concurrent);
    return new Promise<void>((resolve) => gates.push(() => (concurrent--, resolve())));
  };
  return { task, gates, runs: () => runs, maxConcurrent: () => maxConcurrent };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

describe('coalesced', () => {
  it('runs once more after a burst of triggers during a run, never two at once', async () => {
    const t = gatedTask();
    const trigger = coalesced(t.task, () => undefined);
    trigger();
    trigger();
    trigger();
    expect(t.runs()).toBe(1);
    t.gates.shift()!();
    await settle();
    expect(t.runs()).toBe(2);
    t.gates.shift()!();
    await settle();
    expect(t.runs()).toBe(2);
    expect(t.maxConcurrent()).toBe(1);
    trigger();
    expect(t.runs()).toBe(3);
  });

  it('hands a failure to onError and still runs on the next trigger', async () => {
    const errors: unknown[] = [];
    let runs = 0;
    const trigger = coalesced(async () => {
      runs++;
      throw new Error(`run ${runs}`);
    }, (err) => errors.push(err));
    trigger();
    await settle();
    trigger();
    await settle();
    expect(runs).toBe(2);
    expect(errors.map((e) => (e as Error).message)).toEqual(['run 1', 'run 2']);
  });
});
