import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { apiKeyAuth } from '../src/agents/model-auth.js';
import { ModelProxy } from '../src/agents/model-proxy.js';
import { DEFAULT_PRICES } from '../src/config/agents.js';
import { callProxy, captureLog, messagesBody } from './helpers/proxy-client.js';

// An upstream that compresses although the proxy asked for identity (a CDN or a gateway in
// front of the model API may): usage must still be counted, and the sandbox must get bytes
// that match the headers it is given.
const KEY = 'sk-ant-api03-encoding-KEY-0123456789';
const sse = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
const STREAM = [
  sse('message_start', {
    type: 'message_start',
    message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5', content: [], stop_reason: null, usage: { input_tokens: 1000, output_tokens: 1 } },
  }),
  sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
  sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'hello' } }),
  sse('content_block_stop', { type: 'content_block_stop', index: 0 }),
  sse('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 500 } }),
  sse('message_stop', { type: 'message_stop' }),
].join('');
const ERROR = JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });

const ENCODE: Record<string, (b: Buffer) => Buffer> = { gzip: gzipSync, deflate: deflateSync, br: brotliCompressSync };

let upstream: http.Server;
let next: { encoding: string; status: number; body: string };
let seenEncoding: string | undefined;
let proxy: ModelProxy;
let logged: ReturnType<typeof captureLog>;

beforeEach(async () => {
  upstream = http.createServer((req, res) => {
    seenEncoding = req.headers['accept-encoding'];
    req.resume();
    req.on('end', () => {
      const raw = Buffer.from(next.body);
      const body = ENCODE[next.encoding]?.(raw) ?? raw;
      const type = next.status === 200 ? 'text/event-stream' : 'application/json';
      res.writeHead(next.status, { 'content-type': type, 'content-encoding': next.encoding, 'content-length': body.length }).end(body);
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  logged = captureLog();
  const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  proxy = new ModelProxy({ baseUrl: url, auth: () => apiKeyAuth(KEY), prices: DEFAULT_PRICES, timeoutMs: 5000, log: logged.log });
});

afterEach(async () => {
  await proxy.close();
  await new Promise((r) => upstream.close(r));
});

describe('model proxy: an upstream that compresses anyway', () => {
  it.each(['gzip', 'deflate', 'br'])('%s: the stream is decoded, usage counted, and the sandbox reads plain SSE', async (encoding) => {
    next = { encoding, status: 200, body: STREAM };
    const s = proxy.session('j', undefined);
    const reply = await callProxy(s, { body: messagesBody() });
    expect(seenEncoding).toBe('identity');
    expect(reply.status).toBe(200);
    expect(reply.headers['content-encoding']).toBeUndefined();
    expect(reply.text).toBe(STREAM);
    expect(s.usage).toMatchObject({ requests: 1, input_tokens: 1000, output_tokens: 500 });
    expect(s.usage.cost_usd).toBeGreaterThan(0);
  });

  it('a compressed error is relayed readable and recorded', async () => {
    next = { encoding: 'br', status: 529, body: ERROR };
    const s = proxy.session('j', undefined);
    const reply = await callProxy(s, { body: messagesBody() });
    expect(reply.status).toBe(529);
    expect(JSON.parse(reply.text)).toEqual(JSON.parse(ERROR));
    expect(s.lastError).toEqual({ status: 529, type: 'overloaded_error', message: 'Overloaded' });
  });

  it('an encoding the proxy cannot read is a 502, not bytes passed on unread and uncounted', async () => {
    next = { encoding: 'zstd', status: 200, body: STREAM };
    const s = proxy.session('j', undefined);
    const reply = await callProxy(s, { body: messagesBody() });
    expect(reply.status).toBe(502);
    expect(JSON.parse(reply.text).error.message).toMatch(/content encoding the proxy cannot read/);
    expect(s.lastError).toMatchObject({ status: 502, type: 'api_error' });
  });
});
