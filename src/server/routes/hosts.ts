import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Runtime } from '../../runtime.js';
import { ProblemView } from './schemas.js';

export const HostView = z.object({
  id: z.string(),
  health: z.enum(['up', 'draining', 'stopped', 'lost']).describe('`lost`: no heartbeat for `fleet.host_timeout_ms`'),
  address: z.string().nullable().describe('where the other hosts reach its API (`fleet.advertise_url`); null: nowhere'),
  reachable: z.boolean(),
  version: z.string(),
  labels: z.record(z.string(), z.string()),
  drivers: z.array(z.object({ name: z.string(), available: z.boolean(), isolation: z.string() })),
  images: z.array(z.string()),
  caps: z.array(z.string()).describe('the job needs it meets: `driver:<name>`, `run:<network>:<isolation>`, `image:<name>`, `label:<k>=<v>`'),
  capacity: z.number().int().describe('jobs it runs at once'),
  running: z.number().int(),
  started_at: z.string(),
  heartbeat_at: z.string(),
  heartbeat_age_ms: z.number().int(),
});

/** `GET /v1/hosts` (admin): the fleet's hosts as the store's registry has them, with their health. */
export function hostRoutes(app: FastifyInstance, rt: Runtime): void {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/v1/hosts',
    {
      config: { scope: 'admin' },
      schema: {
        summary: 'The hosts sharing this store',
        description: 'Every `paddock serve` that registered in this store, this one included, with its health.',
        tags: ['fleet'],
        response: { 200: z.object({ hosts: z.array(HostView), self: z.string() }), 401: ProblemView, 403: ProblemView },
      },
    },
    async () => ({
      self: rt.config.host_id,
      hosts: (await rt.hosts.list()).map(({ state: _state, ...h }) => h),
    }),
  );
}
