import { describe, expect, it } from 'vitest';
import type { JobRow } from '../store/store.js';
import { storageFullError } from '../store/storage-full.js';
import { createLogger } from '../util/log.js';
import { afterRestart, type Recovery, recoverLeftRunning } from './recovery.js';

const log = createLogger('silent');
const job = (id: string, retry: boolean) => ({ id, spec: JSON.stringify({ retry_on_restart: retry }) }) as JobRow;

function recovery(rows: JobRow[], o: { active?: string[]; failOn?: string; failWith?: unknown } = {}) {
  const moves: [string, string][] = [];
  let requeued = 0;
  let asked: string | undefined = 'unset';
  const r: Recovery = {
    store: {
      listJobsInState: async (_state: string, host?: string) => {
        asked = host;
        return rows;
      },
    },
    log,
    hostId: 'host-a',
    isActive: (id) => (o.active ?? []).includes(id),
    move: async (row, to) => {
      if (row.id === o.failOn) throw o.failWith;
      moves.push([row.id, to]);
    },
    requeued: () => requeued++,
  };
  return { r, moves, requeued: () => requeued, asked: () => asked };
}

describe('afterRestart', () => {
  it('requeues only a job that asked for it', () => {
    expect(afterRestart(job('a', true))).toBe('queued');
    expect(afterRestart(job('b', false))).toBe('failed');
  });
});

describe('recoverLeftRunning', () => {
  it("moves this host's stale jobs, skips the ones running here, and counts requeues", async () => {
    const t = recovery([job('a', true), job('b', false), job('c', true)], { active: ['c'] });
    expect(await recoverLeftRunning(t.r)).toBe(true);
    expect(t.asked()).toBe('host-a');
    expect(t.moves).toEqual([['a', 'queued'], ['b', 'failed']]);
    expect(t.requeued()).toBe(1);
  });

  it('stops at a full disk and says so; what was moved before stays moved', async () => {
    const t = recovery([job('a', false), job('b', true), job('c', true)], { failOn: 'b', failWith: storageFullError() });
    expect(await recoverLeftRunning(t.r)).toBe(false);
    expect(t.moves).toEqual([['a', 'failed']]);
    expect(t.requeued()).toBe(0);
  });

  it('throws any other failure', async () => {
    const t = recovery([job('a', true)], { failOn: 'a', failWith: new Error('boom') });
    await expect(recoverLeftRunning(t.r)).rejects.toThrow('boom');
  });
});
