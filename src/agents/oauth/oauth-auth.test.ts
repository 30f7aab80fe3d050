import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type FakeTokenEndpoint, startFakeTokenEndpoint } from '../../../test/helpers/fake-oauth-token.js';
import { captureLog } from '../../../test/helpers/proxy-client.js';
import { OAuthAuth, type OAuthAuthOptions } from './oauth-auth.js';

const ACCESS = 'sk-ant-oat01-UNIT-ACCESS-one-0123456789';
const REFRESH = 'sk-ant-ort01-UNIT-REFRESH-one-0123456789';
const ACCESS2 = 'sk-ant-oat01-UNIT-ACCESS-two-0123456789';
const REFRESH2 = 'sk-ant-ort01-UNIT-REFRESH-two-0123456789';
const H = 3600_000;

let dir: string;
let file: string;
let fake: FakeTokenEndpoint;
let logged: ReturnType<typeof captureLog>;
let auth: OAuthAuth;

function write(c: Record<string, unknown>, extra: Record<string, unknown> = {}): void {
  writeFileSync(file, JSON.stringify({ claudeAiOauth: { scopes: ['user:inference', 'user:profile'], subscriptionType: 'pro', ...c }, ...extra }), { mode: 0o600 });
}

function make(opts: Partial<OAuthAuthOptions> = {}): OAuthAuth {
  return new OAuthAuth({ file, tokenUrl: fake.url, clientId: 'client-test', refreshBeforeMs: 5 * 60_000, log: logged.log, tokenTimeoutMs: 2000, ...opts });
}

async function rejection(p: Promise<unknown>): Promise<any> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e) => e,
  );
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(cond()).toBe(true);
}

beforeEach(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'paddock-oauth-'));
  file = path.join(dir, '.credentials.json');
  fake = await startFakeTokenEndpoint();
  logged = captureLog();
  auth = make();
});

afterEach(async () => {
  auth.close();
  await fake.close();
  const log = logged.lines.join('');
  for (const t of [ACCESS, REFRESH, ACCESS2, REFRESH2]) expect(log).not.toContain(t);
  rmSync(dir, { recursive: true, force: true });
});

