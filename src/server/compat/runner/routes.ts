import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AgentResult } from '../../../agents/result.js';
import { AgentJobSpec } from '../../../agents/spec.js';
import { seesAllJobs } from '../../../auth/ownership.js';
import { PaddockError } from '../../../errors.js';
import type { Runtime } from '../../../runtime.js';
import type { JobRow } from '../../../store/store.js';
import { VERSION } from '../../../version.js';
import { ProblemView } from '../../routes/schemas.js';

const Execute = z.strictObject({
  prompt: z.string().min(1).max(200_000),
  repo_url: z.string().min(1).max(2048).optional(),
  timeout_ms: z.number().int().positive().optional(),
});

const ExecuteResult = z.object({
  success: z.boolean(),
  job_id: z.string(),
  state: z.string(),
  reason: z.string().nullable(),
  output: z.string().nullable().describe('the agent\'s final text'),
  error: z.string().nullable(),
  cost_usd: z.number().nullable(),
  num_turns: z.number().nullable(),
  duration_ms: z.number().nullable(),
  diff: z.object({ bytes: z.number(), files: z.number(), truncated: z.boolean() }).nullable(),
  artifacts_url: z.string(),
});

const errors = { 400: ProblemView, 401: ProblemView, 403: ProblemView, 404: ProblemView, 422: ProblemView, 429: ProblemView, 503: ProblemView };

/** Where a job may still be after its hard cap: the end's own bookkeeping. */
const WAIT_MARGIN_MS = 60_000;

async function executeResult(rt: Runtime, row: JobRow): Promise<z.infer<typeof ExecuteResult>> {
  // An agent job's result was checked against AgentResult before it was stored; parsed the same way here.
  const parsed = row.result ? AgentResult.safeParse(JSON.parse(row.result)) : null;
  const result = parsed?.success ? parsed.data : null;
  const error = row.error ? (JSON.parse(row.error) as { message?: string }) : null;
  const final = (await rt.artifacts.list(row.id)).some((a) => a.name === 'final.txt')
    ? await readSmall(rt, row.id)
    : null;
  return {
    success: row.state === 'succeeded',
    job_id: row.id,
    state: row.state,
    reason: row.reason ?? null,
    output: final,
    error: error?.message ?? null,
    cost_usd: result?.total_cost_usd ?? null,
    num_turns: result?.num_turns ?? null,
    duration_ms: result?.duration_ms ?? null,
    diff: result?.diff ?? null,
    artifacts_url: `/v1/jobs/${row.id}/artifacts`,
  };
}

async function readSmall(rt: Runtime, jobId: string): Promise<string> {
  const { stream } = await rt.artifacts.open(jobId, 'final.txt');
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

/**
 * Routes existing runner clients speak (an on-prem "claude runner" and hosted AI-runner agents):
 * `POST /execute` runs an agent job and answers its result, `POST /job/cancel` cancels the current
 * one, `GET /` answers health to clients that probe the root. They authenticate with
 * `X-Runner-Secret` (agents.runner_secret, standing for the runner-compat token) or a bearer token.
 */
export function runnerCompatRoutes(app: FastifyInstance, rt: Runtime): void {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get(
    '/',
    {
      schema: {
        summary: 'Root health (runner-compat)',
        description: 'For clients that probe the root for health. A dashboard will answer browsers here later.',
        tags: ['compat'],
        security: [],
        response: { 200: z.object({ status: z.literal('ok'), version: z.string() }) },
      },
    },
    async () => ({ status: 'ok' as const, version: VERSION }),
  );

  r.post(
    '/execute',
    {
      config: { scope: 'jobs:write', runnerSecret: true },
      schema: {
        summary: 'Run an agent job and answer its result (runner-compat)',
        description: 'The request is held until the job ends. The job stays a normal agent job: `GET /v1/jobs/:id` and its artifacts.',
        tags: ['compat'],
        body: Execute,
        response: { 200: ExecuteResult, ...errors },
      },
    },
    async (request) => {
      rt.storage.checkSubmit();
      const spec = AgentJobSpec.parse({
        kind: 'agent',
        prompt: request.body.prompt,
        ...(request.body.repo_url ? { repo_url: request.body.repo_url } : {}),
        ...(request.body.timeout_ms ? { limits: { timeout_ms: request.body.timeout_ms } } : {}),
      });
      const { row } = await rt.scheduler.submit(spec, { tokenId: request.principal?.tokenId ?? null, quotas: request.principal?.quotas });
      const stored = JSON.parse(row.spec) as { limits: { timeout_ms: number; idle_timeout_ms?: number } };
      const cap = stored.limits.timeout_ms + (stored.limits.idle_timeout_ms ?? rt.config.agents.idle_timeout_ms);
      if (!(await rt.scheduler.waitForEnd(row.id, cap + WAIT_MARGIN_MS))) {
        throw new PaddockError('shutting_down', `job ${row.id} did not end before the runner stopped or the wait ran out`, { job_id: row.id });
      }
      return executeResult(rt, (await rt.store.getJob(row.id))!);
    },
  );

  r.post(
    '/job/cancel',
    {
      config: { scope: 'jobs:write', runnerSecret: true },
      schema: {
        summary: 'Cancel the current job (runner-compat)',
        description: "Cancels the caller's oldest running job (an admin's: any), or the one named by `job_id`.",
        tags: ['compat'],
        body: z.strictObject({ job_id: z.string().min(1).max(100).optional() }).optional(),
        response: { 200: z.object({ cancelled: z.literal(true), job_id: z.string() }), ...errors, 409: ProblemView },
      },
    },
    async (request) => {
      const p = request.principal;
      const owner = seesAllJobs(p) ? undefined : p?.tokenId;
      let id = request.body?.job_id;
      if (!id) {
        const running = await rt.store.listJobsInState('running');
        id = running.find((j) => owner === undefined || j.token_id === owner)?.id;
      }
      const row = id ? await rt.store.getJob(id) : undefined;
      if (!row || (owner !== undefined && row.token_id !== owner)) throw new PaddockError('not_found', id ? `no job ${id}` : 'no job is running');
      await rt.scheduler.cancel(row.id);
      return { cancelled: true as const, job_id: row.id };
    },
  );
}
