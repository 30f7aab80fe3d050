import { z } from 'zod';
import { PaddockError } from '../../errors.js';
import { redactText } from '../redact.js';

/** A token response is well under a kilobyte; more is not one. */
const MAX_RESPONSE_BYTES = 64 * 1024;
/** Claude Code's own timeout for this request. */
export const TOKEN_TIMEOUT_MS = 30_000;
/**
 * The token endpoint sits behind a WAF that turns away clients not named like Claude Code's
 * (reported as 429s); the refresh is made for Claude Code's OAuth client, so it says so.
 */
const USER_AGENT = 'claude-cli/2.1.197 (external, paddock)';

const Token = z.string().min(1).max(8192).regex(/^[\x21-\x7e]+$/);

/** RFC 6749 §5.1 as Anthropic's endpoint answers it (`refresh_token` only when it rotates one). */
const TokenResponse = z.looseObject({
  access_token: Token,
  refresh_token: Token.optional(),
  expires_in: z.number().positive().max(10 * 365 * 86_400),
  scope: z.string().max(4096).optional(),
});

export interface RefreshRequest {
  tokenUrl: string;
  clientId: string;
  refreshToken: string;
  /** Sent as `scope` (space-separated), as Claude Code does, so the new token keeps them. */
  scopes?: string[] | undefined;
  timeoutMs?: number;
}

export interface RefreshedTokens {
  accessToken: string;
  /** The rotated one, or the one sent when the endpoint kept it. */
  refreshToken: string;
  /** ms since the epoch. */
  expiresAt: number;
  scopes?: string[];
}

/**
 * The token URL as a URL the refresh token may be sent to: https, or http to loopback (tests, a
 * local gateway). Anything else would put the refresh token on the wire in the clear.
 */
export function checkTokenUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new PaddockError('config_invalid', 'agents.oauth.token_url is not a URL');
  }
  const loopback = url.hostname === 'localhost' || url.hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(url.hostname);
  if (!(url.protocol === 'https:' || (url.protocol === 'http:' && loopback))) {
    throw new PaddockError('config_invalid', 'agents.oauth.token_url must be https (http only to loopback)');
  }
  if (url.username || url.password) throw new PaddockError('config_invalid', 'agents.oauth.token_url must not carry credentials');
  return url;
}

/**
 * One refresh_token grant (POST JSON, as Claude Code 2.1.197 sends it). Failures are
 * `agent_auth_unavailable`; `details.oauth_error` carries the endpoint's error code, e.g.
 * `invalid_grant` for a refresh token it no longer accepts. No token is ever in a message.
 */
export async function refreshAccessToken(req: RefreshRequest, now: () => number = Date.now): Promise<RefreshedTokens> {
  const url = checkTokenUrl(req.tokenUrl);
  const body: Record<string, string> = { grant_type: 'refresh_token', refresh_token: req.refreshToken, client_id: req.clientId };
  if (req.scopes?.length) body.scope = req.scopes.join(' ');
  const secrets = [req.refreshToken];
  let res: Response;
  const signal = AbortSignal.timeout(req.timeoutMs ?? TOKEN_TIMEOUT_MS);
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', 'user-agent': USER_AGENT },
      body: JSON.stringify(body),
      // A redirect would re-send the refresh token to wherever it points.
      redirect: 'manual',
      signal,
    });
  } catch (err) {
    const why = signal.aborted ? 'timed out' : ((err as { cause?: { code?: string } }).cause?.code ?? 'unreachable');
    throw new PaddockError('agent_auth_unavailable', `OAuth token endpoint ${url.host}: ${why}`);
  }
  let text: string;
  try {
    text = await readBounded(res);
  } catch (err) {
    throw new PaddockError('agent_auth_unavailable', `OAuth token endpoint ${url.host}: ${signal.aborted ? 'timed out' : (err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (res.status !== 200) throw endpointError(url, res.status, json, secrets);
  const parsed = TokenResponse.safeParse(json);
  if (!parsed.success) throw new PaddockError('agent_auth_unavailable', `OAuth token endpoint ${url.host} answered 200 without a valid token response`);
  const t = parsed.data;
  const scopes = t.scope?.split(' ').filter(Boolean);
  return {
    accessToken: t.access_token,
    refreshToken: t.refresh_token ?? req.refreshToken,
    expiresAt: now() + Math.round(t.expires_in * 1000),
    ...(scopes?.length ? { scopes } : {}),
  };
}

/** `{"error":"invalid_grant","error_description":"…"}` (RFC 6749 §5.2), or `{"error":{"type":…}}`. */
function endpointError(url: URL, status: number, json: unknown, secrets: string[]): PaddockError {
  const e = json && typeof json === 'object' ? (json as Record<string, unknown>) : {};
  const raw = typeof e.error === 'string' ? e.error : e.error && typeof e.error === 'object' ? (e.error as Record<string, unknown>).type : undefined;
  const code = typeof raw === 'string' && /^[a-z_]{1,64}$/.test(raw) ? raw : undefined;
  const description = typeof e.error_description === 'string' ? redactText(e.error_description, secrets).slice(0, 200) : '';
  const advice = code === 'invalid_grant' ? '; the refresh token is no longer valid: run `paddock agent login` again' : '';
  return new PaddockError(
    'agent_auth_unavailable',
    `OAuth token endpoint ${url.host} answered ${status}${code ? ` ${code}` : ''}${description ? ` (${description})` : ''}${advice}`,
    { status, ...(code ? { oauth_error: code } : {}) },
  );
}

async function readBounded(res: Response): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_RESPONSE_BYTES) {
      await reader.cancel().catch(() => undefined);
      throw new Error(`response larger than ${MAX_RESPONSE_BYTES} bytes`);
    }
    parts.push(value);
  }
  return Buffer.concat(parts).toString('utf8');
}
