import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newJob } from '../../test/helpers/new-job.js';
import { STORE_ENGINES } from '../../test/helpers/postgres.js';
import { openDatabase } from './open.js';
import { openStore, type Store } from './store.js';

// A fleet's claim takes only jobs whose every need is among the claiming host's capabilities.
describe.each(STORE_ENGINES)('claims by job needs ($engine)', ({ fresh }) => {
  let store: Store;
  let url: string;
  beforeEach(async () => {
    url = await fresh();
    store = await openStore(url);
  });
  afterEach(() => store.close());

  const gpuHost = ['driver:bwrap', 'run:none:namespaces', 'label:gpu=a100', 'image:python'];
  const plainHost = ['driver:bwrap', 'run:none:namespaces', 'image:python'];

  it('a batch claim takes jobs in priority then FIFO order, skipping what the host cannot run', async () => {
    const low = await store.insertJob(newJob(1));
    const gpu = await store.insertJob({ ...newJob(9), needs: ['label:gpu=a100'] });
    const high = await store.insertJob(newJob(7));
    const high2 = await store.insertJob(newJob(7));
    const batch = await store.claimJobs('plain', 60_000, 10, { caps: plainHost });
    expect(batch.map((c) => c.row.id)).toEqual([high.row.id, high2.row.id, low.row.id]);
    expect(new Set(batch.map((c) => c.row.lease_token)).size).toBe(1);
    expect((await store.claimJobs('gpu', 60_000, 10, { caps: gpuHost })).map((c) => c.row.id)).toEqual([gpu.row.id]);
    expect(await store.claimJobs('gpu', 60_000, 10, { caps: gpuHost })).toEqual([]);
  });

  it('a host skips the jobs it cannot run, in priority order takes the rest; another host takes those', async () => {
    const gpu = await store.insertJob({ ...newJob(10), needs: ['label:gpu=a100', 'image:python'] });
    const plain = await store.insertJob({ ...newJob(5), needs: ['image:python'] });
    const any = await store.insertJob(newJob(1));
    const named = await store.insertJob({ ...newJob(0), needs: ['driver:gvisor'] });

    expect((await store.claimNextJob('plain', 60_000, { caps: plainHost }))?.row.id).toBe(plain.row.id);
    expect((await store.claimNextJob('plain', 60_000, { caps: plainHost }))?.row.id).toBe(any.row.id);
    expect(await store.claimNextJob('plain', 60_000, { caps: plainHost })).toBeUndefined();
    expect((await store.claimNextJob('gpu', 60_000, { caps: gpuHost }))?.row.id).toBe(gpu.row.id);
    // Nobody offers gvisor: it waits (its queue timeout, if any, ends it).
    expect(await store.claimNextJob('gpu', 60_000, { caps: gpuHost })).toBeUndefined();
    expect((await store.getJob(named.row.id))?.state).toBe('queued');
    // A host that offers nothing takes only jobs with no needs; without caps (one host) it takes all.
    expect(await store.claimNextJob('bare', 60_000, { caps: [] })).toBeUndefined();
    expect((await store.claimNextJob('alone', 60_000))?.row.id).toBe(named.row.id);
  });

  it('needs outlive a requeue and go with the job when it is pruned', async () => {
    const { row } = await store.insertJob({ ...newJob(), needs: ['label:gpu=a100'] });
    const claimed = (await store.claimNextJob('gpu', 60_000, { caps: gpuHost }))!.row;
    await store.transitionJob({ id: row.id, from: ['running'], to: 'queued', reason: 'host_lost', lease: claimed.lease_token });
    expect(await store.claimNextJob('plain', 60_000, { caps: plainHost })).toBeUndefined();
    const again = (await store.claimNextJob('gpu', 60_000, { caps: gpuHost }))!.row;
    await store.transitionJob({ id: row.id, from: ['running'], to: 'succeeded', lease: again.lease_token });
    expect((await store.pruneJobs({ keep: 0, limit: 10 })).jobs).toBe(1);
    const db = await openDatabase(url);
    try {
      expect(await db.selectFrom('job_needs').selectAll().execute()).toEqual([]);
    } finally {
      await db.destroy();
    }
  });
});
