import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type Principal, requireScope, type Scope, verifyToken } from '../auth/tokens.js';
import type { Store } from '../store/store.js';
import { runnerSecretPrincipal } from './compat/runner/secret.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | undefined;
  }
  interface FastifyContextConfig {
    /** Scope a route requires; routes without one (health, metrics, openapi) are public. */
    scope?: Scope;
    /** Previews: without an Authorization header the route's own hook checks a preview token instead. */
    preview?: boolean;
    /** Runner-compat routes: without an Authorization header, `X-Runner-Secret` (agents.runner_secret) is taken instead. */
    runnerSecret?: boolean;
    /** Judge0-compat routes: without an Authorization header, `X-Auth-Token` (Judge0's header) is taken as the bearer token. */
    authToken?: boolean;
  }
}

/** Bearer-token auth for every route that declares a scope. */
export function installAuth(app: FastifyInstance, store: Store, runnerSecret = ''): void {
  app.decorateRequest('principal', undefined);
  app.addHook('onRequest', async (request: FastifyRequest) => {
    const scope = request.routeOptions.config.scope;
    if (!scope) return;
    const header = request.headers.authorization;
    if (header === undefined && request.routeOptions.config.preview) return;
    const secret = request.headers['x-runner-secret'];
    if (header === undefined && request.routeOptions.config.runnerSecret && typeof secret === 'string') {
      const principal = await runnerSecretPrincipal(store, runnerSecret, secret);
      requireScope(principal, scope);
      request.principal = principal;
      return;
    }
    const authToken = request.headers['x-auth-token'];
    const token = header?.startsWith('Bearer ')
      ? header.slice(7).trim()
      : header === undefined && request.routeOptions.config.authToken && typeof authToken === 'string'
        ? authToken.trim()
        : undefined;
    const principal = await verifyToken(store, token);
    requireScope(principal, scope);
    request.principal = principal;
  });
}
