import type { FastifyError } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { PaddockError, toPaddockError } from '../../errors.js';

const FASTIFY: Record<string, (e: FastifyError) => PaddockError> = {
  FST_ERR_CTP_INVALID_JSON_BODY: (e) => new PaddockError('validation_failed', `the body is not valid JSON: ${e.message}`),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => new PaddockError('validation_failed', 'the body is empty; it must be a JSON object'),
  FST_ERR_CTP_BODY_TOO_LARGE: (e) => new PaddockError('payload_too_large', e.message),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: (e) => new PaddockError('unsupported_media_type', e.message),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: (e) => new PaddockError('validation_failed', e.message),
};

/**
 * Whatever a compat route threw, as a PaddockError its own error shape can render: Paddock's own,
 * a schema failure or a body Fastify refused (a 4xx naming why), anything else `internal` with no
 * detail (`unexpected` is set, for the log). Shared by the peers that do not answer problem+json.
 */
export function compatError(err: FastifyError): { error: PaddockError; unexpected?: PaddockError } {
  if (err instanceof PaddockError) return { error: err };
  if (hasZodFastifySchemaValidationErrors(err)) {
    const first = err.validation[0];
    const where = [err.validationContext ?? 'body', ...(first?.instancePath.split('/').filter(Boolean) ?? [])].join('.');
    return { error: new PaddockError('validation_failed', `${where}: ${first?.message ?? 'invalid'}`) };
  }
  const mapped = err.code ? FASTIFY[err.code] : undefined;
  if (mapped) return { error: mapped(err) };
  if (err instanceof SyntaxError || (err.statusCode && err.statusCode < 500)) return { error: new PaddockError('validation_failed', err.message) };
  return { error: new PaddockError('internal', 'internal error; see the runner log'), unexpected: toPaddockError(err) };
}
