import { readFileSync } from 'node:fs';
import path from 'node:path';
import { defaultDataDir } from '../config/schema.js';
import { isErrorCode, PaddockError } from '../errors.js';

export interface ClientOptions {
  url?: string | undefined;
  token?: string | undefined;
}

const TERMINAL = ['succeeded', 'failed', 'cancelled', 'timed_out', 'expired'];

export interface SseEvent {
  id: number;
  event: string;
  data: any;
}

/**
 * A small HTTP client for the CLI. The token comes from --token, PADDOCK_TOKEN,
 * or — on the runner's own host — the admin token file in the default data dir.
 */
export class Client {
  readonly url: string;
  private readonly token: string | undefined;

  constructor(opts: ClientOptions) {
    this.url = (opts.url ?? process.env.PADDOCK_URL ?? 'http://127.0.0.1:7878').replace(/\/$/, '');
    this.token = opts.token ?? process.env.PADDOCK_TOKEN ?? readLocalAdminToken();
  }

  async request<T = any>(method: string, p: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const res = await this.fetch(p, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    const parsed = text ? JSON.parse(text) : undefined;
    if (!res.ok) throw problemToError(res.status, parsed, res.headers);
    return parsed as T;
  }

  /** Streams a job's SSE events; reconnects with Last-Event-ID if the connection drops mid-job. */
  async *events(jobId: string, opts: { follow: boolean; after?: number }): AsyncGenerator<SseEvent> {
    let last = opts.after ?? 0;
    for (let attempt = 0; ; attempt++) {
      let ended = false;
      try {
        const res = await this.fetch(`/v1/jobs/${encodeURIComponent(jobId)}/events?follow=${opts.follow}`, {
          headers: { accept: 'text/event-stream', 'last-event-id': String(last) },
        });
        if (!res.ok) throw problemToError(res.status, await res.json().catch(() => undefined), res.headers);
        for await (const e of parseSse(res.body!)) {
          last = e.id;
          attempt = 0;
          yield e;
          if (e.event === 'state' && TERMINAL.includes(e.data.state)) ended = true;
        }
        if (ended || !opts.follow) return;
      } catch (err) {
        if (err instanceof PaddockError && err.code !== 'unreachable') throw err;
        if (attempt >= 5) throw err;
      }
      await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
    }
  }

  private async fetch(p: string, init: RequestInit): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.token) headers.set('authorization', `Bearer ${this.token}`);
    try {
      return await fetch(`${this.url}${p}`, { ...init, headers });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new PaddockError('unreachable', `cannot reach ${this.url} (${cause}); is \`paddock serve\` running?`);
    }
  }
}

function readLocalAdminToken(): string | undefined {
  try {
    const dir = process.env.PADDOCK_DATA_DIR ?? defaultDataDir();
    return readFileSync(path.join(dir, 'admin.token'), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

function problemToError(status: number, body: any, headers?: Headers): PaddockError {
  const code = isErrorCode(body?.code) ? body.code : status === 404 ? 'not_found' : 'internal';
  // Retry-After (429, 503, 507) is kept, so a caller may wait and try again.
  const retryAfter = Number(headers?.get('retry-after') ?? NaN);
  return new PaddockError(code, body?.detail ?? `HTTP ${status}`, Number.isFinite(retryAfter) ? { retry_after_s: retryAfter } : undefined);
}

/** Minimal text/event-stream parser: id, event and (single-line JSON) data fields. */
async function* parseSse(stream: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const fields: Record<string, string> = {};
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const i = line.indexOf(':');
        if (i > 0) fields[line.slice(0, i)] = line.slice(i + 1).replace(/^ /, '');
      }
      if (fields.data !== undefined) {
        yield { id: Number(fields.id ?? 0), event: fields.event ?? 'message', data: JSON.parse(fields.data) };
      }
    }
  }
}
