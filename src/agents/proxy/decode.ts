import type { Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';

/**
 * The proxy asks upstream for `identity`, since it reads every answer for usage. An upstream that
 * compresses anyway is decoded here (streamed, never held whole), so usage is counted on what the
 * model said and the sandbox gets bytes that match their headers. `undefined`: nothing to decode;
 * `null`: an encoding the proxy cannot read.
 */
export function decoderFor(encoding: string | string[] | undefined): Transform | undefined | null {
  const value = (Array.isArray(encoding) ? encoding.join(',') : (encoding ?? '')).trim().toLowerCase();
  if (value === '' || value === 'identity') return undefined;
  if (value === 'gzip' || value === 'x-gzip') return createGunzip();
  if (value === 'deflate') return createInflate();
  if (value === 'br') return createBrotliDecompress();
  return null;
}
