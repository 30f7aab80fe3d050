import type { Config } from '../config/schema.js';
import { githubClientFor, type Octokit } from '../github/client.js';
import type { Metrics } from '../metrics.js';
import type { Logger } from '../util/log.js';
import { parseFullRepo, type RepoRef } from './grammar.js';
import { queuedJobs } from './poll.js';
import { matchPools } from './pools.js';
import type { ActionsJobSpec } from './spec.js';
import type { WorkflowJob } from './workflow-job.js';

export type Offered =
  | { status: 'submitted'; jobId: string; pool: string }
  | { status: 'waiting'; pool: string }
  | { status: 'duplicate'; jobId: string }
  | { status: 'unmatched'; reason: string };

export interface IntakeDeps {
  config: Config;
  /** Queues an actions job once per key (the scheduler's idempotency: a redelivery or a poll finds the first). */
  submit: (spec: ActionsJobSpec, idempotencyKey: string) => Promise<{ id: string; created: boolean }>;
  /** Calls back with the id of each job that ended (the event bus's terminal states). */
  onJobEnded: (listener: (jobId: string) => void) => () => void;
  log: Logger;
  github?: (repo: RepoRef) => Promise<Octokit>;
  metrics?: Metrics | undefined;
}

/** Jobs no pool could run, kept for status (the newest ones). */
const MAX_UNMATCHED = 100;
/** Workflow jobs waiting for room in their pools; beyond it the oldest wait for the next poll instead. */
const MAX_WAITING = 1000;

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
  private readonly unsubscribe: () => void;
  readonly unmatched: { job: number; repo: string; labels: string[]; reason: string; at: string }[] = [];
  /** Per pool, the actions jobs of this host that have not ended (each holds a runner, or will). */
  private readonly active = new Map<string, Set<string>>();
  /** Workflow jobs that fit pools with no room yet, oldest first. */
  private readonly waiting: WorkflowJob[] = [];
  /** When each waiting job first reached Paddock, so its startup figure counts the wait. */
  private readonly received = new Map<number, number>();
  private readonly endedIds = new Set<string>();

  constructor(private readonly deps: IntakeDeps) {
    this.unsubscribe = deps.onJobEnded((jobId) => this.ended(jobId));
  }

  /** The pools' jobs this host had when it stopped, counted against their `max` again. */
  adopt(rows: { id: string; pool: string }[]): void {
    for (const r of rows) this.activeOf(r.pool).add(r.id);
  }

  /** Per pool: runners at work or starting, and workflow jobs waiting for room. */
  status(): { pool: string; max: number; active: number; waiting: number }[] {
    return this.deps.config.actions.pools.map((p) => ({
      pool: p.name,
      max: p.max,
      active: this.activeOf(p.name).size,
      waiting: this.waiting.filter((j) => matchPools([p], j.repo, j.labels).pools.length > 0).length,
    }));
  }

  private activeOf(pool: string): Set<string> {
    let set = this.active.get(pool);
    if (!set) this.active.set(pool, (set = new Set()));
    return set;
  }

  private ended(jobId: string): void {
    // A job may end before its submit has returned here: remembered, so its slot is not taken then.
    this.endedIds.add(jobId);
    if (this.endedIds.size > 1000) this.endedIds.delete(this.endedIds.values().next().value!);
    for (const set of this.active.values()) {
      if (!set.delete(jobId)) continue;
      this.gauges();
      void this.drain();
    }
  }

  /** Offers the waiting jobs again, oldest first, as room appears. */
  private async drain(): Promise<void> {
    for (const job of [...this.waiting]) {
      const i = this.waiting.indexOf(job);
      if (i < 0) continue;
      this.waiting.splice(i, 1);
      await this.offer(job, 'waiting').catch((err: unknown) => {
        this.deps.log.error({ err, job: job.id }, 'submitting a waiting workflow job failed; the next poll tries again');
      });
    }
  }

  get enabled(): boolean {
    return this.deps.config.actions.pools.length > 0;
  }

  /** Keeps the metrics' gauges in step with the counts. */
  private gauges(): void {
    const m = this.deps.metrics;
    if (!m) return;
    for (const s of this.status()) {
      m.actionsAssignedJobs.set({ pool: s.pool }, s.active);
      m.actionsWaitingJobs.set({ pool: s.pool }, s.waiting);
    }
  }

  async offer(job: WorkflowJob, via: 'webhook' | 'poll' | 'waiting'): Promise<Offered> {
    try {
      return await this.take(job, via);
    } finally {
      this.gauges();
    }
  }

  private async take(job: WorkflowJob, via: 'webhook' | 'poll' | 'waiting'): Promise<Offered> {
    const receivedMs = this.received.get(job.id) ?? Date.now();
    const match = matchPools(this.deps.config.actions.pools, job.repo, job.labels);
    const repo = `${job.repo.owner}/${job.repo.repo}`;
    if ('reason' in match) {
      // Each poll sees it again: one entry per job, the newest sighting first.
      const seen = this.unmatched.findIndex((u) => u.job === job.id);
      if (seen >= 0) this.unmatched.splice(seen, 1);
      this.unmatched.unshift({ job: job.id, repo, labels: job.labels, reason: match.reason, at: new Date().toISOString() });
      this.unmatched.length = Math.min(this.unmatched.length, MAX_UNMATCHED);
      this.deps.log.warn({ job: job.id, repo, labels: job.labels, via }, `workflow job not taken: ${match.reason}`);
      return { status: 'unmatched', reason: match.reason };
    }
    // The fitting pool with the most room; none with room: the job waits (for a runner to end, or the next poll).
    const roomy = match.pools.filter((p) => this.activeOf(p.name).size < p.max);
    const pool = roomy.sort((a, b) => this.activeOf(a.name).size / a.max - this.activeOf(b.name).size / b.max)[0];
    if (!pool) {
      if (!this.waiting.some((w) => w.id === job.id)) {
        this.waiting.push(job);
        this.received.set(job.id, receivedMs);
        if (this.waiting.length > MAX_WAITING) this.received.delete(this.waiting.shift()!.id);
      }
      return { status: 'waiting', pool: match.pools[0]!.name };
    }
    const spec: ActionsJobSpec = {
      kind: 'actions',
      pool: pool.name,
      github_job: { id: job.id, run_id: job.runId, repo, labels: job.labels, received_ms: receivedMs },
      driver: pool.driver,
      limits: {},
      priority: 0,
      retry_on_restart: false,
      labels: { 'github.job': String(job.id), 'github.repo': repo.slice(0, 200), 'actions.pool': pool.name },
    };
    this.received.delete(job.id);
    // The slot is taken before the submit is awaited, so offers at once never pass the pool's max.
    const slots = this.activeOf(pool.name);
    const placeholder = `submitting:${job.id}`;
    slots.add(placeholder);
    let submitted: { id: string; created: boolean };
    try {
      submitted = await this.deps.submit(spec, `actions:${job.id}`);
    } finally {
      slots.delete(placeholder);
    }
    const { id, created } = submitted;
    if (!created) return { status: 'duplicate', jobId: id };
    if (!this.endedIds.has(id)) slots.add(id);
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
    this.unsubscribe();
  }
}
