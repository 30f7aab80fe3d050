import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { ERROR_CODES, PaddockError } from '../../../errors.js';

/** Judge0's 422: `{"language_id": ["can't be blank"], …}`, as Rails renders a model's errors. */
export class FieldErrors extends Error {
  constructor(readonly fields: Record<string, string[]>) {
    super(Object.entries(fields).map(([k, v]) => `${k} ${v.join(', ')}`).join('; '));
    this.name = 'FieldErrors';
  }
}

/** An answer in Judge0's own shape: `{"error": "…"}` with a status, or an empty body (401, 403). */
export class Judge0Error extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown> | null,
    readonly retryAfterS?: number,
  ) {
    super(typeof body?.error === 'string' ? body.error : `HTTP ${status}`);
    this.name = 'Judge0Error';
  }
}

export const badRequest = (error: string) => new Judge0Error(400, { error });
/** Rails' answer to `find_by!` that found nothing. */
export const notFound = () => new Judge0Error(404, { status: 404, error: 'Not Found' });

/** Paddock's own refusals in Judge0's shapes: the status stays, the body becomes `{"error": …}`. */
export function fromPaddock(err: PaddockError): Judge0Error {
  if (err.code === 'unauthorized') return new Judge0Error(401, null);
  if (err.code === 'forbidden') return new Judge0Error(403, null);
  if (err.code === 'not_found') return notFound();
  if (err.code === 'queue_full') return new Judge0Error(503, { error: 'queue is full' }, err.retryAfterS);
  const error = err.code === 'internal' ? 'internal error; see the runner log' : err.message;
  return new Judge0Error(err.status, { error }, err.retryAfterS);
}

function send(reply: FastifyReply, e: Judge0Error): FastifyReply {
  if (e.retryAfterS !== undefined) reply.header('retry-after', String(Math.max(1, Math.ceil(e.retryAfterS))));
  reply.code(e.status);
  if (e.body === null) return reply.send();
  return reply.type('application/json; charset=utf-8').serializer(JSON.stringify).send(e.body);
}

/** Everything the Judge0 routes (and the hooks before them: auth, the request lane) throw, in Judge0's shapes. */
export function installJudge0Errors(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof Judge0Error) return send(reply, err);
    if (err instanceof FieldErrors) return send(reply, new Judge0Error(422, err.fields));
    if (err instanceof PaddockError) return send(reply, fromPaddock(err));
    // Fastify's own: a body that is not JSON, too large, of another content type.
    if (err.statusCode && err.statusCode < 500) return send(reply, new Judge0Error(err.statusCode, { error: err.message }));
    request.log.error({ err }, 'judge0: unhandled error');
    return send(reply, new Judge0Error(500, { error: ERROR_CODES.internal.title.toLowerCase() }));
  });
  app.setNotFoundHandler((_request, reply) => send(reply, notFound()));
}
