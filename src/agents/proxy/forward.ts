import http, { type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import { PassThrough, pipeline, type Readable, type Transform } from 'node:stream';
import { lingerAfterAnswer } from '../../util/linger.js';
import type { Logger } from '../../util/log.js';
import { type ApiError, sendApiError, sseError } from './answer.js';
import { decoderFor } from './decode.js';
import { downstreamHeaders, upstreamHeaders } from './headers.js';
import { Redactor, redactText } from '../redact.js';
import { errorOf, JsonUsageTap, SseUsageTap } from './usage-tap.js';
import type { ResponseMeter } from './usage.js';

/** Largest request body forwarded (Anthropic's own limit for the Messages API is 32 MB). */
export const MAX_REQUEST_BYTES = 32 * 1024 * 1024;
/** Largest upstream error body read (it is redacted and parsed before it goes on). */
const MAX_ERROR_BYTES = 1024 * 1024;

export interface Upstream {
  url: URL;
  /** The base URL's path without its trailing slash ('' for none). */
  prefix: string;
  agent: http.Agent;
}

export interface ForwardContext {
  upstream: Upstream;
  timeoutMs: number;
  authHeaders: Record<string, string>;
  secrets: string[];
  /** Counts usage; null for requests that use none (count_tokens). */
  meter: ResponseMeter | null;
  /** Records the error the sandbox was given, for the job's reason. */
  fail(e: ApiError): void;
  /** Registers an upstream request so the session's close() can end it; returns the unregister. */
  track(up: ClientRequest): () => void;
  /** Each chunk of the answer, as it arrives. */
  activity?: () => void;
  log: Logger;
}

type Why = 'timeout' | 'too_large' | 'client_gone' | undefined;

/** Forwards one request upstream and streams the answer back, reading its usage on the way. */
export function forward(req: IncomingMessage, res: ServerResponse, pathAndQuery: string, ctx: ForwardContext): void {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_REQUEST_BYTES) {
    tooLarge(req, res, ctx);
    return;
  }
  const { url, prefix, agent } = ctx.upstream;
  const started = Date.now();
  const request = url.protocol === 'https:' ? https.request : http.request;
  const up = request({
    protocol: url.protocol,
    hostname: url.hostname,
    port: url.port || undefined,
    path: prefix + pathAndQuery,
    method: 'POST',
    headers: upstreamHeaders(req.headers, ctx.authHeaders),
    agent,
  });
  const untrack = ctx.track(up);
  let why: Why;
  let answered = false;
  up.setTimeout(ctx.timeoutMs, () => {
    why = 'timeout';
    up.destroy();
  });

  // Request body: counted against the cap, with backpressure, not buffered.
  let seen = 0;
  req.on('data', (chunk: Buffer) => {
    if (why) return;
    seen += chunk.length;
    if (seen > MAX_REQUEST_BYTES) {
      why = 'too_large';
      up.destroy();
      if (!answered) {
        answered = true;
        tooLarge(req, res, ctx);
      }
      return;
    }
    if (!up.write(chunk)) req.pause();
  });
  up.on('drain', () => req.resume());
  req.on('end', () => {
    if (!why) up.end();
  });
  res.on('close', () => {
    if (!res.writableFinished && !why) why = 'client_gone';
    if (!up.destroyed && !res.writableFinished) up.destroy();
    untrack();
  });

  up.on('error', (err: NodeJS.ErrnoException) => {
    if (answered || why === 'client_gone' || why === 'too_large') return;
    answered = true;
    const e: ApiError =
      why === 'timeout'
        ? { status: 504, type: 'timeout_error', message: `Paddock: the model API did not answer within ${ctx.timeoutMs} ms` }
        : { status: 502, type: 'api_error', message: `Paddock: the model API could not be reached (${err.code ?? 'connection failed'})` };
    ctx.fail(e);
    ctx.log.warn({ status: e.status, error: redactText(err.message, ctx.secrets) }, 'model proxy: upstream request failed');
    sendApiError(res, e);
  });

  up.on('response', (ures) => {
    if (answered) {
      ures.destroy();
      return;
    }
    answered = true;
    if (ctx.activity) ures.on('data', ctx.activity);
    const status = ures.statusCode ?? 502;
    const decode = decoderFor(ures.headers['content-encoding']);
    if (decode === null) {
      ures.destroy();
      const e: ApiError = { status: 502, type: 'api_error', message: 'Paddock: the model API answered in a content encoding the proxy cannot read' };
      ctx.fail(e);
      sendApiError(res, e);
      return;
    }
    const body: Readable = decode ? ures.pipe(decode) : ures;
    if (decode) ures.once('error', (err) => decode.destroy(err));
    if (status >= 400) {
      relayError(ures, body, res, status, ctx);
      return;
    }
    const isSse = String(ures.headers['content-type'] ?? '').startsWith('text/event-stream');
    res.writeHead(status, downstreamHeaders(ures.headers, ctx.secrets));
    res.flushHeaders();
    const tap: Transform = !ctx.meter
      ? new PassThrough()
      : isSse
        ? new SseUsageTap(ctx.meter, (e) => ctx.fail({ status, ...e }))
        : new JsonUsageTap(ctx.meter);
    // The response is not ended by the pipeline, so a broken upstream can be reported first.
    pipeline(body, tap, new Redactor(ctx.secrets), (err) => {
      if (!err) return;
      if (why === 'client_gone') return;
      const e: ApiError =
        why === 'timeout'
          ? { status: 504, type: 'timeout_error', message: `Paddock: the model API sent nothing for ${ctx.timeoutMs} ms` }
          : { status: 502, type: 'api_error', message: 'Paddock: the model API stream broke off' };
      ctx.fail(e);
      ctx.log.warn({ status: e.status, reason: why ?? 'aborted' }, 'model proxy: upstream stream ended early');
      // An SSE client reads the error event; any other client sees the connection cut.
      if (isSse && why === 'timeout' && !res.destroyed) res.end(sseError(e));
      else res.destroy();
    }).pipe(res);
    res.on('finish', () => ctx.log.debug({ status, ms: Date.now() - started }, 'model proxy: request done'));
  });
}

