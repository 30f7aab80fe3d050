import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentImageMissing, bash, IMAGES_DIR, MODEL_KEY } from './helpers/agent-env.js';
import { dockerMissing } from './helpers/docker.js';
import { startFakeAnthropic, type FakeAnthropic } from './helpers/fake-anthropic.js';
import { deliverWebhook, type FakeGithub, startFakeGithub } from './helpers/fake-github.js';
import { issueCommentCreated, issueLabeled } from './helpers/github-webhooks.js';
import { startTestRunner, type TestRunner } from './helpers/runner.js';
import { readEvents, type SseEvent } from './helpers/sse.js';

// The whole path the issue asks for: a delivery from (fake) GitHub starts an agent job; the real
// Claude Code CLI in a gVisor sandbox, against the scripted model server through the model proxy,
// edits the repository; Paddock pushes a branch, opens the pull request and comments on the issue.
const missing = agentImageMissing() ?? (await dockerMissing());
const CI = process.env.CI === 'true';
const SECRET = 'webhook-secret-e2e';
const REPO = 'acme/widgets';
const git = promisify(execFile);

interface Setup {
  github: FakeGithub;
  model: FakeAnthropic;
  runner: TestRunner;
}

async function setup(auth: 'token' | 'app'): Promise<Setup> {
  const github = await startFakeGithub(auth === 'app' ? { app: { id: 4242, installations: { 91: 'acme' } } } : {});
  await github.addRepo(REPO, { 'README.md': '# widgets\n', 'src/greet.sh': 'echo hello\n' });
  const model = await startFakeAnthropic();
  const credentials =
    auth === 'app' ? { app_id: 4242, private_key: github.app!.privateKey, installation_id: 91 } : { token: github.token };
  const runner = await startTestRunner({
    images_dir: IMAGES_DIR,
    drivers: ['gvisor'],
    docker: { uid_range_start: 280_000, uid_range_size: 20 },
    pool: { size: 0 },
    github: { webhook_secret: SECRET, api_url: github.apiUrl, git_url: github.gitUrl, ...credentials },
    agents: { model_api: { base_url: model.url, api_key: MODEL_KEY }, repos: { allow_http: true }, idle_timeout_ms: 60_000 },
  });
  return { github, model, runner };
}

