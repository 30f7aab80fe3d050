import type { ActionsPool } from '../config/actions.js';
import type { RepoRef } from './grammar.js';

/** What every Paddock runner is, whatever its pool says: GitHub's default self-hosted labels. */
export const IMPLICIT_LABELS = ['self-hosted', 'linux', 'x64'];

export type PoolMatch = { pools: ActionsPool[] } | { pools: []; reason: string };

const lower = (s: string) => s.toLowerCase();

/**
 * The pools that can run a workflow job: every label of its `runs-on` is one of the pool's (or
 * implied; GitHub compares labels case-insensitively), and the pool serves its repository or its
 * organisation. Several pools may fit: the caller picks one with room. None fitting comes with
 * the reason, so the job is reported rather than left "Waiting for a runner…" without a word.
 */
export function matchPools(pools: readonly ActionsPool[], repo: RepoRef, labels: readonly string[]): PoolMatch {
  const asked = [...new Set(labels.map(lower))];
  if (!asked.includes('self-hosted')) {
    return { pools: [], reason: `runs-on [${labels.join(', ')}] is not for self-hosted runners` };
  }
  const full = lower(`${repo.owner}/${repo.repo}`);
  const serving = pools.filter((p) => p.repos.some((r) => lower(r) === full) || p.orgs.some((o) => lower(o) === lower(repo.owner)));
  if (!serving.length) return { pools: [], reason: `no pool serves ${repo.owner}/${repo.repo}` };
  const fit = serving.filter((p) => {
    const has = new Set([...IMPLICIT_LABELS, ...p.labels].map(lower));
    return asked.every((l) => has.has(l));
  });
  if (!fit.length) {
    return { pools: [], reason: `no pool serving ${repo.owner}/${repo.repo} has all of [${labels.join(', ')}] (pools: ${serving.map((p) => p.name).join(', ')})` };
  }
  return { pools: fit };
}

/**
 * Whether the runner registers at the organisation or the repository: an organisation a pool
 * serves takes precedence (its runner groups apply), else the repository.
 */
export function registrationScope(pool: ActionsPool, repo: RepoRef): { org: string } | { repo: RepoRef } {
  return pool.orgs.some((o) => lower(o) === lower(repo.owner)) ? { org: repo.owner } : { repo };
}
