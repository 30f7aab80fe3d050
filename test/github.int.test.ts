import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Octokit } from '@octokit/rest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RepoCache } from '../src/agents/repo-cache.js';
import { GithubConfig } from '../src/config/github.js';
import { PaddockError } from '../src/errors.js';
import { githubClient, githubClientFor, gitAuth } from '../src/github/client.js';
import { PADDOCK_COMMENT_MARKER } from '../src/github/comments.js';
import { readIssue } from '../src/github/issue.js';
import { publishSuccess, reportFailure } from '../src/github/publish.js';
import { createLogger } from '../src/util/log.js';
import { type FakeGithub, startFakeGithub } from './helpers/fake-github.js';

const log = createLogger('silent');
const REPO = 'acme/widgets';
const summary = { num_turns: 3, total_cost_usd: 0.042, subtype: 'success', duration_ms: 12_000, changed_files: ['README.md', 'NEW.md'] };

const patch1 = [
  'diff --git a/README.md b/README.md',
  '--- a/README.md',
  '+++ b/README.md',
  '@@ -1 +1,2 @@',
  ' hello',
  '+fixed',
  'diff --git a/NEW.md b/NEW.md',
  'new file mode 100644',
  '--- /dev/null',
  '+++ b/NEW.md',
  '@@ -0,0 +1 @@',
  '+new',
  '',
].join('\n');
const patch2 = patch1.replace('+fixed', '+fixed better');

async function expectCode(p: Promise<unknown>, code: string): Promise<PaddockError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PaddockError);
  expect((err as PaddockError).code).toBe(code);
  return err as PaddockError;
}