/** The job a delivery started (it is submitted just after the 202). */
async function startedJob(s: Setup, delivery: string): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const row = await s.runner.rt.store.getGithubDelivery(delivery);
    if (row?.job_id) return row.job_id;
    if (Date.now() > deadline) throw new Error(`delivery ${delivery} started no job`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Follows the job's SSE stream until the runner closes it at the job's end, noting when each event arrived. */
async function follow(s: Setup, id: string): Promise<Array<SseEvent & { at: number }>> {
  const seen: Array<SseEvent & { at: number }> = [];
  const read = await readEvents(s.runner, id, {
    timeoutMs: 240_000,
    until: (e) => {
      seen.push({ ...e, at: Date.now() });
      return false;
    },
  });
  expect(read.status).toBe(200);
  expect(read.ended).toBe(true);
  return seen;
}

async function fileOnBranch(s: Setup, branch: string, file: string): Promise<string> {
  const { stdout } = await git('git', ['--git-dir', s.github.repo(REPO).dir, 'show', `${branch}:${file}`]);
  return stdout;
}

/** Every secret the runner holds for this test, and where it must not appear. */
function expectNoSecrets(s: Setup, texts: string[]): void {
  const secrets = [MODEL_KEY, SECRET, s.github.token, ...s.github.creds.minted.map((m) => m.token)].filter(Boolean);
  for (const text of texts) for (const secret of secrets) expect(text).not.toContain(secret);
}

describe.each([{ auth: 'token' as const }, { auth: 'app' as const }])('GitHub issue → pull request (gVisor, $auth auth)', ({ auth }) => {
  let s: Setup;
  beforeAll(async () => {
    if (missing) throw new Error(missing);
    s = await setup(auth);
  });
  if (missing && !CI) return void it.skip(`needs: ${missing}`);
  afterAll(async () => {
    await s?.runner.close();
    await s?.model.close();
    await s?.github.close();
  });

  it('a labelled issue becomes a PR made by the real CLI, with live events, cost, and a comment on the issue', async () => {
    const issue = s.github.addIssue(REPO, {
      title: 'Greet the world',
      body: 'src/greet.sh should print "hello world", not just "hello".',
      labels: ['paddock'],
    });
    s.model.setScript([bash(`printf 'echo hello world\\n' > src/greet.sh`), { text: 'greet.sh now prints hello world.' }]);
    const res = await deliverWebhook(`${s.runner.url}/v1/github/webhook`, SECRET, 'issues', issueLabeled({ repo: REPO, number: issue.number, label: 'paddock' }));
    expect(res.status).toBe(202);
    expect(res.body.status).toBe('accepted');
    const id = await startedJob(s, res.delivery);
    const events = await follow(s, id);

    const job = (await s.runner.api('GET', `/v1/jobs/${id}`)).body;
    expect(job.state, JSON.stringify(job)).toBe('succeeded');
    expect(job.driver).toBe('gvisor');
    // Live: the tool call was on the stream before the job ended, then the result, then the publish.
    const types = events.map((e) => e.event);
    for (const t of ['agent.init', 'agent.tool_use', 'agent.tool_result', 'agent.text', 'agent.usage', 'agent.result', 'agent.published']) {
      expect(types).toContain(t);
    }
    expect(types.indexOf('agent.tool_use')).toBeLessThan(types.indexOf('agent.result'));
    expect(types.indexOf('agent.result')).toBeLessThan(types.indexOf('agent.published'));

    // The prompt was built from the issue; the model saw the runner's key, the CLI never did.
    const posts = s.model.requests.filter((r) => r.method === 'POST');
    expect(JSON.stringify(posts[0]!.body)).toContain('src/greet.sh should print');
    for (const r of posts) expect(r.headers['x-api-key']).toBe(MODEL_KEY);

    // Cost recorded by the proxy.
    expect(job.result).toMatchObject({ subtype: 'success', num_turns: 2, is_error: false });
    expect(job.result.usage.requests).toBe(2);
    expect(job.result.total_cost_usd).toBeGreaterThan(0);

    // The pull request: on a paddock/issue-N-… branch holding the CLI's edit, referencing the issue.
    const pulls = s.github.repo(REPO).pulls;
    expect(pulls).toHaveLength(1);
    const pr = pulls[0]!;
    expect(pr.head).toMatch(new RegExp(`^paddock/issue-${issue.number}-greet-the-world`));
    expect(pr.base).toBe('main');
    expect(pr.body).toContain(`Fixes #${issue.number}`);
    expect(await fileOnBranch(s, pr.head, 'src/greet.sh')).toBe('echo hello world\n');
    expect(job.result).toMatchObject({ branch: pr.head, pull_request_url: expect.stringContaining(`/pull/${pr.number}`) });
    if (auth === 'app') {
      expect(pr.user.login).toMatch(/\[bot\]$/);
      expect(s.github.gitRequests.some((r) => r.path.includes('git-receive-pack') && r.auth === 'installation')).toBe(true);
    }

    // The issue heard about it: turns, cost and the PR's link.
    const comments = s.github.repo(REPO).issues.get(issue.number)!.comments;
    expect(comments).toHaveLength(1);
    expect(comments[0]!.body).toContain(`/pull/${pr.number}`);
    expect(comments[0]!.body).toMatch(/\| 2 \| \$\d+\.\d+ \|/);

    expectNoSecrets(s, [JSON.stringify(job), JSON.stringify(events), pr.body ?? '', ...comments.map((c) => c.body)]);
  }, 300_000);

  it('a comment mentioning @paddock starts a job whose prompt carries that comment', async () => {
    const issue = s.github.addIssue(REPO, { title: 'Add a license file', body: 'We need one.' });
    const asked = s.github.addComment(REPO, issue.number, { user: 'maintainer', body: '@paddock please add LICENSE with the word MIT in it', author_association: 'OWNER' });
    s.model.setScript([bash('echo MIT > LICENSE'), { text: 'Added LICENSE.' }]);
    const before = s.model.requests.length;
    const payload = issueCommentCreated({ repo: REPO, number: issue.number, body: asked.body, commentId: asked.id, association: 'OWNER', user: { login: 'maintainer' } });
    const res = await deliverWebhook(`${s.runner.url}/v1/github/webhook`, SECRET, 'issue_comment', payload);
    expect(res.body.status).toBe('accepted');
    const id = await startedJob(s, res.delivery);
    await follow(s, id);
    const job = (await s.runner.api('GET', `/v1/jobs/${id}`)).body;
    expect(job.state, JSON.stringify(job)).toBe('succeeded');

    const first = s.model.requests.slice(before).find((r) => r.method === 'POST')!;
    const prompt = JSON.stringify(first.body);
    expect(prompt).toContain('The comment by @maintainer that asked for this work');
    expect(prompt).toContain('please add LICENSE with the word MIT');
    const pr = s.github.repo(REPO).pulls.find((p) => p.head.startsWith(`paddock/issue-${issue.number}-`))!;
    expect(await fileOnBranch(s, pr.head, 'LICENSE')).toBe('MIT\n');
  }, 300_000);

  it('a job that fails says why on the issue, and opens no pull request', async () => {
    const issue = s.github.addIssue(REPO, { title: 'Doomed', body: 'the model is down', labels: ['paddock'] });
    const error = { error: { status: 500, type: 'api_error', message: 'Internal server error' } };
    s.model.setScript([error, error, error]);
    const pullsBefore = s.github.repo(REPO).pulls.length;
    const res = await deliverWebhook(`${s.runner.url}/v1/github/webhook`, SECRET, 'issues', issueLabeled({ repo: REPO, number: issue.number, label: 'paddock' }));
    const id = await startedJob(s, res.delivery);
    await follow(s, id);
    const job = (await s.runner.api('GET', `/v1/jobs/${id}`)).body;
    expect(job.state).toBe('failed');
    expect(job.reason).toBe('model_error');
    expect(s.github.repo(REPO).pulls).toHaveLength(pullsBefore);
    // The comment is posted after the job's end is recorded: give it a moment.
    const deadline = Date.now() + 10_000;
    let comments = s.github.repo(REPO).issues.get(issue.number)!.comments;
    while (comments.length === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      comments = s.github.repo(REPO).issues.get(issue.number)!.comments;
    }
    expect(comments).toHaveLength(1);
    expect(comments[0]!.body).toContain('model_error');
    expectNoSecrets(s, [JSON.stringify(job), comments[0]!.body]);
  }, 300_000);

  it('a push GitHub rejects: github_error (repo_push_rejected), the diff kept, the issue told why', async () => {
    const issue = s.github.addIssue(REPO, { title: 'Protected', body: 'touch a file' });
    const hook = path.join(s.github.repo(REPO).dir, 'hooks', 'pre-receive');
    await mkdir(path.dirname(hook), { recursive: true });
    await writeFile(hook, '#!/bin/sh\necho "branch creation is not allowed" >&2\nexit 1\n', { mode: 0o755 });
    try {
      s.model.setScript([bash('echo kept > kept.txt'), { text: 'Wrote kept.txt.' }]);
      const res = await s.runner.api('POST', '/v1/jobs?wait=true&wait_ms=120000', {
        kind: 'agent',
        github_issue: `${REPO}#${issue.number}`,
        output: { diff: true, pull_request: true, issue_comment: true },
      });
      const job = res.body;
      expect(job.state, JSON.stringify(job)).toBe('failed');
      expect(job.reason).toBe('github_error');
      expect(job.error).toMatchObject({ code: 'repo_push_rejected', message: expect.stringMatching(/pre-receive hook declined/) });
      const diff = await fetch(`${s.runner.url}/v1/jobs/${job.id}/artifacts/diff.patch`, { headers: { authorization: `Bearer ${s.runner.token}` } });
      expect(await diff.text()).toContain('+++ b/kept.txt');
      const comments = s.github.repo(REPO).issues.get(issue.number)!.comments;
      expect(comments).toHaveLength(1);
      expect(comments[0]!.body).toContain('github_error');
      expectNoSecrets(s, [JSON.stringify(job), comments[0]!.body]);
    } finally {
      await rm(hook, { force: true });
    }
  }, 300_000);

  it('an issue that does not exist: github_error (issue_not_found), before any sandbox', async () => {
    const res = await s.runner.api('POST', '/v1/jobs?wait=true&wait_ms=60000', { kind: 'agent', github_issue: `${REPO}#9999` });
    const job = res.body;
    expect(job.state, JSON.stringify(job)).toBe('failed');
    expect(job.reason).toBe('github_error');
    expect(job.error.code).toBe('issue_not_found');
    const phases = (await readEvents(s.runner, job.id, { query: '?follow=false' })).events.map((e) => e.data?.phase).filter(Boolean);
    expect(phases).toEqual(['issue']);
  }, 60_000);
});
