import type { PaddockError } from '../errors.js';
import type { ZodType } from 'zod';
import type { JobOutcome } from './kind.js';
import { ExitCode } from './result.js';
import type { JobState } from './states.js';
import type { JobEnd } from './transition.js';

export interface RunEnd {
  /** What the kind returned, when it returned at all. */
  outcome: JobOutcome | undefined;
  /** What it threw instead. */
  error: PaddockError | undefined;
  /** Set when the job's output could not be stored. */
  outputFailure: PaddockError | undefined;
  /** Why the run was aborted from outside, if it was. */
  aborted: string | undefined;
  retryOnRestart: boolean;
  /** The kind's result schema (a kind that ran has one). */
  resultSchema: ZodType | undefined;
}

/**
 * Where a claimed job goes once its run is over, and with what. Pure, so the
 * order of precedence (storage failure, shutdown requeue, no outcome, a result
 * no read could serve, the job's own end) is in one place.
 */
export function endOfRun(r: RunEnd): { to: JobState; end: JobEnd; why?: string } {
  if (r.outputFailure) {
    const full = r.outputFailure.code === 'storage_full';
    return {
      to: 'failed',
      end: {
        reason: full ? 'storage_full' : 'driver_error',
        error: { code: r.outputFailure.code, message: `the job's output could not be stored: ${r.outputFailure.message}` },
      },
    };
  }
  const { outcome } = r;
  if (outcome?.reason === 'runner_shutdown' && r.retryOnRestart) return { to: 'queued', end: { reason: 'runner_shutdown' } };
  if (!outcome) {
    const cancelled = r.aborted === 'cancel';
    return {
      to: cancelled ? 'cancelled' : 'failed',
      end: {
        reason: cancelled ? 'cancelled' : 'driver_error',
        error: r.error ? { code: r.error.code, message: r.error.message } : undefined,
      },
    };
  }
  const checked = r.resultSchema?.safeParse(outcome.result);
  if (!checked?.success || !ExitCode.safeParse(outcome.exitCode).success) {
    // Nothing a job prints may become a stored value no read can serve.
    const why = checked?.success ? `exit code ${outcome.exitCode}` : (checked?.error.issues[0]?.message ?? 'no result schema');
    return {
      to: 'failed',
      why,
      end: { reason: 'driver_error', error: { code: 'driver_error', message: `the sandbox reported an impossible result (${why})` } },
    };
  }
  return {
    to: outcome.state,
    end: { reason: outcome.reason, result: checked.data, exitCode: outcome.exitCode, ...(outcome.error ? { error: outcome.error } : {}) },
  };
}
