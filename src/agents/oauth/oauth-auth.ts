import type { Stats } from 'node:fs';
import { statSync } from 'node:fs';
import type { Config } from '../../config/schema.js';
import { PaddockError, toPaddockError } from '../../errors.js';
import type { Logger } from '../../util/log.js';
import type { ModelAuth } from '../model-auth.js';
import { type ClaudeAiOauth, type CredentialsFile, credentialsPath, readCredentialsFile, writeCredentialsFile } from './credentials-file.js';
import { HEALTH_MARGIN_MS, isExpired, NOT_CONFIGURED, type OAuthStatus, oauthStatus } from './oauth-status.js';
import { checkTokenUrl, refreshAccessToken } from './token-endpoint.js';

/** The beta flag the Messages API wants beside an OAuth bearer token. */
export const OAUTH_BETA = 'oauth-2025-04-20';
/** After a failed refresh, requests use what they have (or fail) for this long before one tries again. */
const RETRY_AFTER_FAILURE_MS = 30_000;
/** How often the keeper looks at the login. */
const KEEPER_TICK_MS = 60_000;
/** The keeper refreshes this long before expiry, so /health does not go `degraded` on an idle runner. */
const KEEP_FRESH_MS = HEALTH_MARGIN_MS + 15 * 60_000;
/** …but not again within this long: with tokens shorter-lived than KEEP_FRESH_MS it would refresh every tick. */
const KEEPER_MIN_INTERVAL_MS = 30 * 60_000;
/** Tokens this process has held, kept to redact them from what it sends on (a refresh may race a request). */
const SECRET_HISTORY = 8;

export interface OAuthAuthOptions {
  /** The credentials file (credentialsPath(config)). */
  file: string;
  tokenUrl: string;
  clientId: string;
  /** An access token is refreshed this long before it expires. */
  refreshBeforeMs: number;
  log: Logger;
  now?: () => number;
  /** Timeout of the token request (default 30 s). */
  tokenTimeoutMs?: number;
}

interface Loaded {
  /** null: no file. */
  data: CredentialsFile | null;
  stat: Pick<Stats, 'mtimeMs' | 'ctimeMs' | 'size' | 'ino'> | null;
  error?: string;
}

/**
 * The runner's subscription login (Claude Code's `.credentials.json`) as a ModelAuth: a bearer
 * token, refreshed before it expires where a refresh token exists, the refreshed tokens written
 * back to the file. The file is read again whenever it changes, so a new `paddock agent login`
 * applies without a restart.
 */
export class OAuthAuth implements ModelAuth {
  readonly kind = 'oauth' as const;
  readonly file: string;
  private readonly now: () => number;
  private loaded: Loaded = { data: null, stat: null };
  private inflight: Promise<ClaudeAiOauth> | undefined;
  private retryAt = 0;
  private lastError: string | undefined;
  private lastRefreshAt = 0;
  /** Refresh tokens the endpoint refused (invalid_grant): not sent again until the file changes. */
  private readonly refused = new Set<string>();
  private readonly history: string[] = [];
  private keeper: NodeJS.Timeout | undefined;

  constructor(private readonly opts: OAuthAuthOptions) {
    checkTokenUrl(opts.tokenUrl);
    this.file = opts.file;
    this.now = opts.now ?? Date.now;
  }

  static fromConfig(config: Pick<Config, 'data_dir' | 'agents'>, log: Logger): OAuthAuth {
    const o = config.agents.oauth;
    return new OAuthAuth({ file: credentialsPath(config), tokenUrl: o.token_url, clientId: o.client_id, refreshBeforeMs: o.refresh_before_ms, log });
  }

