import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newJob } from '../../test/helpers/new-job.js';
import { STORE_ENGINES } from '../../test/helpers/postgres.js';
import { PaddockError } from '../errors.js';
import { afterHostLost } from '../jobs/leases.js';
import { openStore, type Store } from './store.js';


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(STORE_ENGINES)('fenced leases ($engine)', ({ fresh }) => {
  let store: Store;
  beforeEach(async () => {
    store = await openStore(await fresh());
  });
  afterEach(() => store.close());

  it('a host whose lease was taken over writes nothing: no output, no event, no end', async () => {
    const { row } = await store.insertJob(newJob());
    const first = (await store.claimNextJob('host-a', 50))!.row;
    expect(first.lease_token).toMatch(/^[A-Za-z0-9_-]{16}$/);
    await store.appendOutput(row.id, [{ stream: 'stdout', bytes: Buffer.from('a1\n') }], first.lease_token);
    await sleep(80);
    // host-a went silent: host-b finds the lease run out and requeues it, and claims it itself.
    const [expired] = await store.listExpiredLeases(10);
    expect(expired?.id).toBe(row.id);
    const requeued = await store.transitionJob({ id: row.id, from: ['running'], to: 'queued', reason: 'host_lost', lease: expired!.lease_token });
    expect(requeued?.row).toMatchObject({ state: 'queued', lease_token: null, lease_expires_at: null });
    const second = (await store.claimNextJob('host-b', 60_000))!.row;
    expect(second.lease_token).not.toBe(first.lease_token);
    expect(second.attempts).toBe(2);

    // host-a comes back and carries on as if nothing happened.
    const late = await store.appendOutput(row.id, [{ stream: 'stdout', bytes: Buffer.from('late\n') }], first.lease_token).catch((e: unknown) => e);
    expect((late as PaddockError).code).toBe('lease_lost');
    const lateEvent = await store.appendEvent(row.id, 'progress', { late: true }, first.lease_token).catch((e: unknown) => e);
    expect((lateEvent as PaddockError).code).toBe('lease_lost');
    expect(await store.renewLeases('host-a', [row.id], 60_000)).toEqual([]);
    expect(await store.transitionJob({ id: row.id, from: ['running'], to: 'succeeded', lease: first.lease_token })).toBeUndefined();

    // host-b's run ends it, once.
    await store.appendOutput(row.id, [{ stream: 'stdout', bytes: Buffer.from('b1\n') }], second.lease_token);
    expect(await store.renewLeases('host-b', [row.id], 60_000)).toEqual([row.id]);
    const end = await store.transitionJob({ id: row.id, from: ['running'], to: 'failed', reason: 'exit_code', lease: second.lease_token });
    expect(end?.row).toMatchObject({ state: 'failed', host: 'host-b', lease_token: null });
    expect((await store.readOutput(row.id, 1024)).stdout.toString()).toBe('a1\nb1\n');
    const states = (await store.listEvents(row.id, 0)).filter((e) => e.type === 'state').map((e) => (e.data as { state: string }).state);
    expect(states).toEqual(['queued', 'running', 'queued', 'running', 'failed']);
  });

  it('renewal keeps a lease from expiring; a cancel from another host ends the holder\'s renewals', async () => {
    const { row } = await store.insertJob(newJob());
    const claimed = (await store.claimNextJob('host-a', 100))!.row;
    for (let i = 0; i < 4; i++) {
      await sleep(50);
      expect(await store.renewLeases('host-a', [row.id], 100)).toEqual([row.id]);
    }
    expect(await store.listExpiredLeases(10)).toEqual([]);
    // Any host may cancel (no lease): the holder learns it at its next renewal.
    expect((await store.transitionJob({ id: row.id, from: ['running'], to: 'cancelled', reason: 'cancelled' }))?.row.state).toBe('cancelled');
    expect(await store.renewLeases('host-a', [row.id], 100)).toEqual([]);
    expect(await store.transitionJob({ id: row.id, from: ['running'], to: 'succeeded', lease: claimed.lease_token })).toBeUndefined();
    expect((await store.getJob(row.id))?.state).toBe('cancelled');
  });
});

describe('afterHostLost', () => {
  const spec = (retry?: boolean) => JSON.stringify({ kind: 'agent', ...(retry === undefined ? {} : { retry_on_restart: retry }) });
  it('requeues what is safe to repeat or asked for it, while it has runs left; fails the rest', () => {
    expect(afterHostLost({ spec: spec(), attempts: 1 }, true, 3)).toBe('queued');
    expect(afterHostLost({ spec: spec(), attempts: 3 }, true, 3)).toBe('failed');
    expect(afterHostLost({ spec: spec(), attempts: 1 }, false, 3)).toBe('failed');
    expect(afterHostLost({ spec: spec(true), attempts: 1 }, false, 3)).toBe('queued');
    expect(afterHostLost({ spec: spec(true), attempts: 3 }, false, 3)).toBe('failed');
  });
});
