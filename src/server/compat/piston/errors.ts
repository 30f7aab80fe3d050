import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { PaddockError, toPaddockError } from '../../../errors.js';

/** Piston answers 415 with this to anything but JSON (api/src/api/v2.js). */
export const NOT_JSON = 'requests must be of type application/json';

/**
 * Paddock's status for a refusal, in Piston's terms: Piston refuses every bad request with 400, so
 * Paddock's 422 becomes 400; the rest keep theirs (401, 403, 404, 413, 415, 429 with Retry-After, 503, 5xx).
 */
const statusOf = (err: PaddockError): number => (err.status === 422 ? 400 : err.status);

export function sendPiston(reply: FastifyReply, err: PaddockError): FastifyReply {
  if (err.retryAfterS !== undefined) reply.header('retry-after', String(Math.max(1, Math.ceil(err.retryAfterS))));
  return reply.code(statusOf(err)).type('application/json').serializer(JSON.stringify).send({ message: err.message });
}

// Fastify's own refusals of a body, in Piston's words where it has them.
const FASTIFY: Record<string, (err: FastifyError) => PaddockError> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: () => new PaddockError('unsupported_media_type', NOT_JSON),
  FST_ERR_CTP_INVALID_JSON_BODY: (e) => new PaddockError('validation_failed', `the body is not valid JSON: ${e.message}`),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => new PaddockError('validation_failed', 'the body is empty; it must be a JSON object'),
  FST_ERR_CTP_BODY_TOO_LARGE: (e) => new PaddockError('payload_too_large', e.message),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: (e) => new PaddockError('validation_failed', e.message),
};

/** Every error under the Piston prefix as `{"message": …}`: Piston's shape, not problem+json. A 500 says nothing internal. */
export function installPistonErrors(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof PaddockError) {
      if (err.status >= 500 && err.code === 'internal') request.log.error({ err }, 'piston: internal error');
      return sendPiston(reply, err);
    }
    const mapped = err.code ? FASTIFY[err.code] : undefined;
    if (mapped) return sendPiston(reply, mapped(err));
    if (err instanceof SyntaxError || (err.statusCode && err.statusCode < 500)) return sendPiston(reply, new PaddockError('validation_failed', err.message));
    request.log.error({ err: toPaddockError(err) }, 'piston: unhandled error');
    return sendPiston(reply, new PaddockError('internal', 'internal error; see the runner log'));
  });
  app.setNotFoundHandler((request, reply) =>
    sendPiston(reply, new PaddockError('not_found', `no route ${request.method} ${request.url.split('?')[0]}`)),
  );
}