describe('GitHub against the fake, with a token', () => {
  let fake: FakeGithub;
  let base: string;
  let tmp: string;
  let cache: RepoCache;
  let config: GithubConfig;

  beforeAll(async () => {
    fake = await startFakeGithub();
    base = (await fake.addRepo(REPO, { 'README.md': 'hello\n' })).commit;
    tmp = await mkdtemp(path.join(tmpdir(), 'paddock-gh-int-'));
    cache = new RepoCache({ dir: path.join(tmp, 'repos'), maxBytes: 1e9, timeoutMs: 30_000, policy: { allowLocal: false, allowHttp: true }, log });
    config = GithubConfig.parse({ api_url: fake.apiUrl, git_url: fake.gitUrl, token: fake.token });
  });
  afterAll(async () => {
    await fake?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('reads an issue: labels, the newest comments within bounds, not Paddock’s own, the trigger comment', async () => {
    const issue = fake.addIssue(REPO, {
      title: 'Crash on empty config',
      body: 'Steps:\r\n1. empty file\u0000',
      labels: ['bug', 'paddock'],
      comments: [
        { user: 'bob', body: 'first' },
        { user: 'carol', body: 'second' },
        { user: 'paddock-user', body: `Paddock could not finish\n${PADDOCK_COMMENT_MARKER}` },
        { user: 'dave', body: 'third' },
      ],
    });
    const trigger = fake.addComment(REPO, issue.number, { user: 'erin', body: '@paddock please', author_association: 'OWNER' });
    const octokit = githubClient(config, log);
    const got = await readIssue(octokit, { owner: 'acme', repo: 'widgets', number: issue.number }, { maxComments: 2, triggerCommentId: trigger.id });
    expect(got).toMatchObject({ title: 'Crash on empty config', body: 'Steps:\n1. empty file', labels: ['bug', 'paddock'], author: 'acme', state: 'open' });
    expect(got.html_url).toBe(`${fake.gitUrl}/${REPO}/issues/${issue.number}`);
    expect(got.comments.map((c) => [c.author, c.body])).toEqual([['carol', 'second'], ['dave', 'third']]);
    expect(got.trigger).toMatchObject({ id: trigger.id, author: 'erin', body: '@paddock please' });
    expect(got.omitted_comments).toBe(2);

    // A comment id from another issue is refused.
    const other = fake.addIssue(REPO, { title: 'other' });
    await expectCode(readIssue(octokit, { owner: 'acme', repo: 'widgets', number: other.number }, { triggerCommentId: trigger.id }), 'validation_failed');
  });

  it('keeps the newest of many comments (last pages) and the byte bound', async () => {
    const issue = fake.addIssue(REPO, { title: 'long thread', body: 'b'.repeat(100_000) });
    for (let i = 0; i < 150; i++) fake.addComment(REPO, issue.number, { user: 'm', body: `comment ${i} ${'x'.repeat(500)}` });
    const got = await readIssue(githubClient(config, log), { owner: 'acme', repo: 'widgets', number: issue.number }, { maxComments: 60, maxBytes: 20_000 });
    expect(got.truncated).toBe(true);
    const bytes = Buffer.byteLength(got.title + got.body + got.comments.map((c) => c.body).join(''));
    expect(bytes).toBeLessThanOrEqual(20_000);
    expect(got.comments.at(-1)!.body).toMatch(/^comment 149 /);
    expect(got.comments.length).toBeGreaterThan(0);
    expect(got.omitted_comments).toBe(150 - got.comments.length);
    expect(fake.requests.some((r) => r.path.includes(`/issues/${issue.number}/comments?per_page=100&page=2`))).toBe(true);
  });

  it('maps 404 to issue_not_found and a bad token to github_unauthorized, without the token', async () => {
    const octokit = githubClient(config, log);
    await expectCode(readIssue(octokit, { owner: 'acme', repo: 'widgets', number: 999 }), 'issue_not_found');
    await expectCode(readIssue(octokit, { owner: 'acme', repo: 'nope', number: 1 }), 'issue_not_found');
    const pr = fake.addIssue(REPO, { title: 'x' });
    fake.repo(REPO).issues.get(pr.number)!.pull = { ...({} as never) };
    await expectCode(readIssue(octokit, { owner: 'acme', repo: 'widgets', number: pr.number }), 'validation_failed');

    const badToken = 'ghp_thisisnotavalidtokenatall000000000000';
    const bad = githubClient({ ...config, token: badToken }, log);
    const err = await expectCode(readIssue(bad, { owner: 'acme', repo: 'widgets', number: 1 }), 'github_unauthorized');
    expect(err.message).toContain('Bad credentials');
    expect(JSON.stringify({ m: err.message, d: err.details, s: err.stack })).not.toContain(badToken);
    expect(fake.requests.at(-1)).toMatchObject({ status: 401, auth: 'bad' });
  });

  it('other statuses are github_error with the status; a rate limit says when to retry', async () => {
    const octokit = githubClient(config, log);
    fake.fault({ path: /\/issues\/1$/, status: 500, body: { message: 'Server Error' } });
    const e500 = await expectCode(readIssue(octokit, { owner: 'acme', repo: 'widgets', number: 1 }), 'github_error');
    expect(e500.details).toMatchObject({ status: 500 });
    fake.fault({
      path: /\/issues\/1$/,
      status: 403,
      body: { message: 'API rate limit exceeded for installation ID 1.', documentation_url: 'https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting' },
      headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 60) },
    });
    const limited = await expectCode(readIssue(octokit, { owner: 'acme', repo: 'widgets', number: 1 }), 'github_error');
    expect(limited.details).toMatchObject({ status: 403, rate_limited: true });
  });

  it('publishes: branch pushed, pull request opened, issue commented; a second run reuses the PR', async () => {
    const issue = fake.addIssue(REPO, { title: 'Crash on empty config (ünïcode)' });
    const octokit = githubClient(config, log);
    const auth = await gitAuth(octokit);
    const common = { octokit, repoCache: cache, repoUrl: fake.repoUrl(REPO), auth, issue: { owner: 'acme', repo: 'widgets', number: issue.number, title: issue.title }, baseCommit: base, summary, pullRequest: true, comment: true, jobId: 'job_abc' };

    const first = await publishSuccess({ ...common, patch: patch1 });
    expect(first.branch).toBe(`paddock/issue-${issue.number}-crash-on-empty-config-unicode`);
    expect(await fake.branchSha(REPO, first.branch)).toBe(first.commit);
    const pulls = fake.repo(REPO).pulls;
    expect(pulls).toHaveLength(1);
    expect(pulls[0]).toMatchObject({ head: first.branch, base: 'main', head_sha: first.commit, title: issue.title, user: { login: 'paddock-user' } });
    expect(pulls[0]!.body).toMatch(new RegExp(`^Fixes #${issue.number}\\n`));
    expect(first.pull_request_url).toBe(`${fake.gitUrl}/${REPO}/pull/${pulls[0]!.number}`);
    const comments = fake.repo(REPO).issues.get(issue.number)!.comments;
    expect(comments).toHaveLength(1);
    expect(comments[0]!.body).toContain(first.pull_request_url);
    expect(comments[0]!.body).toContain('$0.0420');
    expect(comments[0]!.body).toContain(PADDOCK_COMMENT_MARKER);
    expect(first.comment_url).toContain(`#issuecomment-${comments[0]!.id}`);
    // git went through the fake's front door with the same token as the API.
    expect(fake.gitRequests.some((r) => r.path.includes('git-receive-pack') && r.auth === 'token' && r.status === 200)).toBe(true);

    const second = await publishSuccess({ ...common, patch: patch2 });
    expect(second.branch).toBe(first.branch);
    expect(second.commit).not.toBe(first.commit);
    expect(await fake.branchSha(REPO, first.branch)).toBe(second.commit);
    expect(second.pull_request_url).toBe(first.pull_request_url);
    expect(fake.repo(REPO).pulls).toHaveLength(1);
    expect(comments).toHaveLength(2);
    // The reuse was found after GitHub's 422 for the duplicate.
    const creates = fake.requests.filter((r) => r.method === 'POST' && r.path === `/repos/${REPO}/pulls`);
    expect(creates.map((r) => r.status)).toEqual([201, 422]);
  });

  it('a pull request whose head is not in the repository is github_error 422, not a reuse', async () => {
    const issue = fake.addIssue(REPO, { title: 'no head' });
    const octokit = githubClient(config, log);
    // A pusher that pushes nowhere: the PR's head branch does not exist in the fake's git repository.
    const nowhere = { pushPatch: async () => ({ commit: base }) };
    const err = await expectCode(
      publishSuccess({ octokit, repoCache: nowhere, repoUrl: fake.repoUrl(REPO), issue: { owner: 'acme', repo: 'widgets', number: issue.number, title: 'no head' }, baseCommit: base, patch: patch1, summary, pullRequest: true, comment: false }),
      'github_error',
    );
    expect(err.details).toMatchObject({ status: 422 });
  });

  it('reports a failure on the issue with the reason and the partial diff’s size', async () => {
    const issue = fake.addIssue(REPO, { title: 'too hard' });
    const octokit = githubClient(config, log);
    const { comment_url } = await reportFailure({ octokit, issue: { owner: 'acme', repo: 'widgets', number: issue.number }, reason: 'budget_exceeded', detail: 'the job used its 20 requests', diffBytes: 1234, jobId: 'job_x' });
    const c = fake.repo(REPO).issues.get(issue.number)!.comments.at(-1)!;
    expect(comment_url).toContain(`#issuecomment-${c.id}`);
    expect(c.body).toContain('budget_exceeded');
    expect(c.body).toContain('1234 bytes');
    expect(c.body).toContain('the job used its 20 requests');
    await expectCode(reportFailure({ octokit, issue: { owner: 'acme', repo: 'widgets', number: 4040 }, reason: 'x', detail: '', diffBytes: 0 }), 'issue_not_found');
  });

  it('the fake answers refs, anonymous and git requests as GitHub does', async () => {
    const octokit = githubClient(config, log);
    const { data: ref } = await octokit.rest.git.getRef({ owner: 'acme', repo: 'widgets', ref: 'heads/main' });
    expect(ref).toMatchObject({ ref: 'refs/heads/main', object: { sha: base, type: 'commit' } });
    await expect(octokit.rest.git.getRef({ owner: 'acme', repo: 'widgets', ref: 'heads/nope' })).rejects.toMatchObject({ status: 404 });
    const anonymous = new Octokit({ baseUrl: fake.apiUrl });
    await expect(anonymous.rest.repos.get({ owner: 'acme', repo: 'widgets' })).rejects.toMatchObject({ status: 404, response: { data: { message: 'Not Found' } } });
    const ls = await fetch(`${fake.repoUrl(REPO)}/info/refs?service=git-upload-pack`);
    expect(ls.status).toBe(401);
    expect(ls.headers.get('www-authenticate')).toMatch(/^Basic/);
    const authed = await fetch(`${fake.repoUrl(REPO)}/info/refs?service=git-upload-pack`, { headers: { authorization: (await gitAuth(octokit)).header.replace(/^Authorization: /, '') } });
    expect(authed.status).toBe(200);
    await authed.arrayBuffer();
  });

  it('refuses to start without credentials', () => {
    expect(() => githubClient(GithubConfig.parse({ api_url: fake.apiUrl }), log)).toThrow(/not configured/);
  });
});

