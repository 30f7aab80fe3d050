import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeWebStream } from 'node:stream/web';

/**
 * Sends a streamed request body with node:http rather than fetch. A runner that
 * refuses an upload part way (the sandbox's disk is full, the file is over
 * `max_upload_bytes`) answers and closes while the body is still being sent;
 * fetch then reports only the broken pipe, node:http hands over the answer.
 * The body is written as the socket takes it, never gathered.
 */
export function streamUpload(
  url: string,
  method: string,
  headers: Headers,
  body: ReadableStream<Uint8Array>,
  signal: AbortSignal | undefined,
): Promise<Response> {
  const target = new URL(url);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const source = Readable.fromWeb(body as NodeWebStream<Uint8Array>);
  return new Promise<Response>((resolve, reject) => {
    let answered = false;
    const req = send(target, { method, headers: Object.fromEntries(headers), signal });
    req.once('response', (res: IncomingMessage) => {
      answered = true;
      // An early answer (an error): what is left of the body is not wanted, nor
      // is the connection, which still expects the rest of it.
      if (!source.readableEnded) {
        source.unpipe(req).destroy();
        res.once('close', () => req.destroy());
      }
      resolve(toResponse(res));
    });
    req.once('error', (err) => {
      source.destroy();
      // A write that failed after the answer came is the refusal's close, not a failure of its own.
      if (!answered) reject(err);
    });
    source.once('error', (err) => req.destroy(err));
    source.pipe(req);
  });
}

function toResponse(res: IncomingMessage): Response {
  const headers = new Headers();
  for (const [k, v] of Object.entries(res.headers)) {
    if (Array.isArray(v)) for (const item of v) headers.append(k, item);
    else if (v !== undefined) headers.set(k, v);
  }
  const status = res.statusCode ?? 500;
  // 204/304 may not have a body in a web Response.
  const body = status === 204 || status === 304 ? null : (Readable.toWeb(res) as unknown as ReadableStream<Uint8Array>);
  if (body === null) res.resume();
  return new Response(body, { status, headers });
}
