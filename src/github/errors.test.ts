import { RequestError } from '@octokit/request-error';
import { describe, expect, it } from 'vitest';
import { PaddockError } from '../errors.js';
import { githubError } from './errors.js';

const token = 'ghp_abcdefghijklmnopqrstuvwxyz0123456789';

function failure(status: number, data: unknown, headers: Record<string, string> = {}): RequestError {
  return new RequestError(`HttpError: ${JSON.stringify(data)}`, status, {
    request: { method: 'GET', url: 'https://api.github.com/repos/a/b', headers: { authorization: `token ${token}` } },
    response: { status, url: 'https://api.github.com/repos/a/b', headers, data },
  });
}

describe('githubError', () => {
  it('maps 401, 404 and the rest onto stable codes, never with the token', () => {
    const cases: Array<[RequestError, string, { issue?: { owner: string; repo: string; number: number } }?]> = [
      [failure(401, { message: 'Bad credentials' }), 'github_unauthorized'],
      [failure(404, { message: 'Not Found' }), 'github_not_found'],
      [failure(404, { message: 'Not Found' }), 'issue_not_found', { issue: { owner: 'a', repo: 'b', number: 3 } }],
      [failure(422, { message: 'Validation Failed' }), 'github_error'],
      [failure(500, { message: `oops ${token}` }), 'github_error'],
    ];
    for (const [err, code, opts] of cases) {
      const e = githubError(err, 'doing it', opts);
      expect(e).toBeInstanceOf(PaddockError);
      expect(e.code).toBe(code);
      expect(e.details?.status).toBe(err.status);
      expect(JSON.stringify({ m: e.message, d: e.details })).not.toContain(token);
    }
    expect(githubError(cases[2]![0], 'x', cases[2]![2]).message).toContain('a/b#3');
  });

  it('tells a rate limit by its headers', () => {
    const reset = String(Math.floor(Date.now() / 1000) + 120);
    const e = githubError(failure(403, { message: 'API rate limit exceeded' }, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': reset }), 'x');
    expect(e.code).toBe('github_error');
    expect(e.details).toMatchObject({ status: 403, rate_limited: true });
    expect(e.retryAfterS).toBeGreaterThan(100);
    expect(githubError(failure(403, { message: 'Forbidden' }), 'x').details?.rate_limited).toBeUndefined();
  });

  it('a failed fetch (no response) is github_error without a status', () => {
    const err = new RequestError('connect ECONNREFUSED 127.0.0.1:9', 500, { request: { method: 'GET', url: 'http://127.0.0.1:9/x', headers: {} } });
    const e = githubError(err, 'reading');
    expect(e.code).toBe('github_error');
    expect(e.details?.status).toBeNull();
    expect(e.message).toContain('could not be reached');
  });
});
