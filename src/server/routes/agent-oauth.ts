import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { OAuthStatusView } from '../../agents/oauth/oauth-status.js';
import type { Runtime } from '../../runtime.js';
import { ProblemView } from './schemas.js';

const description =
  'The runner\'s subscription login (Claude Code\'s `.credentials.json`, put in place by `paddock agent login`): whether one is configured, ' +
  'when its access token expires and whether it can be refreshed. Never a token. The model proxy uses it when no API key is configured.';

/** `GET /v1/agent/oauth`, and `GET /oauth/status` for runner clients that send `X-Runner-Secret`. */
export function agentOAuthRoutes(app: FastifyInstance, rt: Runtime): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const response = { 200: OAuthStatusView, 401: ProblemView, 403: ProblemView };

  r.get(
    '/v1/agent/oauth',
    { config: { scope: 'jobs:read' }, schema: { summary: 'OAuth login status', description, tags: ['agents'], response } },
    async () => rt.oauth.status(),
  );

  r.get(
    '/oauth/status',
    {
      config: { scope: 'jobs:read', runnerSecret: true },
      schema: { summary: 'OAuth login status (runner-compat)', description: `${description} Takes \`X-Runner-Secret\` or a bearer token.`, tags: ['compat'], response },
    },
    async () => rt.oauth.status(),
  );
}
