import fs from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { apiKeyAuth } from '../src/agents/model-auth.js';
import { ModelProxy, type ProxySession } from '../src/agents/model-proxy.js';
import type { AgentBudget } from '../src/agents/spec.js';
import { DEFAULT_PRICES } from '../src/config/agents.js';
import { findClaude, runClaude } from './helpers/claude-cli.js';
import { type FakeAnthropic, startFakeAnthropic, type Turn } from './helpers/fake-anthropic.js';
import { captureLog } from './helpers/proxy-client.js';

/**
 * The real Claude Code CLI (the agent image's, pinned 2.1.197) against the scripted model API
 * through the model proxy. The proxy listens on a loopback port here, each accepted socket handed
 * to the session as the agent's port forwarding hands it one inside a sandbox.
 */
const claude = findClaude();
if (!claude && process.env.CI === 'true') {
  throw new Error('the agent image is missing ($PADDOCK_IMAGES_DIR/agent/rootfs): run scripts/build-images.sh');
}

const KEY = 'sk-ant-api03-cli-test-KEY-abcdefghij0123';
const writeFile: Turn[] = [
  { tool_use: { name: 'Bash', input: { command: 'echo hi > f.txt', description: 'Write f.txt' } } },
  { text: 'I wrote f.txt.' },
];

let fake: FakeAnthropic;
let proxy: ModelProxy;
let logged: ReturnType<typeof captureLog>;
let listener: net.Server | undefined;
const cleanups: Array<() => void> = [];

beforeAll(async () => {
  fake = await startFakeAnthropic();
  logged = captureLog();
  proxy = new ModelProxy({ baseUrl: fake.url, auth: () => apiKeyAuth(KEY), prices: DEFAULT_PRICES, timeoutMs: 3000, log: logged.log });
});

afterEach(async () => {
  if (listener) await new Promise((r) => listener!.close(r));
  listener = undefined;
  for (const c of cleanups.splice(0)) c();
});

afterAll(async () => {
  await proxy.close();
  await fake.close();
  expect(logged.lines.join('')).not.toContain(KEY);
});

async function serve(jobId: string, budget?: AgentBudget): Promise<{ session: ProxySession; url: string }> {
  const session = proxy.session(jobId, budget);
  listener = net.createServer((sock) => session.handle(sock));
  await new Promise<void>((r) => listener!.listen(0, '127.0.0.1', r));
  cleanups.push(() => session.close());
  return { session, url: `http://127.0.0.1:${(listener.address() as AddressInfo).port}` };
}

async function run(url: string, prompt = 'Write hi to f.txt') {
  const r = await runClaude(claude!, url, prompt);
  cleanups.push(r.cleanup);
  return r;
}

describe.skipIf(!claude)('Claude Code CLI through the model proxy', () => {
  it('runs a tool turn and a text turn: the file is written and the result is success', async () => {
    fake.setScript(writeFile);
    fake.requests.length = 0;
    const { session, url } = await serve('job-ok');
    const r = await run(url);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readFileSync(path.join(r.work, 'f.txt'), 'utf8')).toBe('hi\n');
    const types = r.lines.map((l) => (l.subtype ? `${l.type}/${l.subtype}` : l.type));
    expect(types).toEqual(['system/init', 'assistant', 'user', 'assistant', 'result/success']);
    const result = r.lines.at(-1);
    expect(result).toMatchObject({ is_error: false, num_turns: 2, result: 'I wrote f.txt.', permission_denials: [] });
    expect(result.total_cost_usd).toEqual(expect.any(Number));
    expect(result.duration_ms).toEqual(expect.any(Number));
    expect(result.usage).toMatchObject({ input_tokens: expect.any(Number), output_tokens: expect.any(Number) });
    expect(r.lines[2].message.content[0]).toMatchObject({ type: 'tool_result', is_error: false });
    // The proxy answered the CLI's HEAD / itself; upstream saw only the Messages API, with the runner's key.
    expect(fake.requests.map((q) => `${q.method} ${q.path}`)).toEqual(['POST /v1/messages?beta=true', 'POST /v1/messages?beta=true']);
    expect(fake.requests.every((q) => q.headers['x-api-key'] === KEY)).toBe(true);
    expect(session.usage.requests).toBe(2);
    expect(session.usage.output_tokens).toBe(20);
    expect(r.stdout).not.toContain(KEY);
    if (process.env.PADDOCK_UPDATE_FIXTURES === '1') {
      fs.writeFileSync(path.join(import.meta.dirname, 'fixtures/claude-stream.jsonl'), r.stdout);
    }
  });

  it('a request past the budget ends the CLI at once with the reason, and the work so far is kept', async () => {
    fake.setScript(writeFile);
    fake.requests.length = 0;
    const { session, url } = await serve('job-budget', { max_requests: 1 });
    const r = await run(url);
    expect(r.code).toBe(1);
    expect(fs.readFileSync(path.join(r.work, 'f.txt'), 'utf8')).toBe('hi\n');
    // Not retried: a 400 with x-should-retry: false.
    expect(fake.requests).toHaveLength(1);
    expect(r.lines.at(-1)).toMatchObject({
      type: 'result',
      subtype: 'success',
      is_error: true,
      api_error_status: 400,
      result: expect.stringContaining('Paddock: budget exceeded: max_requests 1'),
    });
    expect(await session.overBudget).toMatch(/max_requests 1/);
  });

  it('an upstream 429 is retried CLAUDE_CODE_MAX_RETRIES times, then the CLI fails with it', async () => {
    const limited: Turn = { error: { status: 429, type: 'rate_limit_error', message: 'Number of requests has exceeded your rate limit' }, retry_after_s: 0 };
    fake.setScript([limited, limited]);
    fake.requests.length = 0;
    const { session, url } = await serve('job-429');
    const r = await run(url);
    expect(r.code).toBe(1);
    expect(fake.requests).toHaveLength(2);
    expect(r.lines.at(-1)).toMatchObject({ type: 'result', is_error: true, api_error_status: 429 });
    expect(session.lastError).toMatchObject({ status: 429, type: 'rate_limit_error' });
  });
});