describe('GitHub against the fake, as a GitHub App', () => {
  let fake: FakeGithub;
  let base: string;
  let tmp: string;
  let config: GithubConfig;

  beforeAll(async () => {
    fake = await startFakeGithub({ app: { id: 31337, installations: { 77: 'acme' } } });
    base = (await fake.addRepo(REPO, { 'README.md': 'hello\n' })).commit;
    tmp = await mkdtemp(path.join(tmpdir(), 'paddock-gh-app-'));
    config = GithubConfig.parse({ api_url: fake.apiUrl, git_url: fake.gitUrl, app_id: 31337, private_key: fake.app!.privateKey, installation_id: 77 });
  });
  afterAll(async () => {
    await fake?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('mints an installation token with the App’s JWT and uses it for the API and for git', async () => {
    const issue = fake.addIssue(REPO, { title: 'app path' });
    const octokit = githubClient(config, log);
    const got = await readIssue(octokit, { owner: 'acme', repo: 'widgets', number: issue.number });
    expect(got.title).toBe('app path');
    const mint = fake.requests.find((r) => r.path === '/app/installations/77/access_tokens');
    expect(mint).toMatchObject({ method: 'POST', auth: 'jwt', status: 201 });
    expect(fake.requests.filter((r) => r.path.startsWith('/repos/')).every((r) => r.auth === 'installation')).toBe(true);
    expect(fake.creds.minted).toHaveLength(1);

    const auth = await gitAuth(octokit);
    const token = fake.creds.minted[0]!.token;
    expect(auth.header).toBe(`Authorization: Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`);
    expect(fake.creds.minted).toHaveLength(1);

    const cache = new RepoCache({ dir: path.join(tmp, 'repos'), maxBytes: 1e9, timeoutMs: 30_000, policy: { allowLocal: false, allowHttp: true }, log });
    const out = await publishSuccess({ octokit, repoCache: cache, repoUrl: fake.repoUrl(REPO), auth, issue: { owner: 'acme', repo: 'widgets', number: issue.number, title: 'app path' }, baseCommit: base, patch: patch1, summary, pullRequest: true, comment: true });
    expect(await fake.branchSha(REPO, out.branch)).toBe(out.commit);
    expect(fake.gitRequests.some((r) => r.path.includes('git-receive-pack') && r.auth === 'installation')).toBe(true);
    expect(fake.repo(REPO).pulls[0]!.user.login).toBe('paddock-test[bot]');
  });

  it('reads the key from a file, and finds the installation per repository when none is configured', async () => {
    const keyFile = path.join(tmp, 'app.pem');
    await writeFile(keyFile, fake.app!.privateKey, { mode: 0o600 });
    const octokit = await githubClientFor({ ...config, private_key: keyFile, installation_id: 0 }, log, { owner: 'acme', repo: 'widgets' });
    expect((await readIssue(octokit, { owner: 'acme', repo: 'widgets', number: 1 })).title).toBe('app path');
    expect(fake.requests.some((r) => r.path === '/repos/acme/widgets/installation' && r.auth === 'jwt' && r.status === 200)).toBe(true);
    await expectCode(githubClientFor({ ...config, installation_id: 0 }, log, { owner: 'acme', repo: 'missing' }), 'github_not_found');
  });

  it('renews an installation token close to its expiry before git uses it', async () => {
    const short = await startFakeGithub({ app: { id: 5, installations: { 9: 'acme' }, tokenTtlMs: 5 * 60_000 } });
    try {
      const c = githubClient(GithubConfig.parse({ api_url: short.apiUrl, app_id: 5, private_key: short.app!.privateKey, installation_id: 9 }), log);
      const a = await gitAuth(c);
      const b = await gitAuth(c);
      // Each call found the cached token within the margin and minted a fresh one.
      expect(short.creds.minted.length).toBeGreaterThanOrEqual(2);
      expect(a.header).not.toBe(b.header);
    } finally {
      await short.close();
    }
  });

  it('a key that is not the App’s is github_unauthorized; a malformed key is config_invalid without its text', async () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const octokit = githubClient({ ...config, private_key: other }, log);
    await expectCode(readIssue(octokit, { owner: 'acme', repo: 'widgets', number: 1 }), 'github_unauthorized');
    await expectCode(gitAuth(octokit), 'github_unauthorized');
    const junk = '-----BEGIN RSA PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END RSA PRIVATE KEY-----';
    let thrown: unknown;
    try {
      githubClient({ ...config, private_key: junk }, log);
    } catch (err) {
      thrown = err;
    }
    expect((thrown as PaddockError).code).toBe('config_invalid');
    expect((thrown as PaddockError).message).not.toContain('c2VjcmV0');
    expect(() => githubClient({ ...config, private_key: 'relative/key.pem' }, log)).toThrow(/absolute path/);
  });
});
