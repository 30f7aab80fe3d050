import { jobSummary, type JobSummaryView } from '../../server/job-summary.js';
import type { JobSummaryRow } from '../../store/store.js';
import { isTerminal } from '../states.js';

/** The body of a `job.state` callback. */
export interface CallbackPayload {
  job_id: string;
  kind: string;
  state: string;
  reason: string | null;
  /** The state the job left; absent when this process did not see it (a state reached before a restart). */
  previous_state?: string;
  /** When the state changed (the state event's time), ISO-8601 UTC. */
  at: string;
  /** The job's run: 1 on its first start, more after a requeue (retry_on_restart); 0 while never started. */
  attempt: number;
  /** On terminal states: the result as `GET /v1/jobs/:id` shows it, without stdout/stderr. */
  result?: JobSummaryView['result'];
  /** On terminal states that carry one. */
  error?: JobSummaryView['error'];
}

export interface StateChange {
  state: string;
  reason?: string | undefined;
  attempt?: number | undefined;
  at: string;
}

/**
 * The body for one state change of `job`. `ended` is the job's summary row, read after a terminal
 * state (the result and error come from it); non-terminal states need nothing but the event.
 */
export function callbackPayload(
  job: { id: string; kind: string; attempts: number },
  change: StateChange,
  previous: string | undefined,
  ended?: JobSummaryRow,
): CallbackPayload {
  const payload: CallbackPayload = {
    job_id: job.id,
    kind: job.kind,
    state: change.state,
    reason: change.reason ?? null,
    ...(previous ? { previous_state: previous } : {}),
    at: change.at,
    attempt: change.attempt ?? ended?.attempts ?? job.attempts,
  };
  if (!ended || !isTerminal(change.state)) return payload;
  const view = jobSummary(ended);
  if (view.result) payload.result = view.result;
  if (view.error) payload.error = view.error;
  return payload;
}
