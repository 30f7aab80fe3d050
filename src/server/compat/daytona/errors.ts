import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CODES, PaddockError } from '../../../errors.js';
import { compatError } from '../fastify-errors.js';
import { AgentError } from '../../../sandbox/agent/errors.js';

/**
 * Who answered, as Daytona stamps it: the SDK (errors/DaytonaError.js) picks its error class by
 * `source` + `code` first (DAYTONA_DAEMON|FILE_NOT_FOUND → DaytonaFileNotFoundError), then by status.
 */
export type DaytonaSource = 'DAYTONA_API' | 'DAYTONA_DAEMON';

/**
 * Paddock's status in Daytona's terms. Daytona's API refuses a bad request with 400, so Paddock's
 * 422s that mean "your values are out of bounds" become 400; an image that is not there is a 404
 * (as an unknown snapshot is); a driver that cannot do something stays 422 (see unsupported.ts).
 */
function statusOf(err: PaddockError): number {
  if (err.code === 'image_not_found') return 404;
  if (err.status === 422 && err.code !== 'driver_unavailable') return 400;
  return err.status;
}

/** The daemon's codes the SDK knows (DaytonaError.js CODE_TO_ERROR_CLASS); the rest are Paddock's own, upper-cased. */
function codeOf(err: PaddockError, source: DaytonaSource): string {
  if (typeof err.details?.daytona_code === 'string') return err.details.daytona_code;
  if (source === 'DAYTONA_DAEMON' && err instanceof AgentError) {
    if (err.agentCode === 'not_found') return 'FILE_NOT_FOUND';
    if (err.agentCode === 'permission') return 'FILE_ACCESS_DENIED';
  }
  return err.code.toUpperCase();
}

/** The fields the SDK reads off an error (also a failed part of a bulk download, FileTransfer.js). */
export function errorBody(err: PaddockError, source: DaytonaSource) {
  return { statusCode: statusOf(err), message: err.message, code: codeOf(err, source), source };
}

export function sendDaytona(request: FastifyRequest, reply: FastifyReply, err: PaddockError, source: DaytonaSource): FastifyReply {
  const status = statusOf(err);
  if (err.retryAfterS !== undefined) reply.header('retry-after', String(Math.max(1, Math.ceil(err.retryAfterS))));
  return reply
    .code(status)
    .type('application/json')
    .serializer(JSON.stringify)
    .send({
      ...errorBody(err, source),
      error: ERROR_CODES[err.code].title,
      timestamp: new Date().toISOString(),
      path: request.url.split('?')[0],
      method: request.method,
    });
}

/** Every error under one Daytona prefix in Daytona's JSON shape (not problem+json). A 500 says nothing internal. */
export function installDaytonaErrors(app: FastifyInstance, source: DaytonaSource): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const { error, unexpected } = compatError(err);
    if (unexpected) request.log.error({ err: unexpected }, 'daytona: unhandled error');
    else if (error.code === 'internal') request.log.error({ err: error }, 'daytona: internal error');
    return sendDaytona(request, reply, error, source);
  });
  app.setNotFoundHandler((request, reply) =>
    sendDaytona(request, reply, new PaddockError('not_found', `no route ${request.method} ${request.url.split('?')[0]}`), source),
  );
}
