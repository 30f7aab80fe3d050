import http from 'node:http';
import { duplexPair, Writable } from 'node:stream';
import pino from 'pino';
import type { ProxySession } from '../../src/agents/model-proxy.js';

export interface ProxyReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** Each body chunk with the time it arrived. */
  chunks: Array<{ at: number; text: string }>;
  /** Set when the connection broke before the body ended. */
  error?: string;
}

/**
 * One HTTP request to a proxy session over an in-memory Duplex pair: the same kind of stream the
 * in-sandbox agent's port forwarding hands the session, with no socket in between.
 */
export function callProxy(
  session: ProxySession,
  req: { method?: string; path?: string; headers?: Record<string, string | number>; body?: unknown },
): Promise<ProxyReply> {
  const body = req.body === undefined ? undefined : typeof req.body === 'string' || Buffer.isBuffer(req.body) ? req.body : JSON.stringify(req.body);
  return new Promise((resolve) => {
    let reply: ProxyReply = { status: 0, headers: {}, text: '', chunks: [] };
    const r = http.request(
      {
        method: req.method ?? 'POST',
        path: req.path ?? '/v1/messages?beta=true',
        headers: { 'content-type': 'application/json', ...req.headers },
        createConnection: () => {
          const [client, server] = duplexPair();
          // A pair does not pass a destroy to its other end; a TCP connection does (as a reset).
          server.on('close', () => setImmediate(() => client.destroy(server.writableFinished ? undefined : new Error('connection reset by the proxy'))));
          client.on('close', () => server.destroy());
          session.handle(server);
          return client as never;
        },
      },
      (res) => {
        reply = { status: res.statusCode ?? 0, headers: res.headers, text: '', chunks: [] };
        res.on('data', (c: Buffer) => {
          reply.text += c.toString();
          reply.chunks.push({ at: Date.now(), text: c.toString() });
        });
        res.on('end', () => resolve(reply));
        res.on('error', (e) => resolve({ ...reply, error: e.message }));
      },
    );
    // A reset after the headers reaches the request as well as the response: keep what arrived.
    r.on('error', (e) => resolve({ ...reply, error: e.message }));
    r.end(body);
  });
}

/** A debug-level logger whose lines the test can search (for secrets). */
export function captureLog(): { log: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, sink), lines };
}

export function messagesBody(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: 'claude-sonnet-4-5-20250929', max_tokens: 1024, stream: true, messages: [{ role: 'user', content: 'hi' }], ...extra };
}
