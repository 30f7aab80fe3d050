import { PaddockError } from '../errors.js';

/**
 * The ways node-postgres says the database cannot be reached right now (stopped, restarting,
 * partitioned): socket errors, SQLSTATE class 08 (connection exception) and 57P01–57P03 (shutdown,
 * crash shutdown, cannot connect now), and pg's own messages for a connection lost mid-query or a
 * pool that timed out connecting. Retrying later may succeed; nothing about the request was wrong.
 */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
const PG_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error and is not queryable',
  'Connection terminated due to connection timeout',
];

export function isStoreUnavailable(err: unknown): boolean {
  if (err instanceof PaddockError) return err.code === 'store_unavailable';
  if (typeof err !== 'object' || err === null) return false;
  const code = String((err as { code?: unknown }).code ?? '');
  if (SOCKET_CODES.has(code) || code.startsWith('08') || ['57P01', '57P02', '57P03'].includes(code)) return true;
  const message = String((err as { message?: unknown }).message ?? '');
  return PG_MESSAGES.some((m) => message.includes(m));
}

/** Seconds a client is told to wait before retrying while the store is away. */
export const STORE_RETRY_AFTER_S = 5;

export function storeUnavailableError(cause?: unknown): PaddockError {
  return new PaddockError(
    'store_unavailable',
    'the runner cannot reach its job store (PostgreSQL); retry later',
    { retry_after_s: STORE_RETRY_AFTER_S },
    cause === undefined ? undefined : { cause },
  );
}
