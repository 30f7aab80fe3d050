import { PaddockError } from '../errors.js';
import type { IssueRef } from '../agents/grammar.js';

/** GitHub's token formats (classic, fine-grained, App installation/user, OAuth): never repeated in a message. */
const TOKEN_RE = /\b(?:gh[pousr]_[A-Za-z0-9_]{16,}|github_pat_[A-Za-z0-9_]{16,})\b/g;

/** GitHub's own message, cut short and stripped of anything token-shaped or unprintable. */
export function githubMessage(text: unknown): string {
  if (typeof text !== 'string') return '';
  return text.replace(TOKEN_RE, '[REDACTED]').replace(/[^\x20-\x7e]/g, ' ').slice(0, 300);
}

interface HttpFailure {
  status: number;
  response?: { data?: unknown; headers?: Record<string, string | number | undefined> };
}

function isHttpFailure(err: unknown): err is HttpFailure {
  return typeof err === 'object' && err !== null && typeof (err as { status?: unknown }).status === 'number';
}

/**
 * Maps what Octokit throws onto Paddock's codes: 401 `github_unauthorized`, 404 `github_not_found`
 * (`issue_not_found` when `issue` says an issue was asked for), anything else `github_error` with
 * GitHub's status. `doing` names the step ("reading the issue o/r#1"). The message never holds
 * the request (whose headers carry the token), only GitHub's own short message.
 */
export function githubError(err: unknown, doing: string, opts: { issue?: IssueRef } = {}): PaddockError {
  if (err instanceof PaddockError) return err;
  if (!isHttpFailure(err)) {
    return new PaddockError('github_error', `GitHub failed while ${doing}: ${githubMessage((err as Error)?.message)}`, {
      status: null,
    });
  }
  // @octokit/request reports a failed fetch (refused, reset, timeout) as a 500 without a response.
  if (err.response === undefined) {
    return new PaddockError('github_error', `GitHub could not be reached while ${doing}: ${githubMessage((err as unknown as Error).message)}`, {
      status: null,
    });
  }
  const data = err.response.data as { message?: unknown } | undefined;
  const said = githubMessage(typeof data === 'object' && data !== null ? data.message : undefined);
  const { status } = err;
  if (status === 401) {
    return new PaddockError('github_unauthorized', `GitHub refused the configured credentials while ${doing} (401 ${said})`, { status });
  }
  if (status === 404) {
    if (opts.issue) {
      const { owner, repo, number } = opts.issue;
      return new PaddockError('issue_not_found', `issue ${owner}/${repo}#${number} was not found (or the credentials cannot see it)`, {
        status,
        issue: `${owner}/${repo}#${number}`,
      });
    }
    return new PaddockError('github_not_found', `GitHub answered 404 while ${doing} (${said || 'Not Found'})`, { status });
  }
  const headers = err.response.headers ?? {};
  const retryAfter = retryAfterS(headers);
  return new PaddockError('github_error', `GitHub answered ${status} while ${doing}${said ? `: ${said}` : ''}`, {
    status,
    ...(retryAfter !== undefined ? { retry_after_s: retryAfter, rate_limited: true } : {}),
  });
}

/** Rate limits: `retry-after` (secondary) or `x-ratelimit-remaining: 0` with `x-ratelimit-reset` (primary). */
function retryAfterS(headers: Record<string, string | number | undefined>): number | undefined {
  const after = Number(headers['retry-after']);
  if (Number.isFinite(after) && after > 0) return after;
  if (String(headers['x-ratelimit-remaining']) !== '0') return undefined;
  const reset = Number(headers['x-ratelimit-reset']);
  return Number.isFinite(reset) ? Math.max(1, Math.ceil(reset - Date.now() / 1000)) : 60;
}
