import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { duplexPair } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { apiKeyAuth } from '../src/agents/model-auth.js';
import { ModelProxy, type ProxySession } from '../src/agents/model-proxy.js';
import { MAX_CONNECTIONS } from '../src/agents/proxy/session.js';
import { DEFAULT_PRICES } from '../src/config/agents.js';
import { type FakeAnthropic, startFakeAnthropic } from './helpers/fake-anthropic.js';
import { callProxy, captureLog, messagesBody } from './helpers/proxy-client.js';

const KEY = 'sk-ant-api03-faults-KEY-9876543210';

let fake: FakeAnthropic;
let proxy: ModelProxy;
let logged: ReturnType<typeof captureLog>;

function makeProxy(baseUrl: string, timeoutMs = 5000): ModelProxy {
  return new ModelProxy({ baseUrl, auth: () => apiKeyAuth(KEY), prices: DEFAULT_PRICES, timeoutMs, log: logged.log });
}

async function settled(p: Promise<string>): Promise<string | 'pending'> {
  return Promise.race([p, new Promise<'pending'>((r) => setTimeout(() => r('pending'), 50))]);
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

describe('model proxy: budget', () => {
  async function spend(s: ProxySession): Promise<void> {
    expect((await callProxy(s, { body: messagesBody() })).status).toBe(200);
  }

  async function expectRefused(s: ProxySession, why: RegExp): Promise<void> {
    const before = fake.requests.length;
    const r = await callProxy(s, { body: messagesBody() });
    expect(r.status).toBe(400);
    expect(r.headers['x-should-retry']).toBe('false');
    expect(JSON.parse(r.text)).toEqual({ type: 'error', error: { type: 'invalid_request_error', message: expect.stringMatching(/^Paddock: budget exceeded: /) } });
    expect(JSON.parse(r.text).error.message).toMatch(why);
    expect(await settled(s.overBudget)).toMatch(why);
    expect(fake.requests.length).toBe(before);
  }

  it('max_requests: the request past it is refused and overBudget resolves', async () => {
    const s = proxy.session('j', { max_requests: 2 });
    await spend(s);
    await spend(s);
    expect(await settled(s.overBudget)).toBe('pending');
    await expectRefused(s, /max_requests 2/);
    expect(s.usage.requests).toBe(2);
    // count_tokens is free and stays reachable.
    expect((await callProxy(s, { path: '/v1/messages/count_tokens', body: messagesBody() })).status).toBe(200);
  });

  it('max_requests holds for concurrent requests', async () => {
    fake.setScript([{ text: 'a', delay_ms: 200 }, { text: 'b', delay_ms: 200 }, { text: 'c', delay_ms: 200 }]);
    const s = proxy.session('j', { max_requests: 2 });
    const replies = await Promise.all([1, 2, 3].map(() => callProxy(s, { body: messagesBody() })));
    expect(replies.map((r) => r.status).sort()).toEqual([200, 200, 400]);
  });

  it('max_output_tokens', async () => {
    fake.setScript([{ text: 'a', usage: { output_tokens: 60 } }, { text: 'b', usage: { output_tokens: 60 } }]);
    const s = proxy.session('j', { max_output_tokens: 100 });
    await spend(s);
    await spend(s); // 60 < 100: allowed, and it takes the total past the limit
    await expectRefused(s, /max_output_tokens 100 reached \(120 output tokens\)/);
  });

  it('max_cost_usd', async () => {
    // Opus: 1000 input ($0.015) + 1000 output ($0.075) = $0.09 a request.
    fake.setScript([{ text: 'a', model: 'claude-opus-4-1', usage: { input_tokens: 1000, output_tokens: 1000 } }]);
    const s = proxy.session('j', { max_cost_usd: 0.05 });
    await spend(s);
    expect(s.usage.cost_usd).toBeCloseTo(0.09, 10);
    await expectRefused(s, /max_cost_usd 0.05 reached \(\$0\.0900 spent\)/);
  });
});

describe('model proxy: upstream failures', () => {
  it('429, 500 and 529 pass through in Anthropic shape and become lastError', async () => {
    fake.setScript([
      { error: { status: 429, type: 'rate_limit_error', message: 'Number of request tokens has exceeded your per-minute rate limit' }, retry_after_s: 7 },
      { error: { status: 500, type: 'api_error', message: 'Internal server error' } },
      { error: { status: 529, type: 'overloaded_error', message: 'Overloaded' } },
    ]);
    const s = proxy.session('j', undefined);
    const r429 = await callProxy(s, { body: messagesBody() });
    expect(r429.status).toBe(429);
    expect(r429.headers['retry-after']).toBe('7');
    expect(JSON.parse(r429.text)).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });
    expect(s.lastError).toMatchObject({ status: 429, type: 'rate_limit_error' });
    expect((await callProxy(s, { body: messagesBody() })).status).toBe(500);
    expect(s.lastError).toEqual({ status: 500, type: 'api_error', message: 'Internal server error' });
    expect((await callProxy(s, { body: messagesBody() })).status).toBe(529);
    expect(s.lastError).toEqual({ status: 529, type: 'overloaded_error', message: 'Overloaded' });
    expect(s.usage.requests).toBe(3);
  });

  it('a broken stream breaks the connection to the sandbox too', async () => {
    fake.setScript([{ malformed: true }]);
    const s = proxy.session('j', undefined);
    const r = await callProxy(s, { body: messagesBody() });
    expect(r.status).toBe(200);
    expect(r.error).toBeDefined();
    expect(r.text).toContain('message_start');
    expect(s.lastError).toMatchObject({ status: 502, type: 'api_error', message: expect.stringContaining('broke off') });
    // What arrived before the break is counted.
    expect(s.usage.input_tokens).toBeGreaterThan(0);
  });

  it('a stream that goes silent ends with an SSE timeout error after timeoutMs', async () => {
    await proxy.close();
    proxy = makeProxy(fake.url, 1000);
    fake.setScript([{ hang: true }]);
    const s = proxy.session('j', undefined);
    const t0 = Date.now();
    const r = await callProxy(s, { body: messagesBody() });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
    expect(Date.now() - t0).toBeLessThan(4000);
    expect(r.status).toBe(200);
    expect(r.text).toMatch(/^event: error\ndata: \{"type":"error","error":\{"type":"timeout_error"/);
    expect(s.lastError).toMatchObject({ status: 504, type: 'timeout_error' });
  });

  it('an upstream that never answers gets a 504 after timeoutMs', async () => {
    const silent = net.createServer((sock) => sock.on('error', () => {}).resume());
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    await proxy.close();
    proxy = makeProxy(`http://127.0.0.1:${(silent.address() as AddressInfo).port}`, 1000);
    const s = proxy.session('j', undefined);
    const r = await callProxy(s, { body: messagesBody() });
    await proxy.close();
    await new Promise((r2) => silent.close(r2));
    expect(r.status).toBe(504);
    expect(JSON.parse(r.text).error.type).toBe('timeout_error');
  });

  it('an unreachable upstream is a 502 api_error', async () => {
    const port = fake.url.split(':').pop();
    await fake.close();
    fake = await startFakeAnthropic();
    await proxy.close();
    proxy = makeProxy(`http://127.0.0.1:${port}`);
    const s = proxy.session('j', undefined);
    const r = await callProxy(s, { body: messagesBody() });
    expect(r.status).toBe(502);
    expect(JSON.parse(r.text)).toEqual({ type: 'error', error: { type: 'api_error', message: expect.stringContaining('ECONNREFUSED') } });
    expect(s.lastError).toMatchObject({ status: 502, type: 'api_error' });
  });
});

describe('model proxy: bounds and close', () => {
  it('refuses a declared body over 32 MiB at once, and a streamed one when it passes 32 MiB', async () => {
    const s = proxy.session('j', undefined);
    const declared = await callProxy(s, { headers: { 'content-length': 33 * 1024 * 1024 }, body: '{' });
    expect(declared.status).toBe(413);
    expect(declared.headers.connection).toBe('close');
    const big = Buffer.alloc(33 * 1024 * 1024, 0x20);
    const streamed = await callProxy(s, { headers: { 'transfer-encoding': 'chunked' }, body: big });
    expect(streamed.status).toBe(413);
    expect(JSON.parse(streamed.text).error.type).toBe('request_too_large');
    expect(s.lastError).toMatchObject({ status: 413 });
    // The streamed one was cut off upstream too: the fake never got a whole request.
    expect(fake.requests).toEqual([]);
  });

  it(`accepts at most ${MAX_CONNECTIONS} connections at once`, async () => {
    const s = proxy.session('j', undefined);
    const ends = Array.from({ length: MAX_CONNECTIONS + 1 }, () => {
      const [client, server] = duplexPair();
      s.handle(server);
      return { client, server };
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(ends.slice(0, MAX_CONNECTIONS).every((e) => !e.server.destroyed)).toBe(true);
    expect(ends.at(-1)!.server.destroyed).toBe(true);
    s.close();
    expect(ends.every((e) => e.server.destroyed)).toBe(true);
  });

  it('close() ends open connections and the upstream requests in flight', async () => {
    let upstreamClosed = false;
    const hanging = http.createServer((req) => {
      req.resume();
      req.socket.on('close', () => (upstreamClosed = true));
    });
    await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
    await proxy.close();
    proxy = makeProxy(`http://127.0.0.1:${(hanging.address() as AddressInfo).port}`);
    const s = proxy.session('j', undefined);
    const pending = callProxy(s, { body: messagesBody() });
    await new Promise((r) => setTimeout(r, 200));
    s.close();
    const r = await pending;
    expect(r.error).toBeDefined();
    await new Promise((r2) => setTimeout(r2, 100));
    expect(upstreamClosed).toBe(true);
    // A closed session takes no more connections.
    const [, server] = duplexPair();
    s.handle(server);
    expect(server.destroyed).toBe(true);
    hanging.closeAllConnections();
    await new Promise((r2) => hanging.close(r2));
  });
});
