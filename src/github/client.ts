import { createPrivateKey } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { createAppAuth } from '@octokit/auth-app';
import { Octokit } from '@octokit/rest';
import { basicAuth, type GitAuth } from '../agents/repo-cache.js';
import type { GithubConfig } from '../config/github.js';
import { PaddockError } from '../errors.js';
import type { Logger } from '../util/log.js';
import { VERSION } from '../version.js';
import { boundedFetch } from './bounded-fetch.js';
import { githubError } from './errors.js';

export type { Octokit };

/** An installation token this close to its expiry is replaced before git uses it (a push can take minutes). */
const TOKEN_MARGIN_MS = 10 * 60_000;

/** A PEM key is a few KB; a path that names something bigger is not one. */
const MAX_KEY_BYTES = 64 * 1024;

type Mode = { kind: 'token'; token: string } | { kind: 'app'; appId: number; privateKey: string; installationId: number };

/**
 * An Octokit on `api_url`, authenticated by the configured token or as a GitHub App installation
 * (`@octokit/auth-app` mints installation tokens and caches them). `installationId` overrides
 * `github.installation_id` (see githubClientFor). Its log is the runner's, at debug level for the
 * per-request lines; Octokit redacts the authorization header in the errors it throws.
 */
export function githubClient(config: GithubConfig, log: Logger, opts: { installationId?: number } = {}): Octokit {
  const mode = modeOf(config, opts.installationId);
  const base = {
    baseUrl: config.api_url.replace(/\/+$/, ''),
    userAgent: `paddock/${VERSION}`,
    log: octokitLog(log),
    request: { fetch: boundedFetch() },
  };
  if (mode.kind === 'token') return new Octokit({ ...base, auth: mode.token });
  return new Octokit({
    ...base,
    authStrategy: createAppAuth,
    auth: { appId: mode.appId, privateKey: mode.privateKey, installationId: mode.installationId },
  });
}

/**
 * githubClient for one repository: with App auth and no `github.installation_id`, the App's
 * installation on that repository is looked up first (`GET /repos/{owner}/{repo}/installation`).
 */
export async function githubClientFor(config: GithubConfig, log: Logger, repo: { owner: string; repo: string }): Promise<Octokit> {
  if (!isApp(config) || config.installation_id > 0) return githubClient(config, log);
  const app = new Octokit({
    baseUrl: config.api_url.replace(/\/+$/, ''),
    userAgent: `paddock/${VERSION}`,
    log: octokitLog(log),
    request: { fetch: boundedFetch() },
    authStrategy: createAppAuth,
    auth: { appId: config.app_id, privateKey: privateKeyOf(config.private_key) },
  });
  try {
    const { data } = await app.rest.apps.getRepoInstallation({ owner: repo.owner, repo: repo.repo });
    return githubClient(config, log, { installationId: data.id });
  } catch (err) {
    const e = githubError(err, `finding the GitHub App's installation on ${repo.owner}/${repo.repo}`);
    if (e.code === 'github_not_found') {
      throw new PaddockError('github_not_found', `the GitHub App ${config.app_id} is not installed on ${repo.owner}/${repo.repo}`, e.details);
    }
    throw e;
  }
}

/**
 * Credentials for git over HTTPS as GitHub takes them: `x-access-token` and the token (a PAT,
 * or the App installation's token, the same one the API uses, renewed when near its expiry).
 */
export async function gitAuth(octokit: Octokit): Promise<GitAuth> {
  type TokenAuth = { token: string; expiresAt?: string };
  try {
    // The token strategy ignores the options and returns the token; auth-app returns its cached installation token.
    let auth = (await octokit.auth({ type: 'installation' })) as TokenAuth;
    if (auth.expiresAt && Date.parse(auth.expiresAt) - Date.now() < TOKEN_MARGIN_MS) {
      auth = (await octokit.auth({ type: 'installation', refresh: true })) as TokenAuth;
    }
    return basicAuth('x-access-token', auth.token);
  } catch (err) {
    throw githubError(err, 'getting a token for git');
  }
}

function isApp(config: GithubConfig): boolean {
  return config.app_id > 0 && config.private_key !== '';
}

function modeOf(config: GithubConfig, installationId: number | undefined): Mode {
  if (isApp(config)) {
    const id = installationId ?? config.installation_id;
    if (!(id > 0)) {
      throw new PaddockError('config_invalid', 'github.installation_id is needed with github.app_id (or look it up per repository)', {
        key: 'github.installation_id',
      });
    }
    return { kind: 'app', appId: config.app_id, privateKey: privateKeyOf(config.private_key), installationId: id };
  }
  if (config.token) return { kind: 'token', token: config.token };
  throw new PaddockError(
    'config_invalid',
    'GitHub is not configured: set github.token (or GITHUB_TOKEN), or github.app_id, github.private_key and github.installation_id',
    { key: 'github.token' },
  );
}

/** `private_key` is the PEM text (newlines may come escaped as `\n` from an env file) or a path to it. */
export function privateKeyOf(value: string): string {
  let pem = value.trim();
  if (!pem.startsWith('-----BEGIN')) {
    const bad = (why: string) => new PaddockError('config_invalid', `github.private_key: ${why}`, { key: 'github.private_key' });
    if (!pem.startsWith('/')) throw bad('must be PEM text or an absolute path to a PEM file');
    try {
      if (statSync(pem).size > MAX_KEY_BYTES) throw bad(`${pem} is larger than a private key`);
      pem = readFileSync(pem, 'utf8').trim();
    } catch (err) {
      if (err instanceof PaddockError) throw err;
      throw bad(`cannot read ${pem}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  }
  pem = pem.replace(/\\n/g, '\n');
  try {
    createPrivateKey(pem);
  } catch {
    // Not the key's text in the message: it is a secret even when malformed.
    throw new PaddockError('config_invalid', 'github.private_key is not a PEM private key', { key: 'github.private_key' });
  }
  return pem;
}

function octokitLog(log: Logger) {
  const l = log.child({ component: 'github' });
  return {
    debug: (msg: string) => l.debug(msg),
    // @octokit/plugin-request-log logs every request at info: detail, not news.
    info: (msg: string) => l.debug(msg),
    warn: (msg: string) => l.warn(msg),
    error: (msg: string) => l.debug(msg),
  };
}
