import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { PaddockError } from '../../errors.js';
import { JobSpec } from '../../jobs/spec.js';
import { JOB_STATES } from '../../jobs/states.js';
import type { Runtime } from '../../runtime.js';
import { JobSummaryView, summaryPage } from '../job-summary.js';
import { JobView, jobView } from '../job-view.js';
import { ProblemView } from './schemas.js';

const JobId = z.object({ id: z.string().min(1).max(100) });
const errors = { 400: ProblemView, 401: ProblemView, 403: ProblemView, 404: ProblemView, 422: ProblemView };

export function jobRoutes(app: FastifyInstance, rt: Runtime): void {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.post(
    '/v1/jobs',
    {
      config: { scope: 'jobs:write' },
      schema: {
        summary: 'Submit a job',
        description:
          'Queues a job. With `?wait=true` the request is held until the job ends (at most `wait_ms`, capped by the runner). ' +
          'A retry with the same `Idempotency-Key` returns the same job.',
        tags: ['jobs'],
        body: JobSpec,
        querystring: z.strictObject({
          wait: z.enum(['true', 'false', '1', '0']).optional(),
          wait_ms: z.coerce.number().int().min(0).optional(),
        }),
        headers: z.object({ 'idempotency-key': z.string().min(1).max(200).optional() }),
        response: { 200: JobView, 201: JobView, 409: ProblemView, 413: ProblemView, 415: ProblemView, ...errors },
      },
    },
    async (request, reply) => {
      const key = request.headers['idempotency-key'];
      const { row, created } = await rt.scheduler.submit(request.body, {
        tokenId: request.principal?.tokenId ?? null,
        idempotencyKey: key,
        requestHash: key ? createHash('sha256').update(JSON.stringify(request.body)).digest('hex') : undefined,
      });
      let current = row;
      if (request.query.wait === 'true' || request.query.wait === '1') {
        const waitMs = Math.min(request.query.wait_ms ?? rt.config.wait_max_ms, rt.config.wait_max_ms);
        await rt.scheduler.waitForEnd(row.id, waitMs);
        current = (await rt.store.getJob(row.id)) ?? row;
      }
      if (!created) reply.header('idempotent-replayed', 'true');
      reply.header('location', `/v1/jobs/${row.id}`);
      return reply.code(created ? 201 : 200).send(jobView(current));
    },
  );

  r.get(
    '/v1/jobs',
    {
      config: { scope: 'jobs:read' },
      schema: {
        summary: 'List jobs, newest first',
        description:
          'Summaries: a result here has no `stdout`/`stderr` (read one job for its output). ' +
          'A page also ends early, with a `next_cursor`, before it passes 4 MiB.',
        tags: ['jobs'],
        querystring: z.strictObject({
          state: z.enum(JOB_STATES).optional(),
          kind: z.string().min(1).optional(),
          limit: z.coerce.number().int().min(1).max(500).default(50),
          cursor: z.string().min(1).optional(),
        }),
        response: { 200: z.object({ jobs: z.array(JobSummaryView), next_cursor: z.string().nullable() }), ...errors },
      },
    },
    async (request) => {
      const { state, kind, limit, cursor } = request.query;
      const page = await rt.store.listJobs({ state, kind, limit, before: cursor });
      return summaryPage(page.rows, page.next);
    },
  );

  r.get(
    '/v1/jobs/:id',
    {
      config: { scope: 'jobs:read' },
      schema: { summary: 'Get a job', tags: ['jobs'], params: JobId, response: { 200: JobView, ...errors } },
    },
    async (request) => {
      const row = await rt.store.getJob(request.params.id);
      if (!row) throw new PaddockError('not_found', `no job ${request.params.id}`);
      return jobView(row);
    },
  );

  r.post(
    '/v1/jobs/:id/cancel',
    {
      config: { scope: 'jobs:write' },
      schema: {
        summary: 'Cancel a queued or running job',
        description: 'Kills the whole sandbox of a running job. Cancelling a job that already ended is a 409.',
        tags: ['jobs'],
        params: JobId,
        response: { 200: JobView, 409: ProblemView, ...errors },
      },
    },
    async (request) => jobView(await rt.scheduler.cancel(request.params.id)),
  );
}
