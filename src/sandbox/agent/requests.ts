import { PaddockError } from '../../errors.js';
import { MAX_PATH_BYTES } from './protocol.js';

/*
 * What the runner sends is checked before it leaves: the agent should never be the first to see a
 * request outside the protocol (its answer would be `invalid`, but it must not have to guess).
 */

export function checkPath(what: string, path: string): string {
  if (typeof path !== 'string' || !path.startsWith('/')) throw invalid(`${what} must be an absolute path`);
  if (path.includes('\0')) throw invalid(`${what} contains NUL`);
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) throw invalid(`${what} is above ${MAX_PATH_BYTES} bytes`);
  return path;
}

export function checkInt(what: string, n: number, min: number, max: number): number {
  if (!Number.isInteger(n) || n < min || n > max) throw invalid(`${what} must be an integer in ${min}…${max}`);
  return n;
}

export function checkString(what: string, s: string): string {
  if (typeof s !== 'string' || s.includes('\0')) throw invalid(`${what} must be a string without NUL`);
  return s;
}

export function invalid(message: string): PaddockError {
  return new PaddockError('validation_failed', message);
}
