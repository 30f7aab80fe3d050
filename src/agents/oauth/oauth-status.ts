import { z } from 'zod';
import type { ClaudeAiOauth } from './credentials-file.js';

/** Under this much time left, /health says `degraded` (the runner refreshes before it gets there). */
export const HEALTH_MARGIN_MS = 2 * 3600_000;

/** What the API and `paddock agent status` say of the OAuth login: never a token. */
export const OAuthStatusView = z.object({
  configured: z.boolean().describe('a credentials file with a Claude login is in place'),
  expired: z.boolean(),
  expires_at: z.string().nullable().describe('when the access token expires (ISO 8601); null when it has no expiry'),
  hours_remaining: z.number().nullable().describe('hours until then, rounded down to 0.1; null without an expiry'),
  refreshable: z.boolean().describe('a refresh token is there and was not refused'),
  subscription_type: z.string().optional(),
  error: z.string().optional().describe('why the login cannot be used (a bad file, a refused refresh)'),
});
export type OAuthStatus = z.infer<typeof OAuthStatusView>;

export const NOT_CONFIGURED: OAuthStatus = { configured: false, expired: false, expires_at: null, hours_remaining: null, refreshable: false };

/** True when the access token cannot be used any more (blanked by the CLI, or past its expiry). */
export function isExpired(c: ClaudeAiOauth, now: number): boolean {
  return c.accessToken === '' || (c.expiresAt != null && c.expiresAt <= now);
}

/** The status of one login at `now`; `refreshable` is decided by the caller (it knows refused tokens). */
export function oauthStatus(c: ClaudeAiOauth | undefined, now: number, refreshable: boolean): OAuthStatus {
  if (!c || (c.accessToken === '' && !c.refreshToken)) return { ...NOT_CONFIGURED };
  const expiresAt = c.expiresAt ?? null;
  return {
    configured: true,
    expired: isExpired(c, now),
    expires_at: expiresAt === null ? null : new Date(expiresAt).toISOString(),
    // Rounded down, so "1.9" is what /health calls under two hours, never a rounded-up "2.0".
    hours_remaining: expiresAt === null ? null : Math.floor(Math.max(0, expiresAt - now) / 360_000) / 10,
    refreshable,
    ...(c.subscriptionType ? { subscription_type: c.subscriptionType } : {}),
  };
}

/** The /health problem a login gives, if any: expired, under two hours left, or unusable. */
export function oauthProblem(s: OAuthStatus): string | undefined {
  if (!s.configured) return s.error ? `oauth_invalid: ${s.error}` : undefined;
  const advice = s.refreshable ? 'refreshing it failed' : 'no refresh token; run `paddock agent login`';
  const why = s.error ? `${advice}: ${s.error}` : advice;
  if (s.expired) return `oauth_expiring: the OAuth login expired${s.expires_at ? ` at ${s.expires_at}` : ''} (${why})`;
  if (s.hours_remaining !== null && s.hours_remaining * 3600_000 < HEALTH_MARGIN_MS) {
    return `oauth_expiring: the OAuth login expires in ${s.hours_remaining} h at ${s.expires_at} (${why})`;
  }
  return undefined;
}
