import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { STORE_ENGINES } from '../../test/helpers/postgres.js';
import { openStore, type Store } from './store.js';

let store: Store;

describe.each(STORE_ENGINES)('github deliveries ($engine)', ({ fresh }) => {
  beforeEach(async () => {
    store = await openStore(await fresh());
  });
  afterEach(() => store.close());

  it('a delivery id is new once; concurrent copies agree on one winner', async () => {
    const row = { id: 'd-1', event: 'issues', received_at: '2024-01-01T00:00:00.000Z' };
    const first = await Promise.all([1, 2, 3, 4].map(() => store.recordGithubDelivery(row)));
    expect(first.filter(Boolean)).toHaveLength(1);
    expect(await store.recordGithubDelivery(row)).toBe(false);
    await store.setGithubDeliveryJob('d-1', 'job_1');
    expect(await store.getGithubDelivery('d-1')).toMatchObject({ event: 'issues', job_id: 'job_1' });
  });

  it('forgets one delivery, and prunes those received before a time', async () => {
    await store.recordGithubDelivery({ id: 'old', event: 'issues', received_at: '2024-01-01T00:00:00.000Z' });
    await store.recordGithubDelivery({ id: 'new', event: 'issues', received_at: '2024-02-01T00:00:00.000Z' });
    expect(await store.pruneGithubDeliveries('2024-01-15T00:00:00.000Z')).toBe(1);
    expect(await store.getGithubDelivery('old')).toBeUndefined();
    await store.forgetGithubDelivery('new');
    expect(await store.recordGithubDelivery({ id: 'new', event: 'issues', received_at: '2024-02-02T00:00:00.000Z' })).toBe(true);
  });
});
