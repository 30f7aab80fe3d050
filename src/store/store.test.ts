import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newJob } from '../../test/helpers/new-job.js';
import { STORE_ENGINES } from '../../test/helpers/postgres.js';
import { openStore, type Store } from './store.js';

let store: Store;


describe.each(STORE_ENGINES)('store ($engine)', ({ fresh }) => {
  beforeEach(async () => {
    store = await openStore(await fresh());
  });
  afterEach(() => store.close());

  it('claims by priority, then first-in first-out', async () => {
    const a = await store.insertJob(newJob(0));
    const b = await store.insertJob(newJob(5));
    const c = await store.insertJob(newJob(0));
    const order: string[] = [];
    for (;;) {
      const claimed = await store.claimNextJob('h1', 1000);
      if (!claimed) break;
      expect(claimed.row.state).toBe('running');
      expect(claimed.row.attempts).toBe(1);
      order.push(claimed.row.id);
    }
    expect(order).toEqual([b.row.id, a.row.id, c.row.id]);
  });

  it('inserts a job already claimed (start): running, attempt 1, leased, both events; no claim finds it', async () => {
    const before = Date.now();
    const { row, event, started } = await store.insertJob({ ...newJob(), start: { host: 'h1', leaseMs: 60_000 } });
    expect(row).toMatchObject({ state: 'running', attempts: 1, host: 'h1' });
    expect(row.started_at).toBeTruthy();
    expect(Date.parse(row.lease_expires_at!)).toBeGreaterThanOrEqual(before + 60_000);
    expect([event.seq, event.data, started?.seq, started?.data]).toEqual([1, { state: 'queued' }, 2, { state: 'running', attempt: 1 }]);
    expect(await store.claimNextJob('h2', 1000)).toBeUndefined();
    const plain = await store.insertJob(newJob());
    expect([plain.row.state, plain.row.attempts, plain.row.host, plain.started]).toEqual(['queued', 0, null, undefined]);
  });

  it('guards transitions so only one writer wins', async () => {
    const { row } = await store.insertJob(newJob());
    await store.claimNextJob('h1', 1000);
    const done = await store.transitionJob({ id: row.id, from: ['running'], to: 'succeeded', patch: { exit_code: 0 } });
    expect(done?.row.state).toBe('succeeded');
    expect(done?.row.finished_at).toBeTruthy();
    const late = await store.transitionJob({ id: row.id, from: ['queued', 'running'], to: 'cancelled' });
    expect(late).toBeUndefined();
    expect((await store.getJob(row.id))?.state).toBe('succeeded');
  });

  it('numbers events per job without gaps', async () => {
    const { row } = await store.insertJob(newJob());
    await store.claimNextJob('h1', 1000);
    await store.appendEvent(row.id, 'stdout', { data: 'hi' });
    await store.transitionJob({ id: row.id, from: ['running'], to: 'failed', reason: 'exit_code' });
    const events = await store.listEvents(row.id, 0);
    expect(events.map((e) => [e.seq, e.type])).toEqual([
      [1, 'state'],
      [2, 'state'],
      [3, 'stdout'],
      [4, 'state'],
    ]);
    expect(events[3]!.data).toEqual({ state: 'failed', reason: 'exit_code' });
    expect((await store.listEvents(row.id, 2)).map((e) => e.seq)).toEqual([3, 4]);
  });

  it('pages through jobs newest first with a cursor', async () => {
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await store.insertJob(newJob())).row.id);
    const first = await store.listJobs({ limit: 2 });
    expect(first.rows.map((r) => r.id)).toEqual([ids[4], ids[3]]);
    const second = await store.listJobs({ limit: 2, before: first.next! });
    expect(second.rows.map((r) => r.id)).toEqual([ids[2], ids[1]]);
    const third = await store.listJobs({ limit: 2, before: second.next! });
    expect(third.rows.map((r) => r.id)).toEqual([ids[0]]);
    expect(third.next).toBeNull();
    expect((await store.listJobs({ limit: 10, state: 'running' })).rows).toEqual([]);
  });

  it('finds a job by idempotency key per token and rejects duplicates', async () => {
    const { row } = await store.insertJob(newJob(0, { token_id: 't1', idempotency_key: 'k' }));
    expect((await store.findJobByIdempotencyKey('t1', 'k'))?.id).toBe(row.id);
    expect(await store.findJobByIdempotencyKey('t2', 'k')).toBeUndefined();
    await expect(store.insertJob(newJob(0, { token_id: 't1', idempotency_key: 'k' }))).rejects.toThrow();
  });
});
