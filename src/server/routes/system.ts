import type { FastifyContextConfig, FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Runtime } from '../../runtime.js';
import { VERSION } from '../../version.js';
import type { RequestLane } from '../request-lane.js';
import { oauthProblem, OAuthStatusView } from '../../agents/oauth/oauth-status.js';

const Health = z.object({
  status: z.enum(['ok', 'degraded']),
  problems: z.array(z.string()).describe('why the status is degraded (e.g. `storage_full: …`); empty when ok'),
  version: z.string(),
  uptime: z.number().describe('seconds since start'),
  currentJobs: z.number().int(),
  currentJob: z.string().nullable().describe('id of the oldest running job, or null when none runs'),
  queueLength: z.number().int(),
  waitingRequests: z.number().int().describe('API requests waiting for their turn (a burst being taken in)'),
  liveSandboxes: z.number().int().describe('persistent sandboxes this runner holds (sandboxes.max_live caps them)'),
  lastActivity: z.string().nullable(),
  min_isolation: z
    .record(z.string(), z.string())
    .describe('per network mode, the weakest isolation `driver: auto` may pick (sandbox.min_isolation)'),
  oauth: OAuthStatusView.describe('the subscription login agent jobs use without an API key (GET /v1/agent/oauth); under 2 hours left makes `degraded`'),
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
export function systemRoutes(app: FastifyInstance, rt: Runtime, lane: RequestLane): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.get(
    '/health',
    { schema: { summary: 'Liveness, load and drivers', tags: ['system'], security: [], response: { 200: Health } } },
    async () => {
      const drivers = rt.drivers.list();
      const oauth = rt.oauth.status();
      // An expiring login matters only where it is the credential the model proxy uses.
      const usesOAuth = rt.config.agents.model_api.api_key === '';
      const problems = [
        rt.storage.problem(),
        rt.hosts.problem(),
        drivers.some((d) => d.available) ? undefined : 'no sandbox driver is available',
        usesOAuth ? oauthProblem(oauth) : undefined,
        ...rt.judge.problems(),
      ].filter((p): p is string => p !== undefined);
      return {
        status: problems.length === 0 ? ('ok' as const) : ('degraded' as const),
        problems,
        version: VERSION,
        uptime: Math.round((Date.now() - rt.startedAt) / 1000),
        currentJobs: rt.scheduler.runningCount,
        currentJob: rt.scheduler.currentJobId,
        // Admission's in-memory count: no query, so /health stays fast under a burst.
        queueLength: rt.admission.queued,
        waitingRequests: lane.waiting,
        liveSandboxes: rt.sandboxes.liveCount,
        lastActivity: rt.scheduler.lastActivity,
        min_isolation: rt.drivers.floors(),
        oauth,
        drivers: drivers.map((d) => ({
          name: d.name,
          available: d.available,
          ...(d.reason ? { reason: d.reason } : {}),
          capabilities: { ...d.capabilities },
        })),
      };
    },
  );

  // Metrics name drivers, load and token activity: public only to the host itself.
  const metricsPublic = isLoopback(rt.config.host);
  const metricsSchema = {
    summary: 'Prometheus metrics',
    description: 'Public when the runner listens on loopback only; otherwise needs a token with scope metrics:read.',
    tags: ['system'],
    ...(metricsPublic ? { security: [] } : {}),
  };
  const metricsConfig: FastifyContextConfig = metricsPublic ? {} : { scope: 'metrics:read' };
  app.get('/metrics', { schema: metricsSchema, config: metricsConfig }, async (_request, reply) => {
    rt.metrics.jobsQueued.set(rt.admission.queued);
    reply.type(rt.metrics.registry.contentType).serializer(String);
    return rt.metrics.registry.metrics();
  });

  app.get('/openapi.json', { schema: { hide: true } }, async (_request, reply) =>
    reply.serializer(JSON.stringify).send(app.swagger()),
  );
}

/** True for addresses only this host can reach: 127.0.0.0/8, ::1, localhost. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
