import type { ZodType } from 'zod';
import type { Config, Limits } from '../config/schema.js';
import type { Logger } from '../util/log.js';
import type { ExecResult, NetworkMode, OutputSink, SandboxDriver } from '../sandbox/driver.js';
import type { JobReason } from './states.js';

export interface JobContext<S> {
  jobId: string;
  spec: S;
  driver: SandboxDriver;
  limits: Limits;
  /** Aborted with reason 'timeout', 'cancel' or 'shutdown'. */
  signal: AbortSignal;
  output: OutputSink;
  /** Stores and publishes one typed event of this kind (`agent.tool_use`, …), in order with the output. */
  event(type: string, data: unknown): void;
  log: Logger;
}

/** What the scheduler needs at submit to place a job of a kind. */
export interface JobPlan {
  /** The sandbox's limits; stored as the spec's `limits`. */
  limits: Limits;
  network: NetworkMode;
  image?: string | undefined;
  /** What else the kind resolved at submit, stored with the spec (a judge's per-test limits). */
  stored?: Record<string, unknown> | undefined;
  /**
   * The sandbox's limits are the kind's own choice, not what the job asked for (a judge's sandbox
   * around per-test limits): raised to what the chosen driver needs instead of refused.
   */
  fitDriver?: boolean | undefined;
}

export interface JobOutcome {
  state: 'succeeded' | 'failed' | 'timed_out' | 'cancelled';
  reason?: JobReason | undefined;
  exitCode: number | null;
  result: unknown;
  /** Why it failed, in the same shape as a thrown error's, when its reason alone does not say. */
  error?: { code: string; message: string } | undefined;
}

/** A kind of job (command today; judge, agent, actions later) runs one spec in a sandbox. */
export interface JobKind<S> {
  readonly name: string;
  /** What this kind's result may hold; checked before it is stored. */
  readonly result: ZodType;
  /** Checks a spec against this runner at submit (refusing what it cannot run with a PaddockError) and says what it needs. */
  plan(spec: S, config: Config): JobPlan;
  /**
   * A run may be repeated without effects outside its sandbox, so a job whose host was lost is
   * requeued (up to `fleet.max_attempts`) without asking; other kinds only with `retry_on_restart`.
   */
  readonly retrySafe?: boolean;
  /** The run's hard time cap; the job's `limits.timeout_ms` when absent. */
  hardTimeoutMs?(spec: S & { limits: Limits }): number;
  run(ctx: JobContext<S>): Promise<JobOutcome>;
}

/** Every kind this runner runs, by name (src/jobs/kinds.ts builds it). */
export type JobKinds = Readonly<Record<string, JobKind<any>>>;

/** The common mapping from one exec's result to a job's end state. */
export function outcomeOfExec(r: ExecResult): JobOutcome {
  // Its wall limit (timeout_ms from the command's start) or the job's deadline: a timeout either way.
  const timedOut = r.aborted === 'timeout' || r.limit === 'wall';
  const result = {
    exit_code: r.exitCode,
    signal: r.signal,
    // No stdout/stderr: output is stored once, as the job's output events (GET /v1/jobs/:id reads it there).
    stdout_truncated: r.stdoutTruncated,
    stderr_truncated: r.stderrTruncated,
    timed_out: timedOut,
    wall_ms: r.wallMs,
    cpu_ms: r.cpuMs,
    max_rss_kb: r.maxRssKb,
    ...(r.limit && r.limit !== 'wall' ? { limit: r.limit } : {}),
  };
  const base = { exitCode: r.exitCode, result };
  if (timedOut) return { ...base, state: 'timed_out', reason: 'timeout' };
  if (r.aborted === 'cancel') return { ...base, state: 'cancelled', reason: 'cancelled' };
  if (r.aborted === 'shutdown') return { ...base, state: 'failed', reason: 'runner_shutdown' };
  if (r.limit === 'memory') return { ...base, state: 'failed', reason: 'memory_limit' };
  if (r.limit === 'cpu') return { ...base, state: 'failed', reason: 'cpu_limit' };
  // Output past the cap ends a job output_limit whatever it did next: its writer
  // may die of SIGPIPE, see EPIPE and exit 1 (pid 1 ignores SIGPIPE), or exit 0.
  if (r.limit === 'output' || r.stdoutTruncated || r.stderrTruncated) {
    return { ...base, result: { ...result, limit: 'output' }, state: 'failed', reason: 'output_limit' };
  }
  if (r.exitCode === 0 && !r.signal) return { ...base, state: 'succeeded', reason: 'exit_code' };
  return { ...base, state: 'failed', reason: r.signal ? 'signal' : 'exit_code' };
}
