import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { PaddockError } from '../../errors.js';
import { PublicJobSpec } from '../../jobs/spec.js';
import { isTerminal, JOB_STATES } from '../../jobs/states.js';
import { getOwnJob, ownerFilter } from '../../auth/ownership.js';
import type { Runtime } from '../../runtime.js';
import { JobSummaryView, summaryPage } from '../job-summary.js';
import { fullJobView, JobView } from '../job-view.js';
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
          'Queues a job: `201`. With `?wait=true` the request is held until the job ends (at most `wait_ms`, capped by the runner): ' +
          '`201` with the ended job, or `202` with the job as it is (`queued` or `running`) when the wait ran out first. ' +
          'A retry with the same `Idempotency-Key` returns the same job (`200`). ' +
          'A full queue is `429 queue_full`, a token over its quota `429 quota_exceeded`, both with `Retry-After`.',
        tags: ['jobs'],
        body: PublicJobSpec,
        querystring: z.strictObject({
          wait: z.enum(['true', 'false', '1', '0']).optional(),
          wait_ms: z.coerce.number().int().min(0).optional(),
        }),
        headers: z.object({ 'idempotency-key': z.string().min(1).max(200).optional() }),
        response: {
          200: JobView,
          201: JobView,
          202: JobView,
          409: ProblemView,
          413: ProblemView,
          415: ProblemView,
          429: ProblemView,
          507: ProblemView,
          ...errors,
        },
      },
    },
    async (request, reply) => {
      const key = request.headers['idempotency-key'];
      // Short of disk space: 507 storage_full before the store hits the wall.
      rt.storage.checkSubmit();
      const { row, created } = await rt.scheduler.submit(request.body, {
        tokenId: request.principal?.tokenId ?? null,
        quotas: request.principal?.quotas,
        idempotencyKey: key,
        requestHash: key ? createHash('sha256').update(JSON.stringify(request.body)).digest('hex') : undefined,
      });
      let current = row;
      let waitRanOut = false;
      if (request.query.wait === 'true' || request.query.wait === '1') {
        const waitMs = Math.min(request.query.wait_ms ?? rt.config.wait_max_ms, rt.config.wait_max_ms);
        await rt.scheduler.waitForEnd(row.id, waitMs);
        current = (await rt.store.getJob(row.id)) ?? row;
        waitRanOut = !isTerminal(current.state);
      }
      if (!created) reply.header('idempotent-replayed', 'true');
      reply.header('location', `/v1/jobs/${row.id}`);
      // 202: accepted, but the wait ended before the job did; the body says where it is.
      return reply.code(!created ? 200 : waitRanOut ? 202 : 201).send(await fullJobView(rt.store, current));
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
      // A non-admin token lists only its own jobs.
      const page = await rt.store.listJobs({ state, kind, limit, before: cursor, tokenId: ownerFilter(request.principal) });
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
      return fullJobView(rt.store, await getOwnJob(rt.store, request.principal, request.params.id));
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
    async (request) => {
      // Someone else's job is a 404, as if it did not exist.
      await getOwnJob(rt.store, request.principal, request.params.id);
      return fullJobView(rt.store, await rt.scheduler.cancel(request.params.id));
    },
  );
}
