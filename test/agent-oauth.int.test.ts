import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FakeAnthropic, startFakeAnthropic } from './helpers/fake-anthropic.js';
import { type FakeTokenEndpoint, startFakeTokenEndpoint } from './helpers/fake-oauth-token.js';
import { callProxy, messagesBody } from './helpers/proxy-client.js';
import { startTestRunner, type TestRunner } from './helpers/runner.js';

const ACCESS = 'sk-ant-oat01-INT-ACCESS-one-0123456789abcdef';
const REFRESH = 'sk-ant-ort01-INT-REFRESH-one-0123456789abcdef';
const ACCESS2 = 'sk-ant-oat01-INT-ACCESS-two-0123456789abcdef';
const REFRESH2 = 'sk-ant-ort01-INT-REFRESH-two-0123456789abcdef';
const TOKENS = [ACCESS, REFRESH, ACCESS2, REFRESH2];
const SECRET = 'runner-secret-for-oauth-status-test';
const H = 3600_000;

let runner: TestRunner;
let fake: FakeAnthropic;
let tokens: FakeTokenEndpoint;
let dir: string;
let file: string;

function login(c: Record<string, unknown>): void {
  writeFileSync(file, JSON.stringify({ claudeAiOauth: { scopes: ['user:inference', 'user:profile'], subscriptionType: 'max', ...c } }), { mode: 0o600 });
}

/** Every answer of this file goes through here: none may carry a token. */
async function get(p: string, headers: Record<string, string>): Promise<{ status: number; body: any }> {
  const res = await fetch(`${runner.url}${p}`, { headers });
  const text = await res.text();
  for (const t of TOKENS) expect(text).not.toContain(t);
  return { status: res.status, body: JSON.parse(text) };
}
const bearer = () => ({ authorization: `Bearer ${runner.token}` });

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'paddock-oauth-int-'));
  file = path.join(dir, 'creds', '.credentials.json');
  fake = await startFakeAnthropic();
  tokens = await startFakeTokenEndpoint();
  runner = await startTestRunner({
    agents: {
      oauth: { credentials_file: file, token_url: tokens.url },
      model_api: { api_key: '', base_url: fake.url },
      runner_secret: SECRET,
    },
  });
});

afterAll(async () => {
  await runner?.close();
  await fake?.close();
  await tokens?.close();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => rmSync(file, { force: true }));

describe('OAuth status routes', () => {
  it('reports no login before there is a file', async () => {
    const r = await get('/v1/agent/oauth', bearer());
    expect(r).toEqual({ status: 200, body: { configured: false, expired: false, expires_at: null, hours_remaining: null, refreshable: false } });
    const h = await get('/health', {});
    expect(h.body.oauth).toEqual(r.body);
    expect(h.body.problems.filter((p: string) => p.startsWith('oauth'))).toEqual([]);
  });

  it('reports a login, and /health turns degraded under two hours', async () => {
    cleanDir();
    login({ accessToken: ACCESS, refreshToken: null, expiresAt: Date.now() + 1.45 * H });
    const r = await get('/v1/agent/oauth', bearer());
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ configured: true, expired: false, refreshable: false, subscription_type: 'max' });
    expect(r.body.hours_remaining).toBe(1.4);
    const h = await get('/health', {});
    expect(h.body.status).toBe('degraded');
    expect(h.body.oauth).toMatchObject({ configured: true, hours_remaining: r.body.hours_remaining });
    expect(h.body.problems).toContainEqual(expect.stringMatching(/^oauth_expiring: the OAuth login expires in 1\.4 h/));

    // A new login applies without a restart.
    login({ accessToken: ACCESS2, refreshToken: REFRESH2, expiresAt: Date.now() + 8 * H });
    const again = await get('/health', {});
    expect(again.body.oauth).toMatchObject({ configured: true, refreshable: true, hours_remaining: expect.closeTo(8, 0) });
    expect(again.body.problems.filter((p: string) => p.startsWith('oauth'))).toEqual([]);
  });

  it('says degraded for an expired login and for a file that is not valid', async () => {
    cleanDir();
    login({ accessToken: ACCESS, refreshToken: null, expiresAt: Date.now() - H });
    const h = await get('/health', {});
    expect(h.body.status).toBe('degraded');
    expect(h.body.oauth).toMatchObject({ configured: true, expired: true, hours_remaining: 0 });
    expect(h.body.problems).toContainEqual(expect.stringMatching(/^oauth_expiring: the OAuth login expired at/));

    writeFileSync(file, `{"claudeAiOauth":{"accessToken":"${ACCESS}",`);
    const bad = await get('/v1/agent/oauth', bearer());
    expect(bad.body).toMatchObject({ configured: false, error: expect.stringContaining('not valid JSON') });
    expect((await get('/health', {})).body.problems).toContainEqual(expect.stringMatching(/^oauth_invalid: /));
  });

  it('answers GET /oauth/status to X-Runner-Secret or a bearer token, and to nothing else', async () => {
    cleanDir();
    login({ accessToken: ACCESS, refreshToken: REFRESH, expiresAt: Date.now() + 5 * H });
    const bySecret = await get('/oauth/status', { 'x-runner-secret': SECRET });
    expect(bySecret.status).toBe(200);
    expect(bySecret.body).toMatchObject({ configured: true, expired: false, refreshable: true });
    expect((await get('/oauth/status', bearer())).body).toEqual(bySecret.body);
    const wrong = await get('/oauth/status', { 'x-runner-secret': 'not-the-secret' });
    expect(wrong.status).toBe(401);
    expect(wrong.body.code).toBe('unauthorized');
    expect((await get('/oauth/status', {})).status).toBe(401);
    // The /v1 route takes bearer tokens only.
    expect((await get('/v1/agent/oauth', { 'x-runner-secret': SECRET })).status).toBe(401);
  });
});

