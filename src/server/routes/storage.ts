import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { PaddockError } from '../../errors.js';
import type { Runtime } from '../../runtime.js';
import { ProblemView } from './schemas.js';

/** `POST /v1/jobs/prune` (admin): retention on demand, for `paddock jobs prune`. */
export function storageRoutes(app: FastifyInstance, rt: Runtime): void {
  app.withTypeProvider<ZodTypeProvider>().post(
    '/v1/jobs/prune',
    {
      config: { scope: 'admin' },
      schema: {
        summary: 'Delete finished jobs and their events',
        description:
          'Deletes finished jobs (never queued or running ones) that ended more than `older_than_ms` ago and/or all ' +
          'but the newest `keep`; with neither, the configured retention (`retention.max_age`, `retention.max_jobs`).',
        tags: ['jobs'],
        body: z
          .strictObject({
            older_than_ms: z.number().int().min(0).optional(),
            keep: z.number().int().min(0).optional(),
          })
          .default({}),
        response: {
          200: z.object({ deleted_jobs: z.number().int(), deleted_events: z.number().int() }),
          400: ProblemView,
          401: ProblemView,
          403: ProblemView,
        },
      },
    },
    async (request) => {
      const { older_than_ms, keep } = request.body;
      const explicit = older_than_ms !== undefined || keep !== undefined;
      const policy = explicit ? { olderThanMs: older_than_ms, keep } : rt.retention.policy;
      if (policy.olderThanMs === undefined && policy.keep === undefined) {
        throw new PaddockError('validation_failed', 'nothing to prune by: give older_than_ms or keep (retention is off)');
      }
      const r = await rt.retention.prune(policy);
      return { deleted_jobs: r.jobs, deleted_events: r.events };
    },
  );
}