function tooLarge(req: IncomingMessage, res: ServerResponse, ctx: ForwardContext): void {
  const e: ApiError = {
    status: 413,
    type: 'request_too_large',
    message: `Paddock: request body is larger than ${MAX_REQUEST_BYTES} bytes`,
  };
  ctx.fail(e);
  // The rest of the body is read and dropped for a moment, then the connection is cut.
  lingerAfterAnswer(req, res);
  sendApiError(res, e, false);
}

/** Reads an upstream error (bounded), records it and passes it on with secrets redacted. */
function relayError(ures: IncomingMessage, body: Readable, res: ServerResponse, status: number, ctx: ForwardContext): void {
  const chunks: Buffer[] = [];
  let size = 0;
  body.on('data', (c: Buffer) => {
    size += c.length;
    if (size <= MAX_ERROR_BYTES) chunks.push(c);
    // Past the cap nothing more is wanted: a compressed error cannot grow without bound here.
    else body.destroy();
  });
  body.on('error', () => {});
  body.on('close', () => {
    if (res.headersSent || res.destroyed) return;
    const text = redactText(Buffer.concat(chunks).toString('utf8'), ctx.secrets);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const e = { status, ...errorOf(parsed) };
    ctx.fail(e);
    ctx.log.warn({ status, type: e.type, message: e.message }, 'model proxy: upstream answered with an error');
    if (parsed === undefined || size > MAX_ERROR_BYTES) {
      sendApiError(res, e);
      return;
    }
    const headers = downstreamHeaders(ures.headers, ctx.secrets);
    headers['content-length'] = String(Buffer.byteLength(text));
    res.writeHead(status, headers).end(text);
  });
}
