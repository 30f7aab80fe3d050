/**
 * Job lifecycle: queued → running → succeeded | failed | cancelled | timed_out.
 * A queued job can also be cancelled, or end `expired` when it was not started
 * within its `queue_timeout_ms`; a running one is requeued after a restart
 * when its spec asks for it. Every transition is one store write and one event.
 */
export const JOB_STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out', 'expired'] as const;
export type JobState = (typeof JOB_STATES)[number];

export const TERMINAL_STATES: readonly JobState[] = ['succeeded', 'failed', 'cancelled', 'timed_out', 'expired'];

const NEXT: Record<JobState, readonly JobState[]> = {
  queued: ['running', 'cancelled', 'failed', 'expired'],
  running: ['succeeded', 'failed', 'cancelled', 'timed_out', 'queued'],
  succeeded: [],
  failed: [],
  cancelled: [],
  timed_out: [],
  expired: [],
};

export const isTerminal = (state: string): boolean => (TERMINAL_STATES as readonly string[]).includes(state);

/** The states a job may be in for a move to `to` to be legal. */
export function statesBefore(to: JobState): JobState[] {
  return JOB_STATES.filter((from) => NEXT[from].includes(to));
}

/** Why a job ended where it did; stable strings that API users may match on. */
export type JobReason =
  | 'exit_code'
  | 'signal'
  | 'timeout'
  | 'cpu_limit'
  | 'memory_limit'
  | 'output_limit'
  | 'cancelled'
  | 'driver_error'
  | 'runner_restarted'
  // Fleet: its host's lease ran out (crashed, partitioned, stalled) and it was not retried there.
  | 'host_lost'
  | 'runner_shutdown'
  | 'storage_full'
  | 'queue_timeout'
  // Agent jobs (src/agents/): the CLI's own end, its budget, what it needed outside the sandbox.
  | 'agent_error'
  | 'max_turns'
  | 'budget_exceeded'
  | 'model_error'
  | 'repo_error'
  | 'github_error'
  // Judge jobs (src/judge/): judging ran (the verdict is in the result), or the language could not be used.
  | 'judged'
  | 'language_unhealthy';