  async headers(): Promise<Record<string, string>> {
    let c = this.current();
    if (this.due(c, this.opts.refreshBeforeMs) && this.now() >= this.retryAt) {
      try {
        c = await this.refresh();
      } catch (err) {
        // Still valid: this request goes out with it; the next one after the pause tries again.
        if (isExpired(c, this.now())) throw this.unavailable(c, toPaddockError(err).message);
      }
    }
    if (isExpired(c, this.now())) throw this.unavailable(c, this.lastError);
    return { Authorization: `Bearer ${c.accessToken}`, 'anthropic-beta': OAUTH_BETA };
  }

  secrets(): string[] {
    try {
      this.load();
    } catch {
      // A file that cannot be read adds no secret; the tokens held before are still listed.
    }
    return [...this.history];
  }

  status(): OAuthStatus {
    let loaded: Loaded;
    try {
      loaded = this.load();
    } catch (err) {
      return { ...NOT_CONFIGURED, error: toPaddockError(err).message };
    }
    if (loaded.error) return { ...NOT_CONFIGURED, error: loaded.error };
    const c = loaded.data?.claudeAiOauth;
    const s = oauthStatus(c, this.now(), c !== undefined && this.refreshable(c));
    // A refresh failure matters while the token is near its end; once it is fresh again it is history.
    if (s.configured && this.lastError && (s.expired || this.due(c!, this.opts.refreshBeforeMs))) s.error = this.lastError;
    return s;
  }