describe('model proxy with the OAuth login', () => {
  it('sends the bearer token and the OAuth beta flag upstream for an agent-less request', async () => {
    cleanDir();
    login({ accessToken: ACCESS, refreshToken: REFRESH, expiresAt: Date.now() + 8 * H });
    expect(runner.rt.agents.auth().kind).toBe('oauth');
    const reply = await callProxy(runner.rt.agents.proxy.session('oauth-test-1', undefined), {
      headers: { 'x-api-key': 'sandbox-key', 'anthropic-beta': 'claude-code-20250219' },
      body: messagesBody(),
    });
    expect(reply.status).toBe(200);
    const seen = fake.requests.at(-1)!;
    expect(seen.headers.authorization).toBe(`Bearer ${ACCESS}`);
    expect(seen.headers['x-api-key']).toBeUndefined();
    expect(seen.headers['anthropic-beta']).toBe('claude-code-20250219,oauth-2025-04-20');
  });

  it('refreshes an expired token at the token endpoint on the way and saves the rotated one', async () => {
    cleanDir();
    login({ accessToken: ACCESS, refreshToken: REFRESH, expiresAt: Date.now() - 1000 });
    tokens.accept(REFRESH, { access: ACCESS2, refresh: REFRESH2 });
    const before = tokens.requests.length;
    const reply = await callProxy(runner.rt.agents.proxy.session('oauth-test-2', undefined), { body: messagesBody() });
    expect(reply.status).toBe(200);
    expect(tokens.requests.length - before).toBe(1);
    expect(fake.requests.at(-1)!.headers.authorization).toBe(`Bearer ${ACCESS2}`);
    expect(JSON.parse(readFileSync(file, 'utf8')).claudeAiOauth).toMatchObject({ accessToken: ACCESS2, refreshToken: REFRESH2 });
    expect((await get('/v1/agent/oauth', bearer())).body).toMatchObject({ configured: true, expired: false, refreshable: true });
  });

  it('refuses the request with an authentication error, no token in it, when the login expired for good', async () => {
    cleanDir();
    login({ accessToken: ACCESS, refreshToken: null, expiresAt: Date.now() - 1000 });
    const count = fake.requests.length;
    const reply = await callProxy(runner.rt.agents.proxy.session('oauth-test-3', undefined), { body: messagesBody() });
    expect(reply.status).toBe(401);
    expect(JSON.parse(reply.text)).toMatchObject({ type: 'error', error: { type: 'authentication_error', message: expect.stringContaining('paddock agent login') } });
    for (const t of TOKENS) expect(reply.text).not.toContain(t);
    expect(fake.requests.length).toBe(count);
  });
});

/** A clean credentials directory, as `paddock agent login` leaves it (0700). */
function cleanDir(): void {
  rmSync(file, { force: true });
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
}
