import { LABEL_RE, parseFullRepo, type RepoRef } from './grammar.js';

/** A workflow job as Paddock keeps it: GitHub's ids, where it runs, what it asks for. */
export interface WorkflowJob {
  id: number;
  runId: number;
  repo: RepoRef;
  /** `runs-on`, as GitHub reports it. */
  labels: string[];
  /** GitHub's: queued, in_progress, completed, waiting, … */
  status: string;
  /** Shown in status and logs only (untrusted text, cut short). */
  name: string;
  /** The runner GitHub gave it (in_progress, completed), if any. */
  runnerName: string | undefined;
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : undefined);
const id = (v: unknown): number | undefined => (typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : undefined);
const STATUS_RE = /^[a-z_]{1,32}$/;
const RUNNER_NAME_RE = /^[A-Za-z0-9._-]{1,100}$/;
/** GitHub allows at most this many labels per runner; a job asking for more matches no pool anyway. */
const MAX_LABELS = 100;

/**
 * One `workflow_job` object (the webhook's, or an entry of the REST API's run jobs) with its
 * repository, or undefined when it is not one: every field that reaches a name, a URL or a
 * command is checked here, and a job with a malformed one is not taken.
 */
export function parseWorkflowJob(job: unknown, repository: unknown): WorkflowJob | undefined {
  const j = obj(job);
  const repo = typeof obj(repository)?.full_name === 'string' ? parseFullRepo(obj(repository)!.full_name as string) : undefined;
  const jobId = id(j?.id);
  const runId = id(j?.run_id);
  const labels = j?.labels;
  const status = j?.status;
  if (!j || !repo || !jobId || !runId || typeof status !== 'string' || !STATUS_RE.test(status)) return undefined;
  if (!Array.isArray(labels) || labels.length > MAX_LABELS || !labels.every((l) => typeof l === 'string' && LABEL_RE.test(l))) return undefined;
  const runner = typeof j.runner_name === 'string' && RUNNER_NAME_RE.test(j.runner_name) ? j.runner_name : undefined;
  const name = typeof j.name === 'string' ? j.name.replace(/[^\x20-\x7e]/g, ' ').slice(0, 200) : '';
  return { id: jobId, runId, repo, labels: labels as string[], status, name, runnerName: runner };
}

/** A `workflow_job` webhook delivery: its action (queued, in_progress, completed, waiting) and the job. */
export function workflowJobEvent(payload: unknown): { action: string; job: WorkflowJob } | undefined {
  const p = obj(payload);
  const action = p?.action;
  if (typeof action !== 'string' || !STATUS_RE.test(action)) return undefined;
  const job = parseWorkflowJob(p?.workflow_job, p?.repository);
  return job ? { action, job } : undefined;
}
