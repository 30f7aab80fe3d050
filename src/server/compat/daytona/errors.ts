import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { ERROR_CODES, PaddockError, toPaddockError } from '../../../errors.js';
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

const FASTIFY: Record<string, (e: FastifyError) => PaddockError> = {
  FST_ERR_CTP_INVALID_JSON_BODY: (e) => new PaddockError('validation_failed', `the body is not valid JSON: ${e.message}`),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => new PaddockError('validation_failed', 'the body is empty; it must be a JSON object'),
  FST_ERR_CTP_BODY_TOO_LARGE: (e) => new PaddockError('payload_too_large', e.message),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: (e) => new PaddockError('unsupported_media_type', e.message),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: (e) => new PaddockError('validation_failed', e.message),
};

/** Every error under one Daytona prefix in Daytona's JSON shape (not problem+json). A 500 says nothing internal. */
export function installDaytonaErrors(app: FastifyInstance, source: DaytonaSource): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof PaddockError) {
      if (err.code === 'internal') request.log.error({ err }, 'daytona: internal error');
      return sendDaytona(request, reply, err, source);
    }
    if (hasZodFastifySchemaValidationErrors(err)) {
      const first = err.validation[0];
      const where = [err.validationContext ?? 'body', ...(first?.instancePath.split('/').filter(Boolean) ?? [])].join('.');
      return sendDaytona(request, reply, new PaddockError('validation_failed', `${where}: ${first?.message ?? 'invalid'}`), source);
    }
    const mapped = err.code ? FASTIFY[err.code] : undefined;
    if (mapped) return sendDaytona(request, reply, mapped(err), source);
    if (err instanceof SyntaxError || (err.statusCode && err.statusCode < 500)) {
      return sendDaytona(request, reply, new PaddockError('validation_failed', err.message), source);
    }
    request.log.error({ err: toPaddockError(err) }, 'daytona: unhandled error');
    return sendDaytona(request, reply, new PaddockError('internal', 'internal error; see the runner log'), source);
  });
  app.setNotFoundHandler((request, reply) =>
    sendDaytona(request, reply, new PaddockError('not_found', `no route ${request.method} ${request.url.split('?')[0]}`), source),
  );
}
