import { describe, expect, it } from 'vitest';
import { oauthProblem, oauthStatus } from './oauth-status.js';

const NOW = Date.parse('2026-03-01T12:00:00.000Z');
const H = 3600_000;
const login = (expiresAt: number | null, refreshToken: string | null = 'sk-ant-ort01-r') => ({
  accessToken: 'sk-ant-oat01-a',
  refreshToken,
  expiresAt,
  subscriptionType: 'max',
});

describe('OAuth status', () => {
  it('reports nothing configured without a login, or with only blanked tokens', () => {
    const none = { configured: false, expired: false, expires_at: null, hours_remaining: null, refreshable: false };
    expect(oauthStatus(undefined, NOW, false)).toEqual(none);
    expect(oauthStatus({ accessToken: '', refreshToken: '', expiresAt: 0 }, NOW, false)).toEqual(none);
    expect(oauthProblem(none)).toBeUndefined();
  });

  it('counts hours to expiry, rounded down to a tenth', () => {
    const s = oauthStatus(login(NOW + 5.26 * H), NOW, true);
    expect(s).toEqual({
      configured: true,
      expired: false,
      expires_at: new Date(NOW + 5.26 * H).toISOString(),
      hours_remaining: 5.2,
      refreshable: true,
      subscription_type: 'max',
    });
    expect(oauthStatus(login(NOW + 1.99 * H), NOW, true).hours_remaining).toBe(1.9);
    expect(oauthStatus(login(NOW + 2 * H), NOW, true).hours_remaining).toBe(2);
  });

  it('is expired at and past expiresAt, with 0 hours left', () => {
    expect(oauthStatus(login(NOW), NOW, false)).toMatchObject({ expired: true, hours_remaining: 0 });
    expect(oauthStatus(login(NOW - 10 * H), NOW, false)).toMatchObject({ expired: true, hours_remaining: 0 });
    expect(oauthStatus({ accessToken: '', refreshToken: 'sk-ant-ort01-r', expiresAt: 0 }, NOW, true)).toMatchObject({ configured: true, expired: true, refreshable: true });
  });

  it('has no expiry for a token without one (setup-token style)', () => {
    expect(oauthStatus(login(null, null), NOW, false)).toMatchObject({ configured: true, expired: false, expires_at: null, hours_remaining: null });
    expect(oauthProblem(oauthStatus(login(null, null), NOW, false))).toBeUndefined();
  });

  it('makes /health degraded under two hours and when expired, not before', () => {
    expect(oauthProblem(oauthStatus(login(NOW + 2.1 * H), NOW, false))).toBeUndefined();
    expect(oauthProblem(oauthStatus(login(NOW + 1.5 * H, null), NOW, false))).toMatch(/^oauth_expiring: the OAuth login expires in 1\.5 h .*paddock agent login/);
    expect(oauthProblem(oauthStatus(login(NOW - H, null), NOW, false))).toMatch(/^oauth_expiring: the OAuth login expired at 2026-03-01T11:00:00\.000Z/);
    expect(oauthProblem({ configured: false, expired: false, expires_at: null, hours_remaining: null, refreshable: false, error: 'bad file' })).toBe('oauth_invalid: bad file');
  });
});
