import { PaddockError } from '../errors.js';
import { errorFromResponse } from './problems.js';
import { streamUpload } from './stream-upload.js';

export interface HttpOptions {
  /**
   * The runner's base URL, e.g. http://127.0.0.1:7878; several, comma-separated, are a fleet's hosts
   * (`PADDOCK_URL=https://a,https://b`): a request goes to the next when one cannot be reached.
   */
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
  /** Every runner URL given, in order. */
  readonly urls: readonly string[];
  /** The one requests go to first: the last that answered. */
  private current = 0;
  private readonly token: string | undefined;
  private readonly fetchImpl: typeof fetch | undefined;

  constructor(opts: HttpOptions) {
    this.urls = parseUrls(opts.url);
    this.token = opts.token;
    this.fetchImpl = opts.fetch;
  }

  /** The runner URL in use. */
  get url(): string {
    return this.urls[this.current]!;
  }

  /**
   * The response of a request that succeeded (2xx); its body is the caller's to read or cancel.
   * With several URLs, a runner that cannot be reached, or is shutting down, passes the request to
   * the next — but a request that may have reached it is sent again only when that is safe (see
   * mayResend); the last failure is what the caller gets.
   */
  async send(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
    let last: unknown;
    for (let i = 0; i < this.urls.length; i++) {
      const at = (this.current + i) % this.urls.length;
      try {
        const res = await this.sendTo(this.urls[at]!, method, path, opts);
        this.current = at;
        return res;
      } catch (err) {
        last = err;
        if (this.urls.length === 1 || opts.signal?.aborted || !mayResend(err, method, opts)) throw err;
      }
    }
    throw last;
  }

  private async sendTo(base: string, method: string, path: string, opts: RequestOptions): Promise<Response> {
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
    const url = `${base}${path}${queryString(opts.query)}`;
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
      throw new PaddockError('unreachable', `cannot reach ${base} (${cause}); is \`paddock serve\` running?`, { connect: NOT_CONNECTED.has(c?.code ?? '') }, {
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

/** Errors that say the request never reached the runner: sending it elsewhere cannot do anything twice. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);
const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);

/**
 * Whether a failed request may go to the next runner: it never reached this one (no connection), or
 * it is safe to send twice (an idempotent method, or an Idempotency-Key, whose replay the runner
 * answers with the first job), or the runner refused it as it shut down. A streamed body cannot be
 * sent again once read.
 */
function mayResend(err: unknown, method: string, opts: RequestOptions): boolean {
  if (!(err instanceof PaddockError)) return false;
  if (opts.body instanceof ReadableStream) return err.code === 'unreachable' && err.details?.connect === true;
  if (err.code === 'shutting_down') return true;
  if (err.code !== 'unreachable') return false;
  const keyed = Object.keys(opts.headers ?? {}).some((h) => h.toLowerCase() === 'idempotency-key');
  return err.details?.connect === true || IDEMPOTENT.has(method.toUpperCase()) || keyed;
}

/** `a, b/` → ['a', 'b']: one or more base URLs, each checked (a typo fails here, not at the first request). */
export function parseUrls(list: string): string[] {
  const urls = list
    .split(',')
    .map((u) => u.trim().replace(/\/+$/, ''))
    .filter((u) => u !== '');
  if (urls.length === 0) throw new PaddockError('validation_failed', 'no runner URL given');
  for (const u of urls) {
    let parsed: URL;
    try {
      parsed = new URL(u);
    } catch {
      throw new PaddockError('validation_failed', `runner URL ${JSON.stringify(u)} is not a URL`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new PaddockError('validation_failed', `runner URL ${u} must be http:// or https://`);
    }
  }
  return urls;
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
