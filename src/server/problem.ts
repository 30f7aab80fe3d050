import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { ERROR_CODES, type ErrorCode, PaddockError } from '../errors.js';

export const PROBLEM_TYPE = 'application/problem+json';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  [extra: string]: unknown;
}

export function problemOf(err: PaddockError): Problem {
  const { title } = ERROR_CODES[err.code];
  const status = err.status;
  return { type: `urn:paddock:error:${err.code}`, title, status, detail: err.message, code: err.code, ...err.details };
}

export function sendProblem(reply: FastifyReply, err: PaddockError): FastifyReply {
  const problem = problemOf(err);
  if (err.retryAfterS !== undefined) reply.header('retry-after', String(Math.max(1, Math.ceil(err.retryAfterS))));
  return reply.code(problem.status).type(PROBLEM_TYPE).serializer(JSON.stringify).send(problem);
}

// Fastify's own errors (body parsing, routing) mapped onto our stable codes.
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'validation_failed',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'validation_failed',
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'validation_failed',
};

/** Turns anything a route throws into problem+json; a 500 never leaks internals. */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof PaddockError) return sendProblem(reply, err);
    if (hasZodFastifySchemaValidationErrors(err)) {
      const issues = err.validation.map((v) => ({
        path: [err.validationContext ?? 'body', ...v.instancePath.split('/').filter(Boolean)].join('.'),
        message: v.message ?? 'invalid',
      }));
      const first = issues[0]!;
      return sendProblem(reply, new PaddockError('validation_failed', `${first.path}: ${first.message}`, { errors: issues }));
    }
    const mapped = err.code ? FASTIFY_CODES[err.code] : undefined;
    if (mapped) return sendProblem(reply, new PaddockError(mapped, err.message));
    if (err instanceof SyntaxError || (err.statusCode && err.statusCode < 500)) {
      return sendProblem(reply, new PaddockError(err.statusCode === 404 ? 'not_found' : 'validation_failed', err.message));
    }
    request.log.error({ err }, 'unhandled error');
    return sendProblem(reply, new PaddockError('internal', 'internal error; see the runner log'));
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, new PaddockError('not_found', `no route ${request.method} ${request.url.split('?')[0]}`)),
  );
}
