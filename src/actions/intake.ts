import type { Config } from '../config/schema.js';
import { githubClientFor, type Octokit } from '../github/client.js';
import type { Logger } from '../util/log.js';
import { parseFullRepo, type RepoRef } from './grammar.js';
import { queuedJobs } from './poll.js';
import { matchPools } from './pools.js';
import type { ActionsJobSpec } from './spec.js';
import type { WorkflowJob } from './workflow-job.js';

export type Offered =
  | { status: 'submitted'; jobId: string; pool: string }
  | { status: 'duplicate'; jobId: string }
  | { status: 'unmatched'; reason: string };

export interface IntakeDeps {
  config: Config;
  /** Queues an actions job once per key (the scheduler's idempotency: a redelivery or a poll finds the first). */
  submit: (spec: ActionsJobSpec, idempotencyKey: string) => Promise<{ id: string; created: boolean }>;
  log: Logger;
  github?: (repo: RepoRef) => Promise<Octokit>;
}

/** Jobs no pool could run, kept for status (the newest ones). */
const MAX_UNMATCHED = 100;

/**
 * Where queued workflow jobs come in, by webhook or by polling: each becomes one `actions` job in
 * a pool that fits it, once (keyed by GitHub's job id, so a webhook and a poll that both see it,
 * or two hosts of a fleet, make one); a job no pool can run is logged and kept for status with
 * the reason, not dropped silently.
 */
export class ActionsIntake {
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  private stopped = false;
  readonly unmatched: { job: number; repo: string; labels: string[]; reason: string; at: string }[] = [];

  constructor(private readonly deps: IntakeDeps) {}

  get enabled(): boolean {
    return this.deps.config.actions.pools.length > 0;
  }

  async offer(job: WorkflowJob, via: 'webhook' | 'poll'): Promise<Offered> {
    const match = matchPools(this.deps.config.actions.pools, job.repo, job.labels);
    const repo = `${job.repo.owner}/${job.repo.repo}`;
    if ('reason' in match) {
      this.unmatched.unshift({ job: job.id, repo, labels: job.labels, reason: match.reason, at: new Date().toISOString() });
      this.unmatched.length = Math.min(this.unmatched.length, MAX_UNMATCHED);
      this.deps.log.warn({ job: job.id, repo, labels: job.labels, via }, `workflow job not taken: ${match.reason}`);
      return { status: 'unmatched', reason: match.reason };
    }
    const pool = match.pools[0]!;
    const spec: ActionsJobSpec = {
      kind: 'actions',
      pool: pool.name,
      github_job: { id: job.id, run_id: job.runId, repo, labels: job.labels },
      driver: pool.driver,
      limits: {},
      priority: 0,
      retry_on_restart: false,
      labels: { 'github.job': String(job.id), 'github.repo': repo.slice(0, 200), 'actions.pool': pool.name },
    };
    const { id, created } = await this.deps.submit(spec, `actions:${job.id}`);
    if (!created) return { status: 'duplicate', jobId: id };
    this.deps.log.info({ job: job.id, repo, pool: pool.name, jobId: id, via }, 'workflow job taken');
    return { status: 'submitted', jobId: id, pool: pool.name };
  }

  /** Polls the pools' repositories every `actions.poll_ms` (0: never), waiting longer when GitHub's rate limit says so. */
  start(): void {
    const every = this.deps.config.actions.poll_ms;
    if (!this.enabled || every === 0) return;
    const next = (ms: number) => {
      if (this.stopped) return;
      this.timer = setTimeout(() => void this.pollOnce().then((wait) => next(Math.max(every, wait ?? 0))), ms);
      this.timer.unref();
    };
    next(every);
  }

  /** One round over every repository a pool names; returns how long GitHub asked to wait, if it did. */
  async pollOnce(): Promise<number | undefined> {
    if (this.polling) return undefined;
    this.polling = true;
    try {
      const repos = [...new Set(this.deps.config.actions.pools.flatMap((p) => p.repos))];
      let wait: number | undefined;
      for (const full of repos) {
        const repo = parseFullRepo(full);
        if (!repo || this.stopped) continue;
        try {
          const octokit = await (this.deps.github ?? ((r: RepoRef) => githubClientFor(this.deps.config.github, this.deps.log, r)))(repo);
          const r = await queuedJobs(octokit, repo);
          for (const job of r.jobs) await this.offer(job, 'poll');
          if (r.waitMs !== undefined) {
            wait = r.waitMs;
            break;
          }
        } catch (err) {
          this.deps.log.warn({ err, repo: full }, 'polling for queued workflow jobs failed');
        }
      }
      return wait;
    } finally {
      this.polling = false;
    }
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
