import { PaddockError } from '../errors.js';
import { errorFromResponse } from './problems.js';
import { streamUpload } from './stream-upload.js';

export interface HttpOptions {
  /** The runner's base URL, e.g. http://127.0.0.1:7878. */
  url: string;
  /** An API token; sent as `Authorization: Bearer`. */
  token?: string | undefined;
  /** A fetch to use instead of the global one (tests, proxies). */
  fetch?: typeof fetch;
}

export type Query = Record<string, string | number | boolean | undefined | null | readonly string[]>;

export interface RequestOptions {
  query?: Query;
  /** Sent as JSON. */
  json?: unknown;
  /** Sent as it is (a stream is sent as it is read, never buffered whole). */
  body?: ReadableStream<Uint8Array> | Uint8Array | string;
  headers?: Record<string, string>;
  signal?: AbortSignal | undefined;
}

/**
 * The one place the client talks HTTP: base URL, bearer token, query strings,
 * and every non-2xx answer turned into a PaddockError with the server's code.
 * A runner that cannot be reached is `unreachable`.
 */
export class Http {
  readonly url: string;
  private readonly token: string | undefined;
  private readonly fetchImpl: typeof fetch | undefined;

  constructor(opts: HttpOptions) {
    this.url = opts.url.replace(/\/+$/, '');
    this.token = opts.token;
    this.fetchImpl = opts.fetch;
  }

  /** The response of a request that succeeded (2xx); its body is the caller's to read or cancel. */
  async send(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
    const headers = new Headers(opts.headers);
    if (this.token) headers.set('authorization', `Bearer ${this.token}`);
    let body: RequestInit['body'];
    if (opts.json !== undefined) {
      headers.set('content-type', 'application/json');
      body = JSON.stringify(opts.json);
    } else if (opts.body !== undefined) {
      if (!headers.has('content-type')) headers.set('content-type', 'application/octet-stream');
      body = opts.body as RequestInit['body'];
    }
    const url = `${this.url}${path}${queryString(opts.query)}`;
    let res: Response;
    try {
      if (opts.body instanceof ReadableStream && !this.fetchImpl) {
        res = await streamUpload(url, method, headers, opts.body, opts.signal);
      } else {
        const init: RequestInit & { duplex?: 'half' } = { method, headers, body, signal: opts.signal ?? null };
        // A stream body needs half duplex in undici's fetch: the answer may come before the body is sent.
        if (opts.body instanceof ReadableStream) init.duplex = 'half';
        res = await (this.fetchImpl ?? fetch)(url, init);
      }
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      const c = (err as { cause?: { code?: string; message?: string } }).cause;
      const cause = c?.code ?? c?.message ?? (err as Error).message;
      throw new PaddockError('unreachable', `cannot reach ${this.url} (${cause}); is \`paddock serve\` running?`, undefined, {
        cause: err,
      });
    }
    if (!res.ok) throw await errorFromResponse(res);
    return res;
  }

  /** A request whose answer is JSON (or empty, e.g. 204: undefined). */
  async json<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.send(method, path, opts);
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }
}

/** `?a=1&b=x&b=y`, leaving out undefined/null; arrays repeat the key. */
export function queryString(query: Query | undefined): string {
  if (!query) return '';
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) for (const item of v) q.append(k, item);
    else q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

export const enc = encodeURIComponent;
