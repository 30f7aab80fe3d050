import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Runtime } from '../../runtime.js';
import { VERSION } from '../../version.js';

const Health = z.object({
  status: z.enum(['ok', 'degraded']),
  version: z.string(),
  uptime: z.number().describe('seconds since start'),
  currentJobs: z.number().int(),
  queueLength: z.number().int(),
  lastActivity: z.string().nullable(),
  min_isolation: z
    .record(z.string(), z.string())
    .describe('per network mode, the weakest isolation `driver: auto` may pick (sandbox.min_isolation)'),
  drivers: z.array(
    z.object({
      name: z.string(),
      available: z.boolean(),
      reason: z.string().optional(),
      capabilities: z.record(z.string(), z.unknown()),
    }),
  ),
});

/** Unauthenticated: health (for load balancers), metrics (for Prometheus) and the OpenAPI document. */
export function systemRoutes(app: FastifyInstance, rt: Runtime): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.get(
    '/health',
    { schema: { summary: 'Liveness, load and drivers', tags: ['system'], security: [], response: { 200: Health } } },
    async () => {
      const drivers = rt.drivers.list();
      return {
        status: drivers.some((d) => d.available) ? ('ok' as const) : ('degraded' as const),
        version: VERSION,
        uptime: Math.round((Date.now() - rt.startedAt) / 1000),
        currentJobs: rt.scheduler.runningCount,
        queueLength: await rt.store.countJobsInState('queued'),
        lastActivity: rt.scheduler.lastActivity,
        min_isolation: rt.drivers.floors(),
        drivers: drivers.map((d) => ({
          name: d.name,
          available: d.available,
          ...(d.reason ? { reason: d.reason } : {}),
          capabilities: { ...d.capabilities },
        })),
      };
    },
  );

  const metricsSchema = { summary: 'Prometheus metrics', tags: ['system'], security: [] };
  app.get('/metrics', { schema: metricsSchema }, async (_request, reply) => {
    rt.metrics.jobsQueued.set(await rt.store.countJobsInState('queued'));
    reply.type(rt.metrics.registry.contentType).serializer(String);
    return rt.metrics.registry.metrics();
  });

  app.get('/openapi.json', { schema: { hide: true } }, async (_request, reply) =>
    reply.serializer(JSON.stringify).send(app.swagger()),
  );
}