describe('OAuthAuth', () => {
  it('sends the access token as a bearer with the OAuth beta flag, without refreshing a fresh one', async () => {
    write({ accessToken: ACCESS, refreshToken: REFRESH, expiresAt: Date.now() + 8 * H });
    expect(auth.kind).toBe('oauth');
    expect(await auth.headers()).toEqual({ Authorization: `Bearer ${ACCESS}`, 'anthropic-beta': 'oauth-2025-04-20' });
    expect(fake.requests).toHaveLength(0);
    expect(auth.secrets()).toEqual(expect.arrayContaining([ACCESS, REFRESH]));
  });

  it('refreshes before expiry and saves the rotated refresh token to the file (0600), keeping other keys', async () => {
    write({ accessToken: ACCESS, refreshToken: REFRESH, expiresAt: Date.now() + 60_000 }, { mcpOAuth: { kept: true } });
    fake.accept(REFRESH, { access: ACCESS2, refresh: REFRESH2, expiresIn: 28_800 });
    const t0 = Date.now();
    expect((await auth.headers()).Authorization).toBe(`Bearer ${ACCESS2}`);
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]!.body).toEqual({ grant_type: 'refresh_token', refresh_token: REFRESH, client_id: 'client-test', scope: 'user:inference user:profile' });
    expect(fake.requests[0]!.headers['content-type']).toBe('application/json');
    const saved = JSON.parse(readFileSync(file, 'utf8'));
    expect(saved.claudeAiOauth).toMatchObject({ accessToken: ACCESS2, refreshToken: REFRESH2, subscriptionType: 'pro' });
    expect(saved.claudeAiOauth.expiresAt).toBeGreaterThanOrEqual(t0 + 28_800_000);
    expect(saved.mcpOAuth).toEqual({ kept: true });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // The next request uses the saved token; the spent refresh token is not sent again.
    expect((await auth.headers()).Authorization).toBe(`Bearer ${ACCESS2}`);
    expect(fake.requests).toHaveLength(1);
    expect(auth.status()).toMatchObject({ configured: true, expired: false, refreshable: true, hours_remaining: expect.closeTo(8, 0) });
    // A new process reads what was saved.
    expect((await make().headers()).Authorization).toBe(`Bearer ${ACCESS2}`);
  });

  it('keeps the refresh token when the endpoint does not rotate it', async () => {
    write({ accessToken: ACCESS, refreshToken: REFRESH, expiresAt: Date.now() - 1000 });
    fake.accept(REFRESH, { access: ACCESS2 });
    await auth.headers();
    expect(JSON.parse(readFileSync(file, 'utf8')).claudeAiOauth).toMatchObject({ accessToken: ACCESS2, refreshToken: REFRESH });
  });

  it('turns a refused refresh token (400 invalid_grant) into a clear agent_auth_unavailable, and does not send it again', async () => {
    write({ accessToken: ACCESS, refreshToken: REFRESH, expiresAt: Date.now() - 1000 });
    const err = await rejection(auth.headers());
    expect(err.code).toBe('agent_auth_unavailable');
    expect(err.message).toContain('invalid_grant');
    expect(err.message).toContain('paddock agent login');
    expect(err.message).not.toContain(REFRESH);
    expect(fake.requests).toHaveLength(1);
    expect(auth.status()).toMatchObject({ configured: true, expired: true, refreshable: false, error: expect.stringContaining('invalid_grant') });
    expect((await rejection(auth.headers())).code).toBe('agent_auth_unavailable');
    expect(fake.requests).toHaveLength(1);
    expect(logged.lines.join('')).toContain('refreshing the OAuth access token failed');
  });

  it('shares one refresh between concurrent requests', async () => {
    write({ accessToken: ACCESS, refreshToken: REFRESH, expiresAt: Date.now() + 1000 });
    fake.accept(REFRESH, { access: ACCESS2, refresh: REFRESH2 });
    fake.delayMs = 200;
    const all = await Promise.all(Array.from({ length: 10 }, () => auth.headers()));
    expect(new Set(all.map((h) => h.Authorization))).toEqual(new Set([`Bearer ${ACCESS2}`]));
    expect(fake.requests).toHaveLength(1);
  });

  it('fails an expired login without a refresh token at once, with no request', async () => {
    write({ accessToken: ACCESS, refreshToken: null, expiresAt: Date.now() - 1000 });
    const err = await rejection(auth.headers());
    expect(err.code).toBe('agent_auth_unavailable');
    expect(err.message).toMatch(/expired at .* no refresh token/);
    expect(fake.requests).toHaveLength(0);
    expect(auth.status()).toMatchObject({ configured: true, expired: true, refreshable: false, hours_remaining: 0 });
  });

  it('uses a still-valid token when a refresh fails, and tries again only after a pause', async () => {
    write({ accessToken: ACCESS, refreshToken: REFRESH, expiresAt: Date.now() + 60_000 });
    fake.failWith(500, { error: { type: 'api_error', message: 'Internal server error' } });
    expect((await auth.headers()).Authorization).toBe(`Bearer ${ACCESS}`);
    expect((await auth.headers()).Authorization).toBe(`Bearer ${ACCESS}`);
    expect(fake.requests).toHaveLength(1);
    expect(auth.status().error).toContain('answered 500');
  });

  it('gives up on a token endpoint that does not answer within its timeout', async () => {
    auth = make({ tokenTimeoutMs: 300 });
    write({ accessToken: ACCESS, refreshToken: REFRESH, expiresAt: Date.now() - 1 });
    fake.accept(REFRESH, { access: ACCESS2 });
    fake.delayMs = 3000;
    const t0 = Date.now();
    const err = await rejection(auth.headers());
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(err.message).toContain('timed out');
  });

  it('refuses an endpoint answer past 64 KiB and one that is not a token response', async () => {
    write({ accessToken: ACCESS, refreshToken: REFRESH, expiresAt: Date.now() - 1 });
    fake.failWith(200, { access_token: ACCESS2, expires_in: 3600, pad: 'x'.repeat(70_000) });
    expect((await rejection(auth.refresh())).message).toContain('larger than');
    fake.failWith(200, { access_token: 'has space', expires_in: 3600 });
    expect((await rejection(auth.refresh())).message).toContain('without a valid token response');
  });

  it('applies a new login written to the file without a restart', async () => {
    write({ accessToken: ACCESS, refreshToken: null, expiresAt: Date.now() - 1000 });
    expect((await rejection(auth.headers())).code).toBe('agent_auth_unavailable');
    write({ accessToken: ACCESS2, refreshToken: REFRESH2, expiresAt: Date.now() + 8 * H, subscriptionType: 'max' });
    expect((await auth.headers()).Authorization).toBe(`Bearer ${ACCESS2}`);
    expect(auth.status()).toMatchObject({ configured: true, expired: false, subscription_type: 'max' });
  });

  it('lets a login written during a refresh win over what the refresh brings back', async () => {
    write({ accessToken: ACCESS, refreshToken: REFRESH, expiresAt: Date.now() - 1000 });
    fake.accept(REFRESH, { access: 'sk-ant-oat01-from-refresh-000000', refresh: 'sk-ant-ort01-from-refresh-000000' });
    fake.delayMs = 300;
    const pending = auth.headers();
    await new Promise((r) => setTimeout(r, 100));
    write({ accessToken: ACCESS2, refreshToken: REFRESH2, expiresAt: Date.now() + 8 * H });
    expect((await pending).Authorization).toBe(`Bearer ${ACCESS2}`);
    expect(JSON.parse(readFileSync(file, 'utf8')).claudeAiOauth.accessToken).toBe(ACCESS2);
  });

  it('answers a missing or malformed file with agent_auth_unavailable and a status, never a crash', async () => {
    expect((await rejection(auth.headers())).message).toMatch(/no Claude login.*paddock agent login/);
    expect(auth.status()).toEqual({ configured: false, expired: false, expires_at: null, hours_remaining: null, refreshable: false });
    writeFileSync(file, `{"claudeAiOauth":{"accessToken":"${ACCESS}"`);
    const err = await rejection(auth.headers());
    expect(err.code).toBe('agent_auth_unavailable');
    expect(err.message).toContain('not valid JSON');
    expect(err.message).not.toContain(ACCESS);
    expect(auth.status()).toMatchObject({ configured: false, error: expect.stringContaining('not valid JSON') });
    expect(JSON.stringify(auth.status())).not.toContain(ACCESS);
  });

  it('never sends the refresh token in the clear to a remote host', () => {
    expect(() => make({ tokenUrl: 'http://auth.example.com/v1/oauth/token' })).toThrow(/https/);
    expect(() => make({ tokenUrl: 'https://platform.claude.com/v1/oauth/token' })).not.toThrow();
  });

  it('does not follow a redirect with the refresh token', async () => {
    write({ accessToken: ACCESS, refreshToken: REFRESH, expiresAt: Date.now() - 1 });
    fake.failWith(307, {});
    expect((await rejection(auth.refresh())).message).toContain('answered 307');
    expect(fake.requests).toHaveLength(1);
  });

  it('never puts a token in its status', async () => {
    write({ accessToken: ACCESS, refreshToken: REFRESH, expiresAt: Date.now() + 3 * H });
    const text = JSON.stringify(auth.status());
    expect(text).not.toContain(ACCESS);
    expect(text).not.toContain(REFRESH);
  });

  it("keeps an idle runner's login fresh ahead of /health's two hours, without refreshing on every tick", async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      write({ accessToken: ACCESS, refreshToken: REFRESH, expiresAt: Date.now() + 3 * H });
      // A short-lived new token: still inside the keeper's margin right after the refresh.
      fake.accept(REFRESH, { access: ACCESS2, refresh: REFRESH2, expiresIn: 2 * 3600 });
      auth.start();
      vi.advanceTimersByTime(60_000);
      await new Promise((r) => setTimeout(r, 50));
      expect(fake.requests).toHaveLength(0);
      write({ accessToken: ACCESS, refreshToken: REFRESH, expiresAt: Date.now() + 2 * H });
      vi.advanceTimersByTime(60_000);
      await until(() => fake.requests.length === 1);
      await until(() => JSON.parse(readFileSync(file, 'utf8')).claudeAiOauth.accessToken === ACCESS2);
      vi.advanceTimersByTime(5 * 60_000);
      await new Promise((r) => setTimeout(r, 50));
      expect(fake.requests).toHaveLength(1);
      auth.close();
    } finally {
      vi.useRealTimers();
    }
  });
});
