import swagger from '@fastify/swagger';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Runtime } from '../runtime.js';
import { VERSION } from '../version.js';
import { installAuth } from './auth.js';
import { daytonaNameLookup } from './compat/daytona/lookup.js';
import { installHostProxy } from './host-proxy.js';
import { PaddockError } from '../errors.js';
import { installErrorHandling, sendProblem } from './problem.js';
import { installRequestLane, RequestLane } from './request-lane.js';
import { installResponseGuard } from './response-guard.js';
import { eventRoutes } from './routes/events.js';
import { githubWebhookRoutes } from './routes/github-webhook.js';
import { jobRoutes } from './routes/jobs.js';
import { previewHostRewrite } from './routes/sandboxes/preview-host.js';
import { sandboxRoutes } from './routes/sandboxes/index.js';
import { hostRoutes } from './routes/hosts.js';
import { actionsRoutes } from './routes/actions.js';
import { storageRoutes } from './routes/storage.js';
import { artifactRoutes } from './routes/artifacts.js';
import { runnerCompatRoutes } from './compat/runner/routes.js';
import { judge0CompatRoutes } from './compat/judge0/routes.js';
import { pistonCompatRoutes } from './compat/piston/routes.js';
import { daytonaCompatRoutes } from './compat/daytona/routes.js';
import { e2bHostRewrite } from './compat/e2b/host.js';
import { e2bCompatRoutes } from './compat/e2b/routes.js';
import { judgeRoutes } from './routes/judge.js';
import { agentOAuthRoutes } from './routes/agent-oauth.js';
import { systemRoutes } from './routes/system.js';

/** The HTTP API over a started runtime. Request and response shapes are zod schemas, which also make /openapi.json. */
export async function buildServer(rt: Runtime): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    loggerInstance: rt.log.child({ component: 'http' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: rt.config.body_limit_bytes,
    // Let a waiting request or an SSE stream stay open; the wait itself is capped.
    requestTimeout: 0,
    // What the router refuses before any hook (a bad URL, a path parameter past its length) is a problem too.
    frameworkErrors: (err, _request, reply) =>
      sendProblem(reply, new PaddockError('validation_failed', err.message, undefined, err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? { status: 414 } : undefined)),
    // `<port>-<id>.<sandboxes.preview_domain>` goes to that sandbox port's preview route, whatever its path.
    // `api.<e2b.domain>` and `49983-<id>.<e2b.domain>` are the E2B API's host-name form.
    rewriteUrl: e2bHostRewrite(rt.config.e2b.domain, rt.config.e2b.prefix, previewHostRewrite(rt.config.sandboxes.preview_domain)),
  });
  // The API takes JSON only; Fastify's built-in text/plain parser would turn a 415 into a confusing 400.
  app.removeContentTypeParser('text/plain');
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installErrorHandling(app);
  installResponseGuard(app, rt.config.http.stall_ms);
  // Before auth: checking a token is part of the work that waits its turn.
  const lane = new RequestLane(rt.config.http.max_pending);
  installRequestLane(app, lane);
  installAuth(app, rt.store, rt.config.agents.runner_secret);
  // After auth: only an authenticated request is forwarded to the host holding its sandbox.
  installHostProxy(app, {
    owners: rt.sandboxOwners,
    hostId: rt.config.host_id,
    log: rt.log.child({ component: 'fleet' }),
    byName: rt.sandboxOwners.fleet ? daytonaNameLookup(rt) : undefined,
  });
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Paddock',
        version: VERSION,
        description: 'Runs untrusted work in sandboxes. Errors are application/problem+json with a stable `code`.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });
  systemRoutes(app, rt, lane);
  jobRoutes(app, rt);
  eventRoutes(app, rt);
  storageRoutes(app, rt);
  hostRoutes(app, rt);
  actionsRoutes(app, rt);
  sandboxRoutes(app, rt);
  artifactRoutes(app, rt);
  judgeRoutes(app, rt);
  runnerCompatRoutes(app, rt);
  judge0CompatRoutes(app, rt);
  await pistonCompatRoutes(app, rt);
  await daytonaCompatRoutes(app, rt);
  await e2bCompatRoutes(app, rt);
  agentOAuthRoutes(app, rt);
  githubWebhookRoutes(app, rt, lane);
  await app.ready();
  return app;
}
