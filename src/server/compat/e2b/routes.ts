import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PaddockError } from '../../../errors.js';
import type { Runtime } from '../../../runtime.js';
import { AgentError } from '../../../sandbox/agent/errors.js';
import { compatError } from '../fastify-errors.js';
import { EnvdTokens } from './auth.js';
import { CONNECT_STATUS, connectCode, MAX_REQUEST_MESSAGE } from './connect.js';
import { e2bControlRoutes } from './control.js';
import { e2bFileRoutes } from './files.js';
import { e2bProcessRoutes } from './process.js';

/** Connect RPCs (`/process.Process/…`, `/filesystem.Filesystem/…`) answer errors in Connect's shape. */
const isRpc = (url: string) => /\/(?:process\.Process|filesystem\.Filesystem)\//.test(url);

/** The status E2B's API gives: Paddock's own but for refusals of values (400, as E2B's API does) and a missing image (404). */
function statusOf(err: PaddockError): number {
  if (err.code === 'image_not_found') return 404;
  if (err.status === 422 && err.code !== 'driver_unavailable') return 400;
  return err.status;
}

function send(request: FastifyRequest, reply: FastifyReply, err: PaddockError): FastifyReply {
  if (err.retryAfterS !== undefined) reply.header('retry-after', String(Math.max(1, Math.ceil(err.retryAfterS))));
  const missingFile = err instanceof AgentError && err.agentCode === 'not_found';
  if (isRpc(request.url)) {
    const code = typeof err.details?.connect_code === 'string' ? err.details.connect_code : missingFile ? 'not_found' : connectCode(err);
    return reply.code(code === 'already_exists' ? 409 : (CONNECT_STATUS[code] ?? 500)).type('application/json').serializer(JSON.stringify).send({ code, message: err.message });
  }
  const status = missingFile ? 404 : statusOf(err);
  return reply.code(status).type('application/json').serializer(JSON.stringify).send({ code: status, message: err.message });
}

/**
 * An E2B compatible API (for the `e2b` SDK) under `e2b.prefix`: E2B_API_URL and E2B_SANDBOX_URL
 * both point there — the control API (`/v2/sandboxes`, `/sandboxes/:id…`, authenticated by the
 * SDK's `X-API-KEY`, a Paddock token) and each sandbox's envd (`/process.Process/*`,
 * `/filesystem.Filesystem/*`, `/files`, `/health`, by `E2b-Sandbox-Id` + `X-Access-Token`).
 * Their paths do not collide. Errors are E2B's JSON (`{code, message}`) or Connect's.
 */
export async function e2bCompatRoutes(app: FastifyInstance, rt: Runtime): Promise<void> {
  const prefix = rt.config.e2b.prefix;
  if (!prefix) return;
  const tokens = new EnvdTokens();
  await app.register(
    async (scope) => {
      scope.setErrorHandler((err: FastifyError, request, reply) => {
        const { error, unexpected } = compatError(err);
        if (unexpected) request.log.error({ err: unexpected }, 'e2b: unhandled error');
        return send(request, reply, error);
      });
      scope.setNotFoundHandler((request, reply) =>
        send(request, reply, new PaddockError('not_found', `no route ${request.method} ${request.url.split('?')[0]}`)),
      );
      // A streaming call's one request message; file uploads as streams (multipart or raw).
      scope.addContentTypeParser('application/connect+json', { parseAs: 'buffer', bodyLimit: MAX_REQUEST_MESSAGE + 5 }, (_r, body, done) => done(null, body));
      scope.addContentTypeParser(['multipart/form-data', 'application/octet-stream'], (_r, payload, done) => done(null, payload));
      e2bControlRoutes(scope, rt, tokens);
      e2bProcessRoutes(scope, rt, tokens);
      e2bFileRoutes(scope, rt, tokens);
    },
    { prefix },
  );
}
