import type { JobOutcome } from '../jobs/kind.js';
import type { JobReason } from '../jobs/states.js';
import type { ExecResult } from '../sandbox/driver.js';
import type { AgentClaim } from './adapters/adapter.js';

export interface RunFacts {
  exec: ExecResult | null;
  claim: AgentClaim | null;
  /** No event for idle_timeout_ms. */
  idle: boolean;
  /** Why the job's signal was aborted: timeout, cancel, shutdown, budget_exceeded. */
  aborted: string | undefined;
  /** Set when the proxy refused a request for the budget. */
  overBudget: string | null;
  /** The last error the model API (or the proxy) answered. */
  modelError: { status: number; type: string; message: string } | null;
}

type End = Pick<JobOutcome, 'state' | 'reason' | 'error'>;

const fail = (reason: JobReason, code: string, message: string): End => ({ state: 'failed', reason, error: { code, message } });

/**
 * Where an agent run ends, by precedence: what stopped it from outside (cancel, timeout, shutdown),
 * its budget, the sandbox's limits, then what the CLI itself said. A claim of success only counts
 * when the CLI also exited 0.
 */
export function agentEnd(f: RunFacts): End {
  if (f.aborted === 'cancel') return { state: 'cancelled', reason: 'cancelled' };
  if (f.aborted === 'shutdown') return { state: 'failed', reason: 'runner_shutdown' };
  if (f.aborted === 'timeout' || f.idle) {
    return {
      state: 'timed_out',
      reason: 'timeout',
      error: f.idle
        ? { code: 'idle_timeout', message: 'the agent produced no event within limits.idle_timeout_ms' }
        : { code: 'timeout', message: 'the agent ran past limits.timeout_ms + limits.idle_timeout_ms' },
    };
  }
  if (f.overBudget !== null) return fail('budget_exceeded', 'budget_exceeded', f.overBudget);
  const exec = f.exec;
  if (exec?.limit === 'memory') return fail('memory_limit', 'memory_limit', 'the agent ran out of limits.memory_mb');
  if (exec?.limit === 'cpu') return fail('cpu_limit', 'cpu_limit', 'the agent used up limits.cpu_ms');
  if (exec?.limit === 'output') return fail('output_limit', 'output_limit', "the agent's output passed limits.output_bytes");
  const claim = f.claim;
  if (claim?.subtype === 'error_max_turns') return fail('max_turns', 'max_turns', 'the agent reached max_turns before finishing');
  if (claim && !claim.is_error && claim.subtype === 'success' && exec?.exitCode === 0) return { state: 'succeeded', reason: 'exit_code' };
  if (f.modelError) {
    const e = f.modelError;
    return fail('model_error', 'model_error', `the model API answered ${e.status} ${e.type}: ${e.message}`.slice(0, 1000));
  }
  const how = exec ? (exec.signal ? `was killed by ${exec.signal}` : `exited ${exec.exitCode}`) : 'did not run';
  if (!claim) return fail('agent_error', 'agent_error', `the agent CLI ${how} without a result`);
  const said = claim.result ? `: ${claim.result.slice(0, 500)}` : '';
  return fail('agent_error', 'agent_error', `the agent CLI ${how} and ended ${claim.subtype}${said}`);
}
