import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_PRICES } from '../src/config/agents.js';
import { apiKeyAuth, type ModelAuth } from '../src/agents/model-auth.js';
import { ModelProxy } from '../src/agents/model-proxy.js';
import { type FakeAnthropic, startFakeAnthropic } from './helpers/fake-anthropic.js';
import { callProxy, captureLog, messagesBody } from './helpers/proxy-client.js';

const KEY = 'sk-ant-api03-proxy-test-KEY-0123456789';

let fake: FakeAnthropic;
let proxy: ModelProxy;
let logged: ReturnType<typeof captureLog>;

function makeProxy(baseUrl: string, auth: () => ModelAuth = () => apiKeyAuth(KEY)): ModelProxy {
  return new ModelProxy({ baseUrl, auth, prices: DEFAULT_PRICES, timeoutMs: 5000, log: logged.log });
}

beforeEach(async () => {
  fake = await startFakeAnthropic();
  logged = captureLog();
  proxy = makeProxy(fake.url);
});

afterEach(async () => {
  await proxy.close();
  await fake.close();
  expect(logged.lines.join('')).not.toContain(KEY);
});

describe('model proxy: forwarding', () => {
  it('streams SSE through as it arrives, not buffered whole', async () => {
    fake.setScript([{ text: 'one two three four five six', delay_ms: 1200 }]);
    const s = proxy.session('job1', undefined);
    const reply = await callProxy(s, { body: messagesBody() });
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('text/event-stream');
    expect(reply.headers['request-id']).toMatch(/^req_/);
    expect(reply.text).toContain('event: message_start');
    expect(reply.text).toContain('event: message_stop');
    expect(reply.chunks.length).toBeGreaterThan(3);
    // The fake spaces its ~9 events over 1.2 s; a buffering proxy would deliver them at once.
    expect(reply.chunks.at(-1)!.at - reply.chunks[0]!.at).toBeGreaterThan(600);
  });

  it('reports activity on each request and all through a slow answer, not only when it ends', async () => {
    fake.setScript([{ text: 'one two three four five six', delay_ms: 1200 }]);
    const at: number[] = [];
    const s = proxy.session('job1', undefined, () => at.push(Date.now()));
    const started = Date.now();
    const reply = await callProxy(s, { body: messagesBody() });
    expect(reply.status).toBe(200);
    expect(at.length).toBeGreaterThan(3);
    expect(at[0]! - started).toBeLessThan(300);
    // Spread over the answer: no silence near the whole turn's length between two reports.
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    expect(Math.max(...gaps)).toBeLessThan(700);
    expect(at.at(-1)! - at[0]!).toBeGreaterThan(600);
  });

  it('counts usage and cost per session, streaming and not', async () => {
    fake.setScript([
      { text: 'a', model: 'claude-sonnet-4-5-20250929', usage: { input_tokens: 1000, output_tokens: 500, cache_creation_input_tokens: 200, cache_read_input_tokens: 300 } },
      { text: 'b', model: 'claude-haiku-4-5', usage: { input_tokens: 100, output_tokens: 50 } },
    ]);
    const s = proxy.session('job1', undefined);
    expect((await callProxy(s, { body: messagesBody() })).status).toBe(200);
    const json = await callProxy(s, { body: messagesBody({ stream: false }) });
    expect(json.status).toBe(200);
    expect(JSON.parse(json.text)).toMatchObject({ type: 'message', content: [{ type: 'text', text: 'b' }] });
    expect(s.usage).toMatchObject({
      requests: 2,
      input_tokens: 1100,
      output_tokens: 550,
      cache_creation_input_tokens: 200,
      cache_read_input_tokens: 300,
    });
    const sonnet = (1000 * 3 + 500 * 15 + 200 * 3.75 + 300 * 0.3) / 1e6;
    const haiku = (100 * 1 + 50 * 5) / 1e6;
    expect(s.usage.cost_usd).toBeCloseTo(sonnet + haiku, 10);
    // Sessions are separate.
    expect(proxy.session('job2', undefined).usage.requests).toBe(0);
  });

  it("injects the runner's credential and drops the client's", async () => {
    const s = proxy.session('job1', undefined);
    await callProxy(s, {
      headers: { 'x-api-key': 'x', authorization: 'Bearer x', cookie: 'c=1', 'anthropic-version': '2023-06-01', 'anthropic-beta': 'claude-code-20250219', 'x-app': 'cli' },
      body: messagesBody(),
    });
    const seen = fake.requests.at(-1)!;
    expect(seen.path).toBe('/v1/messages?beta=true');
    expect(seen.headers['x-api-key']).toBe(KEY);
    expect(seen.headers.authorization).toBeUndefined();
    expect(seen.headers.cookie).toBeUndefined();
    expect(seen.headers['anthropic-version']).toBe('2023-06-01');
    expect(seen.headers['anthropic-beta']).toBe('claude-code-20250219');
    expect(seen.headers['content-type']).toBe('application/json');
    expect(seen.headers['x-app']).toBe('cli');
    expect(seen.body).toMatchObject({ model: 'claude-sonnet-4-5-20250929', stream: true });
  });

  it('sends an OAuth bearer token with its beta flag merged into the CLI flags', async () => {
    const token = 'sk-ant-oat01-ACCESS-TOKEN-abcdef';
    const oauth: ModelAuth = {
      kind: 'oauth',
      headers: async () => ({ Authorization: `Bearer ${token}`, 'anthropic-beta': 'oauth-2025-04-20' }),
      secrets: () => [token],
    };
    await proxy.close();
    proxy = makeProxy(fake.url, () => oauth);
    await callProxy(proxy.session('j', undefined), { headers: { 'x-api-key': 'x', 'anthropic-beta': 'claude-code-20250219' }, body: messagesBody() });
    const seen = fake.requests.at(-1)!;
    expect(seen.headers.authorization).toBe(`Bearer ${token}`);
    expect(seen.headers['x-api-key']).toBeUndefined();
    expect(seen.headers['anthropic-beta']).toBe('claude-code-20250219,oauth-2025-04-20');
  });

  it('answers HEAD / itself and forwards only the Messages API', async () => {
    const s = proxy.session('job1', undefined);
    expect((await callProxy(s, { method: 'HEAD', path: '/' })).status).toBe(200);
    expect((await callProxy(s, { method: 'GET', path: '/' })).status).toBe(200);
    for (const [method, path] of [
      ['GET', '/v1/models'],
      ['POST', '/v1/complete'],
      ['GET', '/v1/messages'],
      ['POST', '/v1/messages/batches'],
      ['POST', '/v1/messages/../files'],
      ['POST', '/api/oauth/usage'],
    ] as const) {
      const r = await callProxy(s, { method, path, body: method === 'POST' ? messagesBody() : undefined });
      expect(r.status, `${method} ${path}`).toBe(404);
      expect(JSON.parse(r.text)).toEqual({ type: 'error', error: { type: 'not_found_error', message: expect.stringContaining('Paddock') } });
    }
    expect(fake.requests).toEqual([]);
    const count = await callProxy(s, { path: '/v1/messages/count_tokens?beta=true', body: messagesBody() });
    expect(count.status).toBe(200);
    expect(JSON.parse(count.text)).toEqual({ input_tokens: expect.any(Number) });
    expect(fake.requests.map((r) => r.path)).toEqual(['/v1/messages/count_tokens?beta=true']);
    expect(s.usage.requests).toBe(0);
  });

  it("keeps the base URL's path prefix", async () => {
    await proxy.close();
    proxy = makeProxy(`${fake.url}/gateway/anthropic/`);
    await callProxy(proxy.session('j', undefined), { body: messagesBody() });
    expect(fake.requests.map((r) => r.path)).toEqual(['/gateway/anthropic/v1/messages?beta=true']);
  });

  it('never lets the credential into a response, even when the upstream echoes it', async () => {
    await fake.close();
    fake = await startFakeAnthropic({
      handler: (req) => ({ error: { status: 401, type: 'authentication_error', message: `invalid x-api-key ${req.headers['x-api-key']}` } }),
    });
    await proxy.close();
    proxy = makeProxy(fake.url);
    const s = proxy.session('j', undefined);
    const err = await callProxy(s, { body: messagesBody() });
    expect(err.status).toBe(401);
    expect(err.text).not.toContain(KEY);
    expect(JSON.parse(err.text).error.message).toBe('invalid x-api-key [REDACTED]');
    expect(s.lastError).toEqual({ status: 401, type: 'authentication_error', message: 'invalid x-api-key [REDACTED]' });
  });

  it('redacts the credential from a stream even when it is cut across network chunks', async () => {
    const upstream = http.createServer((req, res) => {
      req.resume();
      const key = String(req.headers['x-api-key']);
      res.writeHead(200, { 'content-type': 'text/event-stream', 'x-echo': key });
      res.write(`event: ping\ndata: {"type":"ping","echo":"${key.slice(0, 10)}`);
      setTimeout(() => res.end(`${key.slice(10)}"}\n\n`), 50);
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    await proxy.close();
    proxy = makeProxy(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`);
    const r = await callProxy(proxy.session('j', undefined), { body: messagesBody() });
    await new Promise((r2) => upstream.close(r2));
    expect(r.text).toBe('event: ping\ndata: {"type":"ping","echo":"[REDACTED]"}\n\n');
    expect(JSON.stringify(r.headers)).not.toContain(KEY);
  });

  it('answers 401 authentication_error when no credential can be used', async () => {
    await proxy.close();
    proxy = makeProxy(fake.url, () => apiKeyAuth(''));
    const s = proxy.session('j', undefined);
    const r = await callProxy(s, { body: messagesBody() });
    expect(r.status).toBe(401);
    expect(r.headers['x-should-retry']).toBe('false');
    expect(JSON.parse(r.text).error.type).toBe('authentication_error');
    expect(s.lastError).toMatchObject({ status: 401, type: 'authentication_error', message: expect.stringContaining('no model API key') });
    expect(s.usage.requests).toBe(0);
    expect(fake.requests).toEqual([]);
  });

  it('answers 502 when a credential cannot be sent as a header, without crashing', async () => {
    const bad: ModelAuth = { kind: 'api_key', headers: async () => ({ 'x-api-key': `${KEY}\r\nx-evil: 1` }), secrets: () => [KEY] };
    await proxy.close();
    proxy = makeProxy(fake.url, () => bad);
    const s = proxy.session('j', undefined);
    const r = await callProxy(s, { body: messagesBody() });
    expect(r.status).toBe(502);
    expect(r.text).not.toContain(KEY);
    expect(s.lastError).toMatchObject({ status: 502, type: 'api_error' });
    expect(fake.requests).toEqual([]);
  });
});