  /** Refreshes the access token now (concurrent callers share one request) and saves it to the file. */
  refresh(): Promise<ClaudeAiOauth> {
    this.inflight ??= this.refreshOnce().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  /** Starts refreshing an idle runner's login ahead of /health's margin. */
  start(): void {
    if (this.keeper) return;
    this.keeper = setInterval(() => this.keep(), KEEPER_TICK_MS);
    this.keeper.unref();
  }

  close(): void {
    clearInterval(this.keeper);
    this.keeper = undefined;
  }

  private keep(): void {
    let c: ClaudeAiOauth;
    try {
      c = this.current();
    } catch {
      return;
    }
    const now = this.now();
    if (!this.due(c, KEEP_FRESH_MS) || now < this.retryAt || now - this.lastRefreshAt < KEEPER_MIN_INTERVAL_MS) return;
    this.refresh().catch(() => undefined); // logged in refreshOnce
  }

  private async refreshOnce(): Promise<ClaudeAiOauth> {
    const c = this.current();
    const used = c.refreshToken;
    if (!used || this.refused.has(used)) throw this.unavailable(c, this.lastError);
    let t;
    try {
      t = await refreshAccessToken(
        { tokenUrl: this.opts.tokenUrl, clientId: c.clientId || this.opts.clientId, refreshToken: used, scopes: c.scopes, timeoutMs: this.opts.tokenTimeoutMs },
        this.now,
      );
    } catch (err) {
      const e = toPaddockError(err);
      if (e.details?.oauth_error === 'invalid_grant') this.refused.add(used);
      this.retryAt = this.now() + RETRY_AFTER_FAILURE_MS;
      this.lastError = e.message;
      this.opts.log.warn({ file: this.file, code: e.code, reason: e.message }, 'refreshing the OAuth access token failed');
      throw e;
    }
    this.lastError = undefined;
    this.retryAt = 0;
    this.lastRefreshAt = this.now();
    // A login written while the request was out wins over what it brought back; a removed file stays removed.
    const held = this.loaded;
    const now = this.load();
    if (now !== held) {
      const theirs = now.data?.claudeAiOauth;
      if (!theirs) throw new PaddockError('agent_auth_unavailable', `the credentials file ${this.file} was removed or made unreadable while its token was refreshed`);
      if (theirs.refreshToken !== used) return theirs;
    }
    const base = now.data;
    const next: ClaudeAiOauth = {
      ...(base?.claudeAiOauth ?? c),
      accessToken: t.accessToken,
      refreshToken: t.refreshToken,
      expiresAt: t.expiresAt,
      ...(t.scopes ? { scopes: t.scopes } : {}),
    };
    const data: CredentialsFile = { ...(base ?? {}), claudeAiOauth: next };
    // Held in memory first: the old refresh token may be spent, so a failed write must not lose the new one.
    this.loaded = { data, stat: this.loaded.stat };
    this.remember(next);
    try {
      await writeCredentialsFile(this.file, data);
      this.loaded = { data, stat: statOf(this.file) };
    } catch (err) {
      this.opts.log.error({ file: this.file, reason: toPaddockError(err).message }, 'saving the refreshed OAuth tokens failed; they are used from memory');
    }
    this.opts.log.info({ file: this.file, expires_at: new Date(t.expiresAt).toISOString() }, 'refreshed the OAuth access token');
    return next;
  }

  /** The login now, read again when the file changed; `agent_auth_unavailable` when there is none. */
  private current(): ClaudeAiOauth {
    let loaded: Loaded;
    try {
      loaded = this.load();
    } catch (err) {
      throw new PaddockError('agent_auth_unavailable', toPaddockError(err).message);
    }
    if (loaded.error) throw new PaddockError('agent_auth_unavailable', loaded.error);
    const c = loaded.data?.claudeAiOauth;
    if (!c || (c.accessToken === '' && !c.refreshToken)) {
      throw new PaddockError(
        'agent_auth_unavailable',
        `no model API credential: no API key is configured and ${this.file} holds no Claude login (run \`paddock agent login\`)`,
      );
    }
    return c;
  }

  private load(): Loaded {
    let st: Stats;
    try {
      st = statSync(this.file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new PaddockError('validation_failed', `cannot read credentials file ${this.file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
      if (this.loaded.stat !== null || this.loaded.error) this.loaded = { data: null, stat: null };
      return this.loaded;
    }
    const prev = this.loaded.stat;
    if (prev && prev.mtimeMs === st.mtimeMs && prev.ctimeMs === st.ctimeMs && prev.size === st.size && prev.ino === st.ino) return this.loaded;
    try {
      const read = readCredentialsFile(this.file);
      this.loaded = { data: read?.data ?? null, stat: read?.stat ?? null };
    } catch (err) {
      this.loaded = { data: null, stat: { mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, size: st.size, ino: st.ino }, error: toPaddockError(err).message };
      return this.loaded;
    }
    // A new file: a new login, whose refresh token deserves a try even if an old one was refused.
    this.refused.clear();
    this.retryAt = 0;
    this.lastError = undefined;
    const c = this.loaded.data?.claudeAiOauth;
    if (c) this.remember(c);
    return this.loaded;
  }

  private refreshable(c: ClaudeAiOauth): boolean {
    return !!c.refreshToken && !this.refused.has(c.refreshToken);
  }

  /** True when the token has less than `margin` left (or none) and a refresh token could renew it. */
  private due(c: ClaudeAiOauth, margin: number): boolean {
    if (!this.refreshable(c)) return false;
    return c.accessToken === '' || (c.expiresAt != null && c.expiresAt - this.now() <= margin);
  }

  private unavailable(c: ClaudeAiOauth, why: string | undefined): PaddockError {
    const when = c.expiresAt ? ` at ${new Date(c.expiresAt).toISOString()}` : '';
    const how = c.refreshToken ? (why ?? 'the refresh failed') : 'there is no refresh token';
    const advice = how.includes('paddock agent login') ? '' : '; run `paddock agent login`';
    return new PaddockError('agent_auth_unavailable', `the OAuth login in ${this.file} expired${when} and ${how}${advice}`);
  }

  private remember(c: ClaudeAiOauth): void {
    for (const s of [c.accessToken, c.refreshToken]) {
      if (!s || this.history.includes(s)) continue;
      this.history.push(s);
      if (this.history.length > SECRET_HISTORY) this.history.shift();
    }
  }
}

function statOf(file: string): Loaded['stat'] {
  try {
    const st = statSync(file);
    return { mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, size: st.size, ino: st.ino };
  } catch {
    return null;
  }
}
