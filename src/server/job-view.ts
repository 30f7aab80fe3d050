import { ActionsResult } from '../actions/spec.js';
import { z } from 'zod';
import { AgentResult } from '../agents/result.js';
import { JudgeResult } from '../judge/result.js';
import type { StoredSpec } from '../jobs/scheduler.js';
import { JOB_STATES } from '../jobs/states.js';
import type { JobRow, Store } from '../store/store.js';

export const JobResultView = z.object({
  exit_code: z.number().int().nullable(),
  signal: z.string().nullable(),
  stdout: z.string(),
  stderr: z.string(),
  stdout_truncated: z.boolean(),
  stderr_truncated: z.boolean(),
  timed_out: z.boolean(),
  wall_ms: z.number(),
  cpu_ms: z.number().nullable(),
  max_rss_kb: z.number().nullable(),
  limit: z.enum(['cpu', 'memory', 'output']).optional(),
});

export const JobView = z.object({
  id: z.string(),
  kind: z.string(),
  state: z.enum(JOB_STATES),
  priority: z.number().int(),
  attempts: z.number().int(),
  driver: z.string().nullable(),
  /** The host (`host_id`) that runs it, or last ran it; absent while it never ran. */
  host: z.string().optional(),
  image: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  limits: z.record(z.string(), z.number()),
  created_at: z.string(),
  started_at: z.string().nullable(),
  finished_at: z.string().nullable(),
  reason: z.string().optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  /** A command job's result, an agent job's (src/agents/result.ts), a judge job's (src/judge/result.ts) or an actions job's (src/actions/spec.ts). */
  result: z.union([JobResultView, AgentResult, JudgeResult, ActionsResult]).optional(),
  callback_url: z.string().optional(),
  /** Only ever `[REDACTED]`: says the job signs its callbacks with a secret of its own. */
  callback_secret: z.literal('[REDACTED]').optional(),
});
export type JobView = z.infer<typeof JobView>;

/**
 * The API's view of a job. The spec's env, stdin and files are left out on
 * purpose: they may carry secrets, and the submitter already has them.
 */
export function jobView(row: JobRow, output?: JobOutput): JobView {
  const spec = JSON.parse(row.spec) as StoredSpec;
  return {
    id: row.id,
    kind: row.kind,
    state: row.state as JobView['state'],
    priority: row.priority,
    attempts: row.attempts,
    driver: row.driver,
    ...(row.host ? { host: row.host } : {}),
    ...('image' in spec && spec.image ? { image: spec.image } : {}),
    ...(row.labels ? { labels: JSON.parse(row.labels) } : {}),
    limits: spec.limits,
    created_at: row.created_at,
    started_at: row.started_at,
    finished_at: row.finished_at,
    ...(row.reason ? { reason: row.reason } : {}),
    ...(row.error ? { error: JSON.parse(row.error) } : {}),
    ...kindResult(row, output),
    ...(spec.callback_url ? { callback_url: spec.callback_url } : {}),
    ...(spec.callback_secret ? { callback_secret: '[REDACTED]' as const } : {}),
  };
}

export interface JobOutput {
  stdout: string;
  stderr: string;
}

/**
 * The view with the job's output: results stored since 0002 hold none, so it
 * is read from the job's output events (up to its `output_bytes` per stream)
 * once the job has a result. Older results still carry theirs.
 */
export async function fullJobView(store: Store, row: JobRow): Promise<JobView> {
  if (!row.result || row.kind !== 'command' || /"stdout":/.test(row.result)) return jobView(row);
  const spec = JSON.parse(row.spec) as StoredSpec;
  const out = await store.readOutput(row.id, spec.limits.output_bytes);
  const utf8 = new TextDecoder('utf-8');
  return jobView(row, { stdout: utf8.decode(out.stdout), stderr: utf8.decode(out.stderr) });
}

/**
 * A stored result that does not fit the view (written before results were
 * checked on write) is left out rather than failing the whole response.
 */
function storedResult(text: string | null, output?: JobOutput): { result?: JobView['result'] } {
  const result = parseStored(text, JobResultView, (value) =>
    // Output goes with the result (from the output events when the result holds none).
    value && typeof value === 'object' && !('stdout' in value) ? { ...value, stdout: '', stderr: '', ...output } : value,
  );
  return result ? { result } : {};
}

function kindResult(row: Pick<JobRow, 'kind' | 'result'>, output?: JobOutput) {
  if (row.kind === 'agent') return agentResult(row.result);
  if (row.kind === 'judge') return judgeResult(row.result);
  if (row.kind === 'actions') return actionsResult(row.result);
  return storedResult(row.result, output);
}

/** An actions job's result: its runner on GitHub and how the runner process ended (the job's steps report to GitHub). */
export function actionsResult(text: string | null): { result?: ActionsResult } {
  const result = parseStored(text, ActionsResult);
  return result ? { result } : {};
}

/** A judge job's result: the verdicts, with what each test printed (bounded by judge.result_output_bytes). */
export function judgeResult(text: string | null): { result?: JudgeResult } {
  const result = parseStored(text, JudgeResult);
  return result ? { result } : {};
}

/** An agent job's result holds no output: its work is in its events and artifacts. */
export function agentResult(text: string | null): { result?: AgentResult } {
  const result = parseStored(text, AgentResult);
  return result ? { result } : {};
}

/** A stored JSON column read through its view schema; undefined when it is missing or does not fit. */
export function parseStored<T>(text: string | null, schema: z.ZodType<T>, prepare = (v: unknown) => v): T | undefined {
  if (!text) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = schema.safeParse(prepare(value));
  return parsed.success ? parsed.data : undefined;
}
