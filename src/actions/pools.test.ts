import { describe, expect, it } from 'vitest';
import { ActionsConfig } from '../config/actions.js';
import { matchPools, registrationScope } from './pools.js';

const { pools } = ActionsConfig.parse({
  pools: [
    { name: 'small', labels: ['paddock', 'small'], repos: ['acme/api'] },
    { name: 'big', labels: ['paddock', 'big', 'small', 'gpu'], orgs: ['acme'], driver: 'qemu' },
    { name: 'vm', labels: ['paddock', 'vm'], orgs: ['other'], driver: 'qemu', docker: true },
  ],
});
const api = { owner: 'acme', repo: 'api' };

describe('actions pools', () => {
  it('a job fits every pool that has all its labels (implied ones too, any case) and serves its repository', () => {
    expect(matchPools(pools, api, ['self-hosted', 'paddock', 'small']).pools.map((p) => p.name)).toEqual(['small', 'big']);
    expect(matchPools(pools, api, ['Self-Hosted', 'Linux', 'X64', 'PADDOCK']).pools.map((p) => p.name)).toEqual(['small', 'big']);
    expect(matchPools(pools, api, ['self-hosted', 'gpu']).pools.map((p) => p.name)).toEqual(['big']);
    // By organisation: any repository of acme.
    expect(matchPools(pools, { owner: 'ACME', repo: 'web' }, ['self-hosted', 'small']).pools.map((p) => p.name)).toEqual(['big']);
  });

  it('a job no pool can run says why', () => {
    expect(matchPools(pools, api, ['ubuntu-latest'])).toEqual({ pools: [], reason: 'runs-on [ubuntu-latest] is not for self-hosted runners' });
    expect(matchPools(pools, { owner: 'nobody', repo: 'x' }, ['self-hosted'])).toMatchObject({ reason: 'no pool serves nobody/x' });
    expect(matchPools(pools, api, ['self-hosted', 'arm64'])).toMatchObject({ pools: [], reason: expect.stringContaining('pools: small, big') });
  });

  it('an organisation a pool serves registers there, otherwise the repository', () => {
    expect(registrationScope(pools[1]!, api)).toEqual({ org: 'acme' });
    expect(registrationScope(pools[0]!, api)).toEqual({ repo: api });
  });

  it('config: at least one of repos or orgs, docker only on qemu, unique names, label grammar', () => {
    const bad = [
      { pools: [{ name: 'p', labels: ['x'] }] },
      { pools: [{ name: 'p', labels: ['x'], repos: ['a/b'], docker: true }] },
      { pools: [{ name: 'p', labels: ['x'], repos: ['a/b'] }, { name: 'p', labels: ['y'], repos: ['a/b'] }] },
      { pools: [{ name: 'p', labels: ['x y'], repos: ['a/b'] }] },
      { pools: [{ name: 'P!', labels: ['x'], repos: ['a/b'] }] },
      { pools: [{ name: 'p', labels: ['x'], repos: ['a/b/c'] }] },
    ];
    for (const c of bad) expect(ActionsConfig.safeParse(c).success, JSON.stringify(c)).toBe(false);
    expect(pools[0]).toMatchObject({ driver: 'auto', image: 'actions', max: 5, max_runtime_ms: 3_600_000, runner_group_id: 1 });
  });
});
