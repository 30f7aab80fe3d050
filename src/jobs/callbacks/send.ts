import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { isPrivateAddress } from './address.js';
import { isRetryableStatus, parseRetryAfter } from './backoff.js';
import { urlHost } from './url.js';

/** Bytes of a receiver's answer read at most (for the log); the rest is never read. */
export const RESPONSE_READ_BYTES = 4096;

export interface SendRequest {
  url: string;
  body: string;
  headers: Record<string, string>;
  timeoutMs: number;
  allowPrivate: boolean;
  /** POST unless told (Judge0's callbacks are a PUT). */
  method?: 'POST' | 'PUT' | undefined;
  /** Aborts the try (the runner is stopping, the delivery was dropped). */
  signal?: AbortSignal | undefined;
}

export type SendOutcome =
  | { kind: 'delivered'; status: number }
  /** Worth another try: a network error, a timeout, 5xx, 429 (with the receiver's Retry-After, if any). */
  | { kind: 'retry'; status?: number; retryAfterMs?: number | undefined; error: string }
  /** Not worth another try: any other 4xx, a redirect (never followed). */
  | { kind: 'failed'; status?: number; error: string; excerpt?: string }
  /** The destination is private and the config does not allow it (SSRF guard). */
  | { kind: 'refused'; error: string };

class RefusedAddress extends Error {}

/**
 * Resolves like the system does, then refuses the connection if any address the name has is private:
 * the socket connects to what this returned, so there is no window for DNS to answer differently
 * between the check and the connect (rebinding). All addresses are checked, not only the one used,
 * since a name mixing public and private records is not one a job should be pointed at.
 */
export function guardedLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, '', 0);
      const refused = allowPrivate ? undefined : addresses.find((a) => isPrivateAddress(a.address));
      if (refused) {
        return callback(new RefusedAddress(`${hostname} resolves to ${refused.address}, a private address`), '', 0);
      }
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      const first = addresses[0];
      if (!first) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '', 0);
      callback(null, first.address, first.family);
    });
  };
}

/** One try: POST (or PUT) the body, wait for the status line, read a few KiB at most, hang up. Never throws. */
export function sendCallback(req: SendRequest): Promise<SendOutcome> {
  return new Promise((resolve) => {
    let url: URL;
    try {
      url = new URL(req.url);
    } catch {
      return resolve({ kind: 'failed', error: 'callback_url does not parse' });
    }
    const host = urlHost(url);
    // An address literal is connected to without a lookup, so it is checked here.
    if (!req.allowPrivate && isIP(host) !== 0 && isPrivateAddress(host)) {
      return resolve({ kind: 'refused', error: `${host} is a private address` });
    }
    let settled = false;
    const finish = (outcome: SendOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', onAbort);
      request.destroy();
      resolve(outcome);
    };
    const client = url.protocol === 'https:' ? https : http;
    const request = client.request(url, {
      method: req.method ?? 'POST',
      headers: { ...req.headers, 'content-length': String(Buffer.byteLength(req.body)), connection: 'close' },
      // No pooling: every try connects anew, through the guarded lookup.
      agent: false,
      lookup: guardedLookup(req.allowPrivate),
    });
    const timer = setTimeout(() => finish({ kind: 'retry', error: `no answer within ${req.timeoutMs} ms` }), req.timeoutMs);
    const onAbort = () => finish({ kind: 'retry', error: 'aborted' });
    req.signal?.addEventListener('abort', onAbort, { once: true });
    if (req.signal?.aborted) return onAbort();
    request.on('error', (err) =>
      finish(err instanceof RefusedAddress ? { kind: 'refused', error: err.message } : { kind: 'retry', error: err.message }),
    );
    request.on('response', (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 300) return finish({ kind: 'delivered', status });
      const retryAfterMs = parseRetryAfter(res.headers['retry-after']);
      if (isRetryableStatus(status)) return finish({ kind: 'retry', status, retryAfterMs, error: `HTTP ${status}` });
      // A refusal: keep the start of the answer for the log, bounded.
      const chunks: Buffer[] = [];
      let read = 0;
      const done = () => {
        const excerpt = Buffer.concat(chunks).subarray(0, RESPONSE_READ_BYTES).toString('utf8').replace(/[^\x20-\x7e]+/g, ' ');
        const error = status >= 300 && status < 400 ? `HTTP ${status} (redirects are not followed)` : `HTTP ${status}`;
        finish({ kind: 'failed', status, error, excerpt: excerpt.slice(0, 200) });
      };
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        read += chunk.length;
        if (read >= RESPONSE_READ_BYTES) done();
      });
      res.on('end', done);
      res.on('error', done);
    });
    request.end(req.body);
  });
}
