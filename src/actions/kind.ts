import type { ActionsPool } from '../config/actions.js';
import type { Config } from '../config/schema.js';
import { PaddockError } from '../errors.js';
import { githubClientFor, type Octokit } from '../github/client.js';
import { type JobContext, type JobKind, type JobOutcome, outcomeOfExec } from '../jobs/kind.js';
import { resolveLimits } from '../jobs/limits.js';
import { BASE_ENV } from '../sandbox/driver.js';
import type { Metrics } from '../metrics.js';
import type { Logger } from '../util/log.js';
import { parseFullRepo, type RepoRef } from './grammar.js';
import { deleteRunner, generateJitConfig, runnerBusy, type Scope } from './jit.js';
import { IMPLICIT_LABELS, registrationScope } from './pools.js';
import { ActionsResult, type ActionsJobSpec } from './spec.js';

/** Making and removing the sandbox and the runner's registration, beyond the pool's max_runtime_ms. */
const SETUP_ALLOWANCE_MS = 60_000;

export const runnerName = (pool: string, jobId: number): string => `paddock-${pool}-${jobId}`;

function poolOf(config: Pick<Config, 'actions'>, name: string): ActionsPool {
  const pool = config.actions.pools.find((p) => p.name === name);
  if (!pool) throw new PaddockError('validation_failed', `no actions pool named ${name} on this runner`, { field: 'pool' });
  return pool;
}

export interface ActionsKindDeps {
  config: Config;
  log: Logger;
  /** The GitHub client for a repository (tests give their fake's). */
  github?: (repo: RepoRef) => Promise<Octokit>;
  metrics?: Metrics | undefined;
}

/**
 * `actions` jobs: one workflow job's ephemeral runner. Registered just in time (its one-use config
 * goes only to the runner's command line in the sandbox), run as `run.sh --jitconfig …` in a fresh
 * `egress` sandbox of the pool's driver and image, bounded by the pool's max_runtime_ms; the
 * sandbox is destroyed and the runner's record on GitHub removed whatever happened.
 */
export function actionsKind(deps: ActionsKindDeps): JobKind<ActionsJobSpec> {
  const github = deps.github ?? ((repo: RepoRef) => githubClientFor(deps.config.github, deps.log, repo));
  return {
    name: 'actions',
    result: ActionsResult,
    hardTimeoutMs: (spec) => spec.limits.timeout_ms + SETUP_ALLOWANCE_MS,
    plan: (spec, config) => {
      const pool = poolOf(config, spec.pool);
      if (!parseFullRepo(spec.github_job.repo)) throw new PaddockError('validation_failed', 'github_job.repo must be owner/repo', { field: 'github_job.repo' });
      return {
        limits: resolveLimits({ ...pool.limits, timeout_ms: pool.max_runtime_ms }, config),
        network: 'egress',
        image: pool.image || undefined,
        fitDriver: true,
      };
    },
    async run(ctx: JobContext<ActionsJobSpec>): Promise<JobOutcome> {
      const { spec } = ctx;
      const pool = poolOf(deps.config, spec.pool);
      const repo = parseFullRepo(spec.github_job.repo)!;
      const octokit = await github(repo);
      const scope: Scope = registrationScope(pool, repo);
      const name = runnerName(pool.name, spec.github_job.id);
      const reg = await generateJitConfig(octokit, scope, { name, labels: [...IMPLICIT_LABELS, ...pool.labels], groupId: pool.runner_group_id });
      ctx.event('actions.runner_registered', { runner_name: name, runner_id: reg.runnerId, github_job_id: spec.github_job.id });
      try {
        const sandbox = await ctx.driver.create({
          id: ctx.jobId,
          image: pool.image || undefined,
          network: 'egress',
          egressAllow: pool.allow,
          limits: ctx.limits,
          files: [],
        });
        // A runner GitHub never gives a job (another runner took it, it was cancelled) goes after
        // registration_timeout_ms — but never while GitHub says it is at work.
        const unused = new AbortController();
        const watch = setTimeout(() => {
          void runnerBusy(octokit, scope, reg.runnerId)
            .then((s) => s === 'idle' && unused.abort('registration_timeout'))
            .catch((err: unknown) => ctx.log.warn({ err, runner: name }, 'could not ask GitHub whether the runner took its job; it keeps running'));
        }, pool.registration_timeout_ms);
        const m = deps.metrics;
        if (spec.github_job.received_ms !== undefined) m?.actionsJobStartup.observe({ pool: pool.name }, Math.max(0, Date.now() - spec.github_job.received_ms) / 1000);
        m?.actionsBusyRunners.inc({ pool: pool.name });
        try {
          const r = await sandbox.exec(
            {
              argv: [`${pool.runner_dir}/run.sh`, '--jitconfig', reg.config.reveal()],
              cwd: pool.runner_dir,
              env: { ...BASE_ENV, HOME: pool.runner_dir },
              limits: { wallMs: ctx.limits.timeout_ms },
            },
            ctx.output,
            AbortSignal.any([ctx.signal, unused.signal]),
          );
          const outcome = outcomeOfExec(r);
          const result: ActionsResult = {
            github_job_id: spec.github_job.id,
            runner_name: name,
            runner_id: reg.runnerId,
            exit_code: r.exitCode,
            signal: r.signal,
            timed_out: outcome.state === 'timed_out',
            wall_ms: r.wallMs,
          };
          if (r.aborted === 'registration_timeout') {
            const message = `GitHub gave runner ${name} no job within ${pool.registration_timeout_ms} ms (taken by another runner, or cancelled); it was removed`;
            return { state: 'failed', reason: 'github_error', exitCode: r.exitCode, result, error: { code: 'github_error', message } };
          }
          return { ...outcome, result };
        } finally {
          m?.actionsBusyRunners.dec({ pool: pool.name });
          clearTimeout(watch);
          await sandbox.destroy();
        }
      } finally {
        // An ephemeral runner removes itself after its job; one that never got that far is removed here.
        await deleteRunner(octokit, scope, reg.runnerId).catch((err: unknown) =>
          ctx.log.warn({ err, runner: name }, 'removing the runner on GitHub failed; GitHub drops offline ephemeral runners itself'),
        );
      }
    },
  };
}
