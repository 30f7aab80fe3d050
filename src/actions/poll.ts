import type { Octokit } from '../github/client.js';
import { githubError } from '../github/errors.js';
import type { RepoRef } from './grammar.js';
import { parseWorkflowJob, type WorkflowJob } from './workflow-job.js';

/** Runs looked into per repository and poll: a backlog beyond it is taken on the next polls. */
export const MAX_RUNS_PER_POLL = 50;
const PER_PAGE = 100;
/** Below this many requests left in GitHub's window, polling waits for the window to reset. */
const RESERVE = 100;

export interface PollResult {
  jobs: WorkflowJob[];
  /** When GitHub's rate limit says to hold off: the time to wait before the next poll. */
  waitMs?: number | undefined;
}

type Headers = Record<string, string | number | undefined>;

/** `x-ratelimit-remaining` below the reserve: wait until `x-ratelimit-reset` (seconds since the epoch). */
export function rateLimitWait(headers: Headers, now = Date.now()): number | undefined {
  const remaining = Number(headers['x-ratelimit-remaining']);
  if (!Number.isFinite(remaining) || remaining >= RESERVE) return undefined;
  const reset = Number(headers['x-ratelimit-reset']);
  return Number.isFinite(reset) ? Math.max(1000, reset * 1000 - now) : 60_000;
}

/**
 * The queued workflow jobs of one repository, as polling sees them: runs that are queued or in
 * progress (a later job of a running workflow waits queued too), then each run's latest jobs.
 * What webhooks missed is found here. Bounded (MAX_RUNS_PER_POLL runs, one page of jobs each),
 * and it stops early when GitHub's rate limit runs low, saying how long to wait.
 */
export async function queuedJobs(octokit: Octokit, repo: RepoRef): Promise<PollResult> {
  const { owner, repo: name } = repo;
  const runIds: number[] = [];
  let waitMs: number | undefined;
  try {
    for (const status of ['queued', 'in_progress'] as const) {
      const res = await octokit.request('GET /repos/{owner}/{repo}/actions/runs', { owner, repo: name, status, per_page: PER_PAGE });
      waitMs = rateLimitWait(res.headers as Headers);
      for (const r of (res.data as { workflow_runs?: { id?: unknown }[] }).workflow_runs ?? []) {
        if (typeof r.id === 'number' && Number.isSafeInteger(r.id) && r.id > 0 && !runIds.includes(r.id)) runIds.push(r.id);
      }
      if (waitMs !== undefined) return { jobs: [], waitMs };
    }
    const jobs: WorkflowJob[] = [];
    for (const runId of runIds.slice(0, MAX_RUNS_PER_POLL)) {
      const res = await octokit.request('GET /repos/{owner}/{repo}/actions/runs/{run_id}/jobs', { owner, repo: name, run_id: runId, filter: 'latest', per_page: PER_PAGE });
      for (const j of (res.data as { jobs?: unknown[] }).jobs ?? []) {
        const job = parseWorkflowJob(j, { full_name: `${owner}/${name}` });
        if (job?.status === 'queued' && job.runId === runId) jobs.push(job);
      }
      waitMs = rateLimitWait(res.headers as Headers);
      if (waitMs !== undefined) break;
    }
    return { jobs, waitMs };
  } catch (err) {
    const e = githubError(err, `listing the queued workflow jobs of ${owner}/${name}`);
    const retry = e.details?.retry_after_s;
    if (typeof retry === 'number') return { jobs: [], waitMs: retry * 1000 };
    throw e;
  }
}
